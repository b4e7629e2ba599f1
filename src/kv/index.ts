/**
 * The KV state machine: an MVCC key-value store with etcd v3 semantics
 * (revisions, ranges at past revisions, transactions, compaction in bounded
 * steps, lease bookkeeping), the commands the Raft driver applies to it,
 * its snapshot image, and the leader's lease timer (the lessor). Pure: no
 * IO, no clock (time is passed in), no randomness.
 *
 * @module
 */

export { DeadlineQueue } from './deadline-queue.ts';
export { compareBytes, prefixEnd, RANGE_END_ALL } from './key-span.ts';
export { COMMAND_BYTES_MAX, decodeCommand, encodeCommand, type KvCommand } from './kv-command.ts';
export { applyCommand, type KvResult } from './kv-machine.ts';
export { Lessor } from './lessor.ts';
export type { LessorCheckpoint, LessorGrant } from './lessor-types.ts';
export * from './limits.ts';
export { MvccStore, type MvccStoreRestore } from './mvcc-store.ts';
export { SNAPSHOT_FORMAT_VERSION, SNAPSHOT_LEASES_PER_RECORD, SNAPSHOT_MAGIC } from './snapshot-writer.ts';
export type * from './types.ts';
export { WatchHub } from './watch-hub.ts';
