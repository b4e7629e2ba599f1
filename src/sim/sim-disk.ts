/**
 * A simulated disk for one member, built on the in-memory storage seams
 * (`MemoryLogStore`, `MemoryStableStore`, `MemorySnapshotStore`): writes are
 * visible at once but durable only after a sync; a crash throws away
 * everything not yet synced.
 *
 * @module
 */
import { fillFromSnapshot, SnapshotAssembler, snapshotRef } from '../raft/memory-storage.ts';
import { MemoryLogStore, MemorySnapshotStore, MemoryStableStore } from '../raft/memory-stores.ts';
import type { RaftStorage } from '../raft/storage.ts';
import { bootstrapStores, storageFromStores } from '../raft/stores.ts';
import type { ConfState, Message, Ready, Snapshot } from '../raft/types.ts';

/**
 * One member's storage with a crash model. A Ready's snapshot, entries and
 * hard state become durable together at the next {@link SimDisk.sync}, as
 * if one fsync covered them; a crash before it loses all three.
 */
export class SimDisk {
  readonly #log = new MemoryLogStore();
  readonly #stable = new MemoryStableStore();
  readonly #snapshots = new MemorySnapshotStore();
  // A Ready's snapshot waits here until the sync: saving it to the store would make it durable at once.
  #unsyncedSnapshot: Snapshot | undefined;
  // Chunks of a snapshot being received: volatile, like a temp file not yet committed.
  readonly #receiving = new SnapshotAssembler();
  #storage: RaftStorage;
  #dirty = false;
  /** Snapshots, entries and hard states written, counting lost ones (for statistics). */
  writes = 0;

  /** A founding member of a cluster of `confState`, or an empty joiner when it has no members. */
  constructor(confState: ConfState) {
    if (confState.voters.length > 0 || confState.learners.length > 0) {
      void bootstrapStores({ log: this.#log, stable: this.#stable }, confState);
    }
    this.#storage = this.#open();
  }

  #open(): RaftStorage {
    return storageFromStores({
      log: this.#log,
      stable: this.#stable,
      snapshots: {
        latest: () => {
          const latest = this.latestSnapshot();
          return latest === undefined ? undefined : snapshotRef(latest);
        },
      },
    });
  }

  /** What the running member reads (writes go through {@link SimDisk.write}). */
  get storage(): RaftStorage {
    return this.#storage;
  }

  /** The latest snapshot with its bytes (written, perhaps not yet durable). */
  latestSnapshot(): Snapshot | undefined {
    return this.#unsyncedSnapshot ?? this.#snapshots.latestWithData();
  }

  /** `m` with its snapshot chunk's bytes, or undefined when that snapshot was superseded. */
  fillChunk(m: Message): Message | undefined {
    return fillFromSnapshot(this.latestSnapshot(), m);
  }

  /**
   * Writes a Ready's snapshot chunks, snapshot, entries and hard state (not
   * yet durable).
   *
   * @returns the snapshot `ref` names, assembled from its chunks, when set.
   */
  write(ready: Pick<Ready, 'snapshot' | 'snapshotChunks' | 'entries' | 'hardState'>): Snapshot | undefined {
    const { entries, hardState } = ready;
    this.#receiving.write(ready.snapshotChunks);
    const snapshot = ready.snapshot === undefined ? undefined : this.#receiving.take(ready.snapshot);
    if (snapshot !== undefined) {
      this.#written();
      const { index, term } = snapshot.metadata;
      // An older snapshot than the one held is ignored (the member's own may be newer).
      if (index > this.#storage.snapshot().metadata.index) {
        this.#unsyncedSnapshot = snapshot;
        this.#log.resetTo(index, term);
      }
    }
    if (entries.length > 0) {
      this.#written();
      this.#log.append(entries);
    }
    if (hardState !== undefined) {
      this.#written();
      this.#stable.setHardState(hardState);
    }
    return snapshot;
  }

  #written(): void {
    this.writes++;
    this.#dirty = true;
  }

  /** Makes every write so far durable (fsync); done when it returns. */
  sync(): void {
    // The memory stores finish before their promises return (a failure would surface as an unhandled rejection).
    if (this.#unsyncedSnapshot !== undefined) void this.#snapshots.save(this.#unsyncedSnapshot);
    this.#unsyncedSnapshot = undefined;
    void this.#log.sync();
    void this.#stable.sync();
    this.#dirty = false;
  }

  /** Whether there are writes a crash would lose. */
  get dirty(): boolean {
    return this.#dirty;
  }

  /** Loses every unsynced write: after a restart the member sees only what was durable. */
  crash(): void {
    this.#unsyncedSnapshot = undefined;
    this.#receiving.clear();
    this.#log.crash();
    this.#stable.crash();
    this.#snapshots.crash();
    this.#dirty = false;
    this.#storage = this.#open();
  }

  /**
   * Records a snapshot of the state machine at `index` (already applied) and
   * compacts the log up to it, durably: everything written before is synced
   * first.
   *
   * @throws {RangeError} when `index` is past the last entry.
   */
  compact(index: number, confState: ConfState, data: Uint8Array): void {
    this.sync();
    if (index > this.#log.lastIndex()) {
      throw new RangeError(`Cannot snapshot at ${index}: last index is ${this.#log.lastIndex()}`);
    }
    if (index > this.#storage.snapshot().metadata.index) {
      void this.#snapshots.save({ metadata: { index, term: this.#log.term(index), confState }, data });
    }
    this.#log.compact(index);
    void this.#log.sync();
  }
}
