/**
 * An in-memory {@link RaftStorage}, also used by tests and the simulator.
 *
 * @module
 */
import { CompactedError } from '../base/errors.ts';
import { bootstrapLog } from './conf-change.ts';
import type { RaftStorage } from './storage.ts';
import { type ConfState, type Entry, EntryType, entryBytes, type HardState, type Snapshot } from './types.ts';

const EMPTY_BYTES = new Uint8Array(0);

/**
 * Entries, hard state and the latest snapshot, in memory.
 *
 * Invariant: `#entries[0]` is a dummy entry at the snapshot's index and term,
 * so `#entries[i]` has index `snapshotIndex + i`.
 */
export class MemoryStorage implements RaftStorage {
  #hardState: HardState = { term: 0, vote: 0, commit: 0 };
  #snapshot: Snapshot;
  #entries: Entry[];

  /**
   * Starts as a founding member of a brand-new cluster of `confState` (its
   * log holds the bootstrap changes, see {@link bootstrapLog}), or, without
   * members, as an empty member waiting to be added to a running cluster.
   */
  constructor(confState: ConfState = { voters: [], learners: [] }) {
    this.#snapshot = {
      metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } },
      data: EMPTY_BYTES,
    };
    this.#entries = [{ term: 0, index: 0, type: EntryType.normal, data: EMPTY_BYTES }];
    if (confState.voters.length === 0 && confState.learners.length === 0) return;
    const { entries, hardState } = bootstrapLog(confState);
    this.#entries.push(...entries);
    this.#hardState = hardState;
  }

  /** An independent copy (entries are immutable, so they are shared). */
  clone(): MemoryStorage {
    const copy = new MemoryStorage();
    copy.#hardState = this.#hardState;
    copy.#snapshot = this.#snapshot;
    copy.#entries = [...this.#entries];
    return copy;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.#hardState, confState: this.#snapshot.metadata.confState };
  }

  /** Records the hard state (the caller persists `Ready.hardState` here). */
  setHardState(hardState: HardState): void {
    this.#hardState = hardState;
  }

  get hardState(): HardState {
    return this.#hardState;
  }

  #offset(): number {
    return (this.#entries[0] as Entry).index;
  }

  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    const offset = this.#offset();
    if (lo <= offset) throw new CompactedError(`Cannot read entries from ${lo}: compacted up to ${offset}`);
    if (hi > this.lastIndex() + 1) {
      throw new RangeError(`Cannot read entries up to ${hi - 1}: last index is ${this.lastIndex()}`);
    }
    const out: Entry[] = [];
    let bytes = 0;
    for (let index = lo; index < hi; index++) {
      const entry = this.#entries[index - offset] as Entry;
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(entry);
    }
    return out;
  }

  term(index: number): number {
    const offset = this.#offset();
    if (index < offset) throw new CompactedError(`Cannot read term of ${index}: compacted up to ${offset}`);
    const entry = this.#entries[index - offset];
    if (entry === undefined)
      throw new RangeError(`Cannot read term of ${index}: last index is ${this.lastIndex()}`);
    return entry.term;
  }

  firstIndex(): number {
    return this.#offset() + 1;
  }

  lastIndex(): number {
    return this.#offset() + this.#entries.length - 1;
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /**
   * Appends entries, replacing any conflicting suffix (the caller persists
   * `Ready.entries` here). Entries before the first index are ignored.
   *
   * @throws {RangeError} when the entries would leave a gap.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const fresh = entries.filter((entry) => entry.index >= first);
    const head = fresh[0];
    if (head === undefined) return;
    if (head.index > this.lastIndex() + 1) {
      throw new RangeError(`Cannot append entry ${head.index}: last index is ${this.lastIndex()}`);
    }
    this.#entries.length = head.index - this.#offset();
    this.#entries.push(...fresh);
  }

  /** Replaces everything with `snapshot` (the caller persists `Ready.snapshot` here). */
  applySnapshot(snapshot: Snapshot): void {
    if (snapshot.metadata.index <= this.#snapshot.metadata.index) return;
    this.#snapshot = snapshot;
    this.#entries = [
      {
        term: snapshot.metadata.term,
        index: snapshot.metadata.index,
        type: EntryType.normal,
        data: EMPTY_BYTES,
      },
    ];
  }

  /** Records a snapshot of the state machine at `index` (which must be applied). */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.#snapshot.metadata.index) return this.#snapshot;
    if (index > this.lastIndex())
      throw new RangeError(`Cannot snapshot at ${index}: last index is ${this.lastIndex()}`);
    this.#snapshot = { metadata: { index, term: this.term(index), confState }, data };
    return this.#snapshot;
  }

  /** Discards entries up to and including `index` (which must be covered by a snapshot to be of use). */
  compact(index: number): void {
    const offset = this.#offset();
    if (index <= offset) return;
    if (index > this.lastIndex())
      throw new RangeError(`Cannot compact to ${index}: last index is ${this.lastIndex()}`);
    const kept = this.#entries.slice(index - offset);
    const head = kept[0] as Entry;
    kept[0] = { term: head.term, index: head.index, type: EntryType.normal, data: EMPTY_BYTES };
    this.#entries = kept;
  }
}
