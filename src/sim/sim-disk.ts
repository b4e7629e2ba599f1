/**
 * A simulated disk for one member: writes are visible at once but durable
 * only after a sync; a crash throws away everything not yet synced.
 *
 * @module
 */
import { MemoryStorage } from '../raft/memory-storage.ts';
import type { ConfState, Entry, HardState, Snapshot } from '../raft/types.ts';

type DiskWrite =
  | { kind: 'entries'; entries: readonly Entry[] }
  | { kind: 'hardState'; hardState: HardState }
  | { kind: 'snapshot'; snapshot: Snapshot };

/** Storage with a crash model: `volatile` is what the member reads, `durable` what survives a crash. */
export class SimDisk {
  #durable: MemoryStorage;
  #volatile: MemoryStorage;
  // Invariant: replaying #unsynced on #durable yields #volatile.
  #unsynced: DiskWrite[] = [];
  /** Entries and snapshots written, counting lost ones (for statistics). */
  writes = 0;

  constructor(confState: ConfState) {
    this.#durable = new MemoryStorage(confState);
    this.#volatile = this.#durable.clone();
  }

  /** What the running member reads and writes. */
  get storage(): MemoryStorage {
    return this.#volatile;
  }

  /** Writes a Ready's snapshot, entries and hard state (not yet durable). */
  write(snapshot: Snapshot | undefined, entries: readonly Entry[], hardState: HardState | undefined): void {
    if (snapshot !== undefined) this.#apply(this.#volatile, { kind: 'snapshot', snapshot }, true);
    if (entries.length > 0) this.#apply(this.#volatile, { kind: 'entries', entries }, true);
    if (hardState !== undefined) this.#apply(this.#volatile, { kind: 'hardState', hardState }, true);
  }

  #apply(storage: MemoryStorage, write: DiskWrite, record: boolean): void {
    if (record) {
      this.#unsynced.push(write);
      this.writes++;
    }
    switch (write.kind) {
      case 'entries':
        storage.append(write.entries);
        break;
      case 'hardState':
        storage.setHardState(write.hardState);
        break;
      case 'snapshot':
        storage.applySnapshot(write.snapshot);
        break;
    }
  }

  /** Makes every write so far durable (fsync). */
  sync(): void {
    for (const write of this.#unsynced) this.#apply(this.#durable, write, false);
    this.#unsynced = [];
  }

  /** Whether there are writes a crash would lose. */
  get dirty(): boolean {
    return this.#unsynced.length > 0;
  }

  /** Loses every unsynced write: after a restart the member sees only what was durable. */
  crash(): void {
    this.#unsynced = [];
    this.#volatile = this.#durable.clone();
  }

  /** Records a snapshot and compacts the log before it, on both copies (the state machine already made it durable). */
  compact(index: number, confState: ConfState, data: Uint8Array): void {
    this.sync();
    for (const storage of [this.#durable, this.#volatile]) {
      storage.createSnapshot(index, confState, data);
      storage.compact(index);
    }
  }
}
