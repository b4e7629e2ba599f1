/**
 * The entry point the Raft driver applies committed entries through: one
 * command in, one result out.
 *
 * @module
 */
import type { KvCommand } from './kv-command.ts';
import type { MvccStore } from './mvcc-store.ts';
import type {
  CompactionResponse,
  DeleteRangeResponse,
  Event,
  LeaseCheckpointResponse,
  LeaseGrantResponse,
  LeaseRevokeResponse,
  PutResponse,
  RangeResponse,
  TxnResponse,
} from './types.ts';

/**
 * What applying a command gave: its response, and the events it produced
 * in revision order (empty for commands that change no key), each with its
 * `prevKv` when the key existed before; a watch hub drops `prevKv` for
 * watchers that did not ask for it.
 */
export type KvResult = { readonly events: readonly Event[] } & (
  | { readonly type: 'range'; readonly response: RangeResponse }
  | { readonly type: 'put'; readonly response: PutResponse }
  | { readonly type: 'deleteRange'; readonly response: DeleteRangeResponse }
  | { readonly type: 'txn'; readonly response: TxnResponse }
  | { readonly type: 'compact'; readonly response: CompactionResponse }
  | { readonly type: 'leaseGrant'; readonly response: LeaseGrantResponse }
  | { readonly type: 'leaseRevoke'; readonly response: LeaseRevokeResponse }
  | { readonly type: 'leaseCheckpoint'; readonly response: LeaseCheckpointResponse }
);

const NO_EVENTS: readonly Event[] = Object.freeze([]);

/**
 * Applies one command to the store.
 *
 * A command that throws changed nothing, and throws the same on every
 * member (the outcome depends only on the store's state and limits): the
 * driver answers the proposer with the error and goes on to the next entry.
 * Compaction started by a `compact` command is finished by the driver
 * calling `store.compactStep` between entries.
 *
 * @throws {InvalidArgumentError} {CompactedError} {LimitExceededError}
 * {TooLargeError} as the store's method for the command does.
 * @example
 * ```ts
 * const store = new MvccStore();
 * const result = applyCommand(store, decodeCommand(entry.data));
 * if (result.type === 'put') reply(result.response);
 * hub.notify(result.events, store.revision); // a WatchHub
 * ```
 */
export function applyCommand(store: MvccStore, command: KvCommand): KvResult {
  switch (command.type) {
    case 'range':
      return { type: 'range', response: store.range(command.request), events: NO_EVENTS };
    case 'put':
      return { type: 'put', ...store.put(command.request) };
    case 'deleteRange':
      return { type: 'deleteRange', ...store.deleteRange(command.request) };
    case 'txn':
      return { type: 'txn', ...store.txn(command.request) };
    case 'compact':
      return { type: 'compact', response: store.compact(command.request), events: NO_EVENTS };
    case 'leaseGrant':
      return { type: 'leaseGrant', response: store.leaseGrant(command.request), events: NO_EVENTS };
    case 'leaseRevoke':
      return { type: 'leaseRevoke', ...store.leaseRevoke(command.request) };
    case 'leaseCheckpoint':
      return { type: 'leaseCheckpoint', response: store.leaseCheckpoint(command.request), events: NO_EVENTS };
  }
}
