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
  LeaseKeepAliveResponse,
  LeaseKeepAlivesResponse,
  LeaseRevokeResponse,
  PutResponse,
  RangeResponse,
  TxnResponse,
} from './types.ts';

/**
 * A change to the lease set a command made, in log order: what every
 * member's lessor mirrors (`lease-driver.ts`).
 */
export type LeaseChange =
  | { readonly type: 'granted'; readonly id: number; readonly ttl: number }
  | { readonly type: 'revoked'; readonly id: number }
  | { readonly type: 'checkpointed'; readonly id: number; readonly remainingTtl: number };

/**
 * What applying a command gave: its response, the events it produced in
 * revision order (empty for commands that change no key), each with its
 * `prevKv` when the key existed before (a watch hub drops `prevKv` for
 * watchers that did not ask for it), and the lease changes it made.
 */
export type KvResult = { readonly events: readonly Event[]; readonly leases: readonly LeaseChange[] } & (
  | { readonly type: 'range'; readonly response: RangeResponse }
  | { readonly type: 'put'; readonly response: PutResponse }
  | { readonly type: 'deleteRange'; readonly response: DeleteRangeResponse }
  | { readonly type: 'txn'; readonly response: TxnResponse }
  | { readonly type: 'compact'; readonly response: CompactionResponse }
  | { readonly type: 'leaseGrant'; readonly response: LeaseGrantResponse }
  | { readonly type: 'leaseRevoke'; readonly response: LeaseRevokeResponse }
  | { readonly type: 'leaseKeepAlive'; readonly response: LeaseKeepAliveResponse }
  | { readonly type: 'leaseKeepAlives'; readonly response: LeaseKeepAlivesResponse }
  | { readonly type: 'leaseCheckpoint'; readonly response: LeaseCheckpointResponse }
);

const NONE: readonly never[] = Object.freeze([]);

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
      return { type: 'range', response: store.range(command.request), events: NONE, leases: NONE };
    case 'put':
      return { type: 'put', ...store.put(command.request), leases: NONE };
    case 'deleteRange':
      return { type: 'deleteRange', ...store.deleteRange(command.request), leases: NONE };
    case 'txn':
      return { type: 'txn', ...store.txn(command.request), leases: NONE };
    case 'compact':
      return { type: 'compact', response: store.compact(command.request), events: NONE, leases: NONE };
    case 'leaseGrant': {
      const response = store.leaseGrant(command.request);
      return {
        type: 'leaseGrant',
        response,
        events: NONE,
        leases: [{ type: 'granted', id: response.id, ttl: response.ttl }],
      };
    }
    case 'leaseRevoke': {
      const { id } = command.request;
      return {
        type: 'leaseRevoke',
        ...store.leaseRevoke(command.request),
        leases: [{ type: 'revoked', id }],
      };
    }
    case 'leaseKeepAlive': {
      const response = store.leaseKeepAlive(command.request);
      const leases: LeaseChange[] = [{ type: 'checkpointed', id: response.id, remainingTtl: response.ttl }];
      return { type: 'leaseKeepAlive', response, events: NONE, leases };
    }
    case 'leaseKeepAlives': {
      const response = store.leaseKeepAlives(command.request);
      const leases: LeaseChange[] = [];
      command.request.ids.forEach((id, i) => {
        const ttl = response.ttls[i] ?? -1;
        if (ttl >= 0) leases.push({ type: 'checkpointed', id, remainingTtl: ttl });
      });
      return { type: 'leaseKeepAlives', response, events: NONE, leases };
    }
    case 'leaseCheckpoint': {
      const response = store.leaseCheckpoint(command.request);
      // A lease that no longer exists is skipped, by the store and the lessors alike.
      const leases: LeaseChange[] = command.request.checkpoints
        .filter(({ id }) => store.hasLease(id))
        .map(({ id, remainingTtl }) => ({ type: 'checkpointed', id, remainingTtl }));
      return { type: 'leaseCheckpoint', response, events: NONE, leases };
    }
  }
}
