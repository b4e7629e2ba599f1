/**
 * The state of an MVCC store, shared by the modules that read and change
 * it. Only `MvccStore` and the modules it calls hold one.
 *
 * @module
 */
import sortedBtree from 'sorted-btree';
import { CompactedError, InvalidArgumentError } from '../base/errors.ts';
import type { HistoryNode, KeyRecord } from './key-history.ts';
import { LeaseTable } from './lease-table.ts';
import type { MvccStoreLimits } from './limits.ts';

// sorted-btree is CommonJS with `exports.default`; from ESM its default
// import is the whole `module.exports`.
/** sorted-btree's B+ tree class. */
export const BTree = sortedBtree.default;
/** sorted-btree's B+ tree. */
export type BTree<K, V> = InstanceType<typeof sortedBtree.default<K, V>>;

/**
 * The key index: each key's history by the key's index form (`keyIdOf`),
 * in byte order of the keys. A copy-on-write B+ tree (sorted-btree): ordered
 * range scans in O(log n + k), and `clone()` in O(1) for snapshots. A
 * hand-written tree would buy nothing here.
 */
export type KeyIndex = BTree<string, HistoryNode>;

/**
 * The revision log: every kept version by `{modRevision, sub}`, as etcd's
 * backend keys them. The index answers reads; this answers "what changed
 * after revision r", which watches will need, and lets the invariants check
 * the index against a second account of the same history.
 */
export type RevisionLog = BTree<KeyRecord, undefined>;

/** The whole state. */
export interface StoreState {
  readonly limits: MvccStoreLimits;
  readonly index: KeyIndex;
  readonly log: RevisionLog;
  readonly leases: LeaseTable;
  /**
   * The current revision: bumped once per request that changed a key. It
   * starts at 1 on an empty store, as etcd's does.
   */
  revision: number;
  // Invariant: 0 <= compactRevision <= revision; reads below it fail.
  /** The revision compacted at (0 = never); reads below it fail. */
  compactRevision: number;
  /** Keys remain whose history the compaction at `compactRevision` has not freed yet. */
  compactPending: boolean;
  /** The first key (index form) compaction has not done yet; undefined = from the first key. */
  compactCursor: string | undefined;
}

/** The revision store's order: by revision, then by place within it. */
export function compareRecordRevisions(a: KeyRecord, b: KeyRecord): number {
  return a.modRevision - b.modRevision || a.sub - b.sub;
}

/** An empty state at revision 1. */
export function createStoreState(limits: MvccStoreLimits): StoreState {
  return {
    limits,
    index: new BTree<string, HistoryNode>(),
    log: new BTree<KeyRecord, undefined>(undefined, compareRecordRevisions),
    leases: new LeaseTable(),
    revision: 1,
    compactRevision: 0,
    compactPending: false,
    compactCursor: undefined,
  };
}

/**
 * The revision a read asks for, checked: 0 means `currentRevision`.
 *
 * @throws {InvalidArgumentError} when it is above `currentRevision` (etcd's
 * `ErrFutureRev`).
 * @throws {CompactedError} when it is below the compacted revision;
 * `details.compactRevision` names it.
 */
export function readRevisionOf(state: StoreState, requested: number, currentRevision: number): number {
  if (requested === 0) return currentRevision;
  if (requested > currentRevision) {
    throw new InvalidArgumentError(
      `Cannot read at revision ${requested}: the current revision is ${currentRevision}`,
      { details: { revision: requested, currentRevision } },
    );
  }
  if (requested < state.compactRevision) {
    throw new CompactedError(
      `Cannot read at revision ${requested}: it was compacted (the oldest readable revision is ${state.compactRevision})`,
      { details: { revision: requested, compactRevision: state.compactRevision } },
    );
  }
  return requested;
}
