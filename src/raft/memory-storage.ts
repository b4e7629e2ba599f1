/**
 * An in-memory {@link RaftStorage}, also used by tests and the simulator.
 *
 * @module
 */
import { CompactedError } from '../base/errors.ts';
import { bootstrapLog } from './conf-change.ts';
import { fillSnapshotChunk, isUnfilledSnapshotChunk } from './snapshot-transfer.ts';
import type { RaftStorage } from './storage.ts';
import {
  type ConfState,
  type Entry,
  EntryType,
  entryBytes,
  type HardState,
  type Message,
  type Snapshot,
  type SnapshotChunk,
  type SnapshotMetadata,
  type SnapshotRef,
} from './types.ts';

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

  snapshot(): SnapshotRef {
    return snapshotRef(this.#snapshot);
  }

  /** The latest snapshot with its bytes. */
  snapshotWithData(): Snapshot {
    return this.#snapshot;
  }

  /**
   * `m` with its snapshot chunk's bytes filled in from the latest snapshot
   * (see `fillSnapshotChunk`), `m` itself when it needs none, or undefined
   * when the chunk is of a snapshot since superseded.
   */
  fillChunk(m: Message): Message | undefined {
    return fillFromSnapshot(this.#snapshot, m);
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

/** The core's view of `snapshot`. */
export function snapshotRef(snapshot: Snapshot): SnapshotRef {
  return { metadata: snapshot.metadata, totalBytes: snapshot.data.length };
}

/**
 * `m` with its snapshot chunk's bytes taken from `snapshot` (held in
 * memory), `m` itself when it needs none, or undefined when `snapshot` is
 * not the one the chunk names (it was superseded).
 */
export function fillFromSnapshot(snapshot: Snapshot | undefined, m: Message): Message | undefined {
  if (!isUnfilledSnapshotChunk(m)) return m;
  const chunk = m.snapshot as SnapshotChunk;
  if (snapshot === undefined || snapshot.metadata.index !== chunk.metadata.index) return undefined;
  return fillSnapshotChunk(m, snapshot.data.subarray(chunk.offset, chunk.offset + chunk.length));
}

/**
 * Collects `Ready.snapshotChunks` in memory, for drivers that keep
 * snapshots in memory (tests and the simulator): a chunk at offset 0
 * starts a new snapshot, the others must follow in order.
 */
export class SnapshotAssembler {
  #metadata: SnapshotMetadata | undefined;
  #parts: Uint8Array[] = [];
  #bytes = 0;

  /** @throws {Error} when a chunk does not follow the one before (the Ready contract was broken). */
  write(chunks: readonly SnapshotChunk[]): void {
    for (const chunk of chunks) {
      if (chunk.offset === 0) this.clear();
      this.#metadata ??= chunk.metadata;
      if (chunk.offset !== this.#bytes || chunk.metadata.index !== this.#metadata.index) {
        throw new Error(
          `Raft contract broken: snapshot chunk ${chunk.metadata.index}@${chunk.offset} after ${this.#metadata.index}@${this.#bytes}`,
        );
      }
      this.#parts.push(chunk.data);
      this.#bytes += chunk.data.length;
    }
  }

  /**
   * The whole snapshot `ref` names, from the chunks written; starts afresh.
   *
   * @throws {Error} when the chunks written are not all of it.
   */
  take(ref: SnapshotRef): Snapshot {
    if (this.#metadata?.index !== ref.metadata.index || this.#bytes !== ref.totalBytes) {
      throw new Error(
        `Raft contract broken: snapshot ${ref.metadata.index} of ${ref.totalBytes} bytes completed with ${this.#bytes} bytes of ${this.#metadata?.index ?? 'none'}`,
      );
    }
    const data = new Uint8Array(this.#bytes);
    let at = 0;
    for (const part of this.#parts) {
      data.set(part, at);
      at += part.length;
    }
    this.clear();
    return { metadata: ref.metadata, data };
  }

  /** Forgets the chunks written (a crash). */
  clear(): void {
    this.#metadata = undefined;
    this.#parts = [];
    this.#bytes = 0;
  }
}
