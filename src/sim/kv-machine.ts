/**
 * The simulator's client commands (get, put, delete, compare-and-set, the
 * lease calls, ranges and multi-key transactions), their encoding in log entries, and the plain commands'
 * semantics over plain cells (the MVCC store runs them all:
 * `mvcc-machine.ts`).
 *
 * @module
 */
import type { KvLeaseInput, KvLeaseOutput } from './kv-lease-model.ts';
import type { KvInput, KvOutput } from './kv-model.ts';
import type { RangeTxnInput, RangeTxnOutput } from './kv-range-txn.ts';

/**
 * A client command (or a lessor's expiry revoke): the calls the per-key
 * checker's model specifies, and the multi-key calls the revision checker
 * checks.
 */
export type KvCommand = KvLeaseInput | RangeTxnInput;
/** What a command answers. */
export type KvCommandOutput = KvLeaseOutput | RangeTxnOutput;
export type { KvOutput };

/**
 * Remaining TTLs a leader's lessor checkpoints (a `leaseCheckpoint`); no
 * client calls it, so the checker never sees it.
 */
export interface LeaseCheckpointCommand {
  readonly op: 'checkpoint';
  readonly checkpoints: readonly { readonly id: number; readonly remainingTtl: number }[];
}

/**
 * Keep-alives of several calls in one entry, as a Tessera leader proposes
 * the renewals its lessor took in one turn (`leaseKeepAlives`); each call
 * is answered as if alone.
 */
export interface KeepAlivesCommand {
  readonly op: 'keepAlives';
  readonly calls: readonly {
    readonly clientId: number;
    readonly requestId: number;
    readonly lease: number;
  }[];
}

/** Client 0 is the members themselves: their lessors' expiry revokes and checkpoints. */
export const LESSOR_CLIENT_ID = 0;

/** A command with the identity of the call that issued it. */
export interface KvRequest {
  clientId: number;
  requestId: number;
  command: KvCommand | LeaseCheckpointCommand | KeepAlivesCommand;
}

/** The result of applying one entry: which call it answers, and how. */
export interface KvApplied {
  clientId: number;
  requestId: number;
  output: KvCommandOutput;
  /** A {@link KeepAlivesCommand}'s answers, one per call, in order (its own identity answers nobody). */
  batch?: readonly KvApplied[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeRequest(request: KvRequest): Uint8Array {
  return encoder.encode(JSON.stringify(request));
}

export function decodeRequest(data: Uint8Array): KvRequest {
  return JSON.parse(decoder.decode(data)) as KvRequest;
}

/** Where a KV command reads and writes: a `Map`, or a transaction on disk. */
export interface KvCells {
  get(key: string): string | undefined;
  set(key: string, value: string): unknown;
  delete(key: string): unknown;
}

/**
 * The KV commands' semantics over any {@link KvCells}: what the server's
 * LMDB state runs, and the same semantics the simulator's `MvccMachine`
 * gives them on the MVCC store.
 */
export function executeKvCommand(cells: KvCells, command: KvInput): KvOutput {
  switch (command.op) {
    case 'get':
      return { value: cells.get(command.key) };
    case 'put':
      cells.set(command.key, command.value);
      return {};
    case 'delete':
      cells.delete(command.key);
      return {};
    case 'cas': {
      if (cells.get(command.key) !== command.expected) return { ok: false };
      cells.set(command.key, command.value);
      return { ok: true };
    }
  }
}
