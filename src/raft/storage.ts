/**
 * The storage seam as the Raft core sees it: a read view of what is durable.
 *
 * The core never writes storage. The caller persists each `Ready` and then
 * tells the core through `advance()`; the core reads back through this
 * interface. Implementations must be synchronous and deterministic (the
 * simulator runs the same core); {@link MemoryStorage} is the in-memory one.
 *
 * @module
 */
import type { ConfState, Entry, HardState, SnapshotRef } from './types.ts';

/** What the core reads from durable storage. */
export interface RaftStorage {
  /** The hard state and membership to start from. */
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries with indexes in [lo, hi), stopping before the total passes
   * `bytesMax` (but always at least one entry).
   *
   * @throws {CompactedError} when `lo` is at or before the last snapshot.
   */
  entries(lo: number, hi: number, bytesMax: number): Entry[];
  /**
   * The term of the entry at `index`; the snapshot's term at the snapshot index.
   *
   * @throws {CompactedError} when `index` is before the snapshot index.
   * @throws {RangeError} when `index` is past the last entry.
   */
  term(index: number): number;
  /** Index of the first entry still held (snapshot index + 1). */
  firstIndex(): number;
  /** Index of the last entry (the snapshot index when the log is empty). */
  lastIndex(): number;
  /** The latest snapshot (its bytes stay with the driver). */
  snapshot(): SnapshotRef;
}
