/**
 * The state of an MVCC store, shared by the modules that read and change
 * it. Only `MvccStore` and the modules it calls hold one.
 *
 * @module
 */
import sortedBtree from 'sorted-btree';
import { CompactedError, InvalidArgumentError } from '../base/errors.ts';
import type { HistoryNode, KeyRecord } from './key-history.ts';
import { type LeaseJournal, LeaseTable } from './lease-table.ts';
import type { MvccStoreLimits } from './limits.ts';

// sorted-btree is CommonJS with `exports.default`; from ESM its default
// import is the whole `module.exports`.
/** sorted-btree's B+ tree class. */
export const BTree = sortedBtree.default;
/** sorted-btree's B+ tree. */
export type BTree<K, V> = InstanceType<typeof sortedBtree.default<K, V>>;

/**
 * The key index: each key's history by the key's index form (`keyIdOf`),
 * in byte order of the keys. The in-memory one is a copy-on-write B+ tree
 * (sorted-btree: ordered range scans in O(log n + k), and `clone()` in O(1)
 * for snapshots; a hand-written tree would buy nothing here); the disk one
 * (`src/storage/lmdb-kv-backend.ts`) is an LMDB database. The signatures
 * are sorted-btree's, so a `BTree` is one.
 *
 * A disk index hands out a fresh history on every `get`: compare versions
 * by revision, never by identity.
 */
export interface KeyIndex {
  get(keyId: string): HistoryNode | undefined;
  set(keyId: string, head: HistoryNode): unknown;
  delete(keyId: string): unknown;
  /** Entries from `lowestKey` (inclusive) up, in key order. */
  entries(lowestKey?: string): IterableIterator<[string, HistoryNode]>;
  /** Entries from `highestKey` down; `skipHighest` leaves `highestKey` itself out. */
  entriesReversed(
    highestKey?: string,
    reusedArray?: undefined,
    skipHighest?: boolean,
  ): IterableIterator<[string, HistoryNode]>;
  /** The first key after `key`. */
  nextHigherKey(key: string): string | undefined;
  /**
   * Compacts one key's history at `revision` in place, as
   * `compactHistory` and a `set` (or `delete`) would, and returns the
   * versions freed (none when nothing changed). Optional: an index that
   * can cut a history without reading the versions it keeps (the disk
   * index) offers it; the others are compacted through `compactHistory`.
   */
  compactKey?(keyId: string, head: HistoryNode, revision: number): readonly KeyRecord[];
  /**
   * The index as it is now, unchanged by later writes, for a snapshot to
   * read at leisure; `release` it when done (a disk index holds a read
   * transaction open until then).
   */
  clone(): KeyIndex;
  release?(): void;
}

/**
 * The revision log: every kept version by `{modRevision, sub}`, as etcd's
 * backend keys them. The index answers reads; this answers "what changed
 * after revision r", which watches need, and lets the invariants check the
 * index against a second account of the same history. Only revision and
 * sub of a position passed in are looked at.
 */
export interface RevisionLog {
  /** Files a version; with `overwrite` false, refuses (false) one whose revision is filed already. */
  set(record: KeyRecord, value: undefined, overwrite?: boolean): boolean;
  delete(record: KeyRecord): unknown;
  /** Versions from `lowest` (inclusive) on, in revision order. */
  entries(lowest?: KeyRecord): IterableIterator<[KeyRecord, undefined]>;
  /** How many versions are filed (O(1) or O(log n); for invariants). */
  readonly size: number;
}

/**
 * Where a store keeps its state: the in-memory index and log by default, or
 * a disk backend. The scalars and the lease table live in memory either
 * way (leases are bounded by `leasesMax`); a disk backend is told of every
 * change to them (`saveScalars`, the lease journal) in the same write
 * transaction as the data, and hands them back on open.
 */
export interface StoreBackend {
  readonly index: KeyIndex;
  readonly log: RevisionLog;
  /** Told of every change to the lease table. */
  readonly leaseJournal?: LeaseJournal;
  /** Records the scalars; called after every request that may have changed them. */
  saveScalars?(scalars: StoreScalars): void;
  /** What was saved (undefined for an empty backend): the scalars, the leases and their keys. */
  load?(): LoadedState | undefined;
}

/** The scalars of a state, as a disk backend records them. */
export interface StoreScalars {
  readonly revision: number;
  readonly compactRevision: number;
  readonly compactPending: boolean;
  readonly compactCursor: string | undefined;
}

/** What a disk backend hands back on open. */
export interface LoadedState {
  readonly scalars: StoreScalars;
  readonly leases: Iterable<{ id: number; ttl: number; remainingTtl: number; keys: Iterable<string> }>;
}

/** The in-memory backend: a B+ tree index and log. */
export function memoryBackend(): StoreBackend {
  return {
    index: new BTree<string, HistoryNode>(),
    log: new BTree<KeyRecord, undefined>(undefined, compareRecordRevisions),
  };
}

/** The whole state. */
export interface StoreState {
  readonly limits: MvccStoreLimits;
  readonly index: KeyIndex;
  readonly log: RevisionLog;
  readonly leases: LeaseTable;
  /** Where the index and log live, and who hears of scalar changes. */
  readonly backend: StoreBackend;
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

/**
 * A state on `backend` (empty in memory by default): at revision 1 when the
 * backend is empty, else as the backend last saved it.
 */
export function createStoreState(limits: MvccStoreLimits, backend = memoryBackend()): StoreState {
  const loaded = backend.load?.();
  const leases = new LeaseTable(backend.leaseJournal);
  if (loaded !== undefined) {
    for (const lease of loaded.leases) leases.load(lease.id, lease.ttl, lease.remainingTtl, lease.keys);
  }
  return {
    limits,
    index: backend.index,
    log: backend.log,
    leases,
    backend,
    revision: loaded?.scalars.revision ?? 1,
    compactRevision: loaded?.scalars.compactRevision ?? 0,
    compactPending: loaded?.scalars.compactPending ?? false,
    compactCursor: loaded?.scalars.compactCursor,
  };
}

/** Tells the backend the state's scalars (a disk backend records them). */
export function saveScalars(state: StoreState): void {
  state.backend.saveScalars?.({
    revision: state.revision,
    compactRevision: state.compactRevision,
    compactPending: state.compactPending,
    compactCursor: state.compactCursor,
  });
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
      { details: { revision: requested, currentRevision, reason: 'FUTURE_REVISION' } },
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
