/**
 * The storage seams of the Raft core, after hashicorp/raft's `LogStore`,
 * `StableStore` and `SnapshotStore`: one interface per kind of durable
 * state, each with an in-memory implementation (`memory-stores.ts`) and,
 * later, one on disk, all held to the same conformance suite
 * (`store-conformance.ts`).
 *
 * Reads are synchronous: the core reads storage in the middle of a step, so
 * a disk store keeps an index or cache of what it holds in memory (as etcd
 * keeps its WAL's live tail in a `MemoryStorage`). Writes are buffered: they
 * are visible to reads at once but durable only when a later `sync()`
 * resolves. A crash (power loss) leaves each store exactly as it was after
 * its last completed `sync()`; what was written after it is gone.
 *
 * Without a snapshot the membership comes from the log: a founding member's
 * stores start with the bootstrap log ({@link bootstrapStores}).
 *
 * The stores do not know about each other. {@link storageFromStores} composes
 * them into the {@link RaftStorage} view the core reads, and repairs on
 * opening what a crash between two stores' syncs can leave behind.
 *
 * @module
 */
import { InvalidArgumentError } from '../base/errors.ts';
import { bootstrapLog } from './conf-change.ts';
import type { RaftStorage } from './storage.ts';
import type {
  ConfState,
  Entry,
  HardState,
  NodeId,
  Snapshot,
  SnapshotMetadata,
  SnapshotRef,
} from './types.ts';

/**
 * The Raft log: entries from `firstIndex()` to `lastIndex()`, plus the term
 * of the entry just before the first one (the compaction or snapshot point).
 *
 * Invariant: `firstIndex() <= lastIndex() + 1`, and `term(firstIndex() - 1)`
 * is always readable. A new store is empty with `firstIndex() === 1`,
 * `lastIndex() === 0` and `term(0) === 0`.
 *
 * Reads see every write at once; writes become durable when a later
 * `sync()` resolves. After a crash the log is exactly the log of the last
 * completed sync: never a mix of old and new entries, and a truncation that
 * was synced stays truncated. Not safe for concurrent writers: the Raft
 * loop is the only one.
 *
 * @example
 * ```ts
 * log.append(ready.entries);
 * await log.sync();
 * log.entries(log.firstIndex(), log.lastIndex() + 1, 1024 * 1024);
 * ```
 */
export interface LogStore {
  /** Index of the first entry held (the compaction point + 1). */
  firstIndex(): number;
  /** Index of the last entry held (`firstIndex() - 1` when the log is empty). */
  lastIndex(): number;
  /**
   * The term of the entry at `index`; at `firstIndex() - 1` the term kept by
   * the last compaction or reset.
   *
   * @throws {CompactedError} when `index < firstIndex() - 1`.
   * @throws {RangeError} when `index > lastIndex()`.
   */
  term(index: number): number;
  /**
   * Entries with indexes in [lo, hi), in order, stopping before their total
   * size (`entryBytes`) passes `bytesMax`, but always at least one entry
   * when the range is not empty. The caller must not modify them.
   *
   * @throws {CompactedError} when `lo < firstIndex()`.
   * @throws {RangeError} when `hi > lastIndex() + 1` or `lo > hi`.
   */
  entries(lo: number, hi: number, bytesMax: number): Entry[];
  /**
   * Writes `entries` (consecutive indexes) starting at the first one's
   * index, discarding every entry held at or after that index (the
   * conflicting suffix a new leader overwrote). Entries before
   * `firstIndex()` are ignored; an empty list does nothing.
   *
   * @throws {RangeError} when the entries would leave a gap after
   * `lastIndex()`, or their indexes are not consecutive; nothing is changed.
   */
  append(entries: readonly Entry[]): void;
  /**
   * Releases the entries up to and including `index` (covered by a
   * snapshot): afterwards `firstIndex() === index + 1` and `term(index)` is
   * still readable. Does nothing when `index < firstIndex()`.
   *
   * @throws {RangeError} when `index > lastIndex()`.
   */
  compact(index: number): void;
  /**
   * Empties the log for an installed snapshot at (`index`, `term`):
   * afterwards `lastIndex() === index`, `firstIndex() === index + 1` and
   * `term(index) === term`.
   *
   * @throws {RangeError} when `index` or `term` is not a non-negative integer.
   */
  resetTo(index: number, term: number): void;
  /**
   * Makes every write so far durable (fsync). Writes made while it runs
   * may or may not be covered; they are by the next call.
   */
  sync(): Promise<void>;
}

/**
 * The hard state: current term, vote and commit index (thesis §3.8). A new
 * store holds `{ term: 0, vote: 0, commit: 0 }`.
 *
 * `setHardState` is visible at once and durable when a later `sync()`
 * resolves; after a crash the store holds the hard state of the last
 * completed sync.
 */
export interface StableStore {
  /** The hard state last set. */
  hardState(): HardState;
  /** Replaces the hard state (not yet durable). */
  setHardState(hardState: HardState): void;
  /** Makes the hard state set so far durable (fsync). */
  sync(): Promise<void>;
}

/**
 * Receives a snapshot streamed from a leader in chunks, in order (named
 * after hashicorp/raft's `SnapshotSink`; the core's in-memory assembler is
 * `snapshot-transfer.ts`'s `SnapshotReceiver`). Nothing is
 * visible in the store until {@link SnapshotSink.commit} resolves; a
 * crash or {@link SnapshotSink.abort} before that leaves the latest
 * snapshot unchanged and the partial data gone.
 */
export interface SnapshotSink {
  /** The snapshot being received. */
  readonly metadata: SnapshotMetadata;
  /** Bytes received so far: the offset the next chunk must start at. */
  readonly bytesWritten: number;
  /**
   * Appends a chunk at `offset`.
   *
   * @throws {InvalidArgumentError} (rejects) when `offset !== bytesWritten`
   * (`details.expectedOffset` says where to resume); nothing is changed.
   * @throws {TooLargeError} (rejects) when the total would pass the store's
   * `snapshotBytesMax`; nothing is changed.
   * @throws {CancelledError} (rejects) after `abort()`, a crash, or another
   * `receive()` superseded this one.
   * @throws {InvalidArgumentError} (rejects) after `commit()`.
   */
  write(offset: number, bytes: Uint8Array): Promise<void>;
  /**
   * Durably and atomically makes the received snapshot the latest one.
   *
   * @returns the snapshot now latest.
   * @throws {InvalidArgumentError} (rejects) when a snapshot at a higher
   * index became latest meanwhile, or when already committed.
   * @throws {CancelledError} (rejects) after `abort()` or supersession.
   */
  commit(): Promise<SnapshotRef>;
  /** Drops the partial data. Does nothing after `commit()` or a previous `abort()`. */
  abort(): void;
}

/**
 * State-machine snapshots. Only the latest is kept; snapshots move forward:
 * a snapshot below the latest's index is refused.
 *
 * `save` and `SnapshotSink.commit` are durable and atomic when they
 * resolve: after a crash the store holds either the old latest snapshot or
 * the new one, whole, never a mix. At most one receive is in flight:
 * `receive()` aborts the one before.
 */
export interface SnapshotStore {
  /** The largest snapshot accepted, in bytes. */
  readonly snapshotBytesMax: number;
  /**
   * The latest snapshot's metadata and size, or undefined when none was
   * saved. Its bytes are read with {@link readChunk}: a store need not
   * hold them in memory.
   */
  latest(): SnapshotRef | undefined;
  /**
   * Durably and atomically makes `snapshot` the latest one.
   *
   * @throws {InvalidArgumentError} (rejects) when its index is below the latest's.
   * @throws {TooLargeError} (rejects) when its data is larger than `snapshotBytesMax`.
   */
  save(snapshot: Snapshot): Promise<void>;
  /**
   * Starts receiving a snapshot from a leader in chunks, aborting any
   * receive in flight.
   *
   * @throws {InvalidArgumentError} when `metadata.index` is below the latest's.
   */
  receive(metadata: SnapshotMetadata): SnapshotSink;
  /**
   * Starts writing a snapshot of this member's own state machine in chunks
   * (so it need not be held whole in memory). Independent of
   * {@link receive}: neither aborts the other, and whichever commits a
   * higher index wins.
   *
   * @throws {InvalidArgumentError} when `metadata.index` is below the latest's.
   */
  create(metadata: SnapshotMetadata): SnapshotSink;
  /**
   * Optional, for a store on disk: makes a whole file the data of a new
   * latest snapshot without copying it (a rename into the store), durably
   * and atomically as {@link save}. Once moved, the file is the store's;
   * refused before (a lower index, a failed rename), it stays where it was.
   *
   * @throws {InvalidArgumentError} (rejects) when `metadata.index` is below the latest's.
   * @throws {TooLargeError} (rejects) when the file is larger than `snapshotBytesMax`.
   * @throws the rename's error (rejects; `EXDEV` when the file is on another file system).
   */
  adoptFile?(metadata: SnapshotMetadata, path: string): Promise<SnapshotRef>;
  /**
   * Up to `bytesMax` bytes of the latest snapshot's data from `offset`
   * (empty at the end), for sending it to a follower in chunks.
   *
   * @throws {CompactedError} (rejects) when the snapshot at `index` has been
   * superseded: start again from the latest.
   * @throws {RangeError} (rejects) when there is no snapshot at `index`, or
   * `offset` is past the end, or `bytesMax < 1`.
   */
  readChunk(index: number, offset: number, bytesMax: number): Promise<Uint8Array>;
}

/**
 * The whole data of the snapshot `ref` names, read from `store` in chunks
 * of `chunkBytes` (for tests and small snapshots: it holds all of it).
 *
 * @throws {CompactedError} (rejects) when that snapshot was superseded.
 */
export async function readSnapshotData(
  store: Pick<SnapshotStore, 'readChunk'>,
  ref: SnapshotRef,
  chunkBytes = 1024 * 1024,
): Promise<Snapshot> {
  const data = new Uint8Array(ref.totalBytes);
  let offset = 0;
  while (offset < ref.totalBytes) {
    const chunk = await store.readChunk(ref.metadata.index, offset, chunkBytes);
    if (chunk.length === 0)
      throw new RangeError(`Cannot read snapshot ${ref.metadata.index}: it ends at ${offset}`);
    data.set(chunk, offset);
    offset += chunk.length;
  }
  return { metadata: ref.metadata, data };
}

/** What {@link storageFromStores} composes. */
export interface RaftStores {
  readonly log: LogStore;
  readonly stable: StableStore;
  /** Only `latest()` is read (a caller may show a snapshot it has yet to save). */
  readonly snapshots: Pick<SnapshotStore, 'latest'>;
}

/**
 * The {@link RaftStorage} view the core reads, composed of the three seams.
 *
 * Opening repairs what a crash between the stores' syncs can leave (the
 * snapshot store is written first, the log and hard state after): when the
 * log does not hold the snapshot's entry with the snapshot's term it is
 * reset to the snapshot, and entries the snapshot covers are compacted
 * (both unsynced: repeating them on the next open is harmless). The hard
 * state's commit index reads clamped to [snapshot index, last index]: a
 * snapshot holds only committed entries, and a commit index past the log
 * (the hard state synced, the log not) is only a hint, safe to lower
 * (thesis §3.8 keeps it volatile). Invariant afterwards: the log starts
 * right after the latest snapshot.
 *
 * @throws {Error} when the log was compacted past the latest snapshot
 * (corrupt storage: compaction only follows a durable snapshot).
 *
 * @example
 * ```ts
 * const stores = { log: new MemoryLogStore(), stable: new MemoryStableStore(), snapshots: new MemorySnapshotStore() };
 * await bootstrapStores(stores, { voters: [1, 2, 3], learners: [] });
 * const node = new RawNode({ id: 1, storage: storageFromStores(stores), random: new SeededRandom(1) });
 * ```
 */
export function storageFromStores(stores: RaftStores): RaftStorage {
  const { log, stable, snapshots } = stores;
  const latest = snapshots.latest();
  if (latest !== undefined) storageFromStoresRepair(log, latest.metadata);
  const bootstrap: SnapshotRef = {
    metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } },
    totalBytes: 0,
  };
  const snapshot = (): SnapshotRef => snapshots.latest() ?? bootstrap;
  return {
    initialState() {
      const { metadata } = snapshot();
      const hardState = stable.hardState();
      const commit = Math.min(Math.max(hardState.commit, metadata.index), log.lastIndex());
      return {
        hardState: commit === hardState.commit ? hardState : { ...hardState, commit },
        confState: metadata.confState,
      };
    },
    entries: (lo, hi, bytesMax) => log.entries(lo, hi, bytesMax),
    term: (index) => log.term(index),
    firstIndex: () => log.firstIndex(),
    lastIndex: () => log.lastIndex(),
    snapshot,
  };
}

function storageFromStoresRepair(log: LogStore, metadata: SnapshotMetadata): void {
  const { index, term } = metadata;
  if (log.firstIndex() - 1 > index) {
    // Compaction follows a durable snapshot, so this is corruption, not a crash.
    throw new Error(
      `Raft storage corrupt: log compacted to ${log.firstIndex() - 1}, past the latest snapshot at ${index}`,
    );
  }
  if (index > log.lastIndex() || log.term(index) !== term) log.resetTo(index, term);
  else if (log.firstIndex() <= index) log.compact(index);
}

/**
 * Makes empty stores those of a founding member of a brand-new cluster of
 * `confState`: writes the bootstrap log and hard state (`bootstrapLog`) and
 * syncs both. Both syncs start before it returns.
 *
 * @throws {InvalidArgumentError} (rejects, writing nothing) when the
 * stores are not empty: a member that already has a log must never
 * bootstrap again.
 */
export function bootstrapStores(
  stores: Pick<RaftStores, 'log' | 'stable'>,
  confState: ConfState,
  contexts?: ReadonlyMap<NodeId, Uint8Array>,
): Promise<void> {
  const { log, stable } = stores;
  const hardState = stable.hardState();
  if (log.lastIndex() !== 0 || hardState.term !== 0 || hardState.vote !== 0 || hardState.commit !== 0) {
    const why = `the stores are not empty (last index ${log.lastIndex()}, term ${hardState.term})`;
    return Promise.reject(new InvalidArgumentError(`Cannot bootstrap: ${why}`));
  }
  const bootstrap = bootstrapLog(confState, contexts);
  log.append(bootstrap.entries);
  stable.setHardState(bootstrap.hardState);
  return Promise.all([log.sync(), stable.sync()]).then(() => undefined);
}
