/**
 * The Raft log as the core sees it: the durable part (through
 * {@link RaftStorage}) followed by the unstable part not yet persisted.
 *
 * @module
 */
import { CompactedError } from '../base/errors.ts';
import type { RaftStorage } from './storage.ts';
import { type Entry, entryBytes, type SnapshotRef } from './types.ts';

/** The core's view of the log. */
export class RaftLog {
  readonly storage: RaftStorage;
  // Invariant: #unstable[i] has index #unstableOffset + i; the unstable entries follow the stable ones
  // (or #unstableSnapshot) without a gap.
  #unstableOffset: number;
  #unstable: Entry[] = [];
  #unstableSnapshot: SnapshotRef | undefined;
  /** Highest index known committed. Invariant: applied <= committed <= lastIndex(). */
  committed: number;
  /** Highest index applied to the state machine. */
  applied: number;
  // The `skip-truncate-on-conflict` test bug: keep conflicting entries.
  readonly #keepConflicts: boolean;

  constructor(storage: RaftStorage, options: { keepConflicts?: boolean } = {}) {
    this.storage = storage;
    this.#keepConflicts = options.keepConflicts ?? false;
    this.#unstableOffset = storage.lastIndex() + 1;
    this.committed = storage.firstIndex() - 1;
    this.applied = storage.firstIndex() - 1;
  }

  firstIndex(): number {
    return this.#unstableSnapshot === undefined
      ? this.storage.firstIndex()
      : this.#unstableSnapshot.metadata.index + 1;
  }

  lastIndex(): number {
    if (this.#unstable.length > 0) return this.#unstableOffset + this.#unstable.length - 1;
    if (this.#unstableSnapshot !== undefined) return this.#unstableSnapshot.metadata.index;
    return this.storage.lastIndex();
  }

  /** The last index known durable (everything before the unstable entries). */
  lastStableIndex(): number {
    return this.#unstableOffset - 1;
  }

  /** The term of entry `index`, or undefined when it is compacted or not yet in the log. */
  term(index: number): number | undefined {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return undefined;
    const snapshot = this.#unstableSnapshot;
    if (snapshot !== undefined && index === snapshot.metadata.index) return snapshot.metadata.term;
    if (index >= this.#unstableOffset) return this.#unstable[index - this.#unstableOffset]?.term;
    try {
      return this.storage.term(index);
    } catch (error) {
      if (error instanceof CompactedError) return undefined;
      throw error;
    }
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    if (term === undefined)
      throw new Error(`Raft log invariant broken: no term for last index ${this.lastIndex()}`);
    return term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Whether a log ending at (`lastIndex`, `lastTerm`) is at least as up to date as ours (thesis §3.6.1). */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * The index of the first of `entries` that is new or conflicts with ours
   * (a different term at the same index), or 0 when all are already here.
   */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The largest index at or below `index` whose term is at or below `term`:
   * where a leader's log (with `term` at `index`) can next agree with ours.
   * Used for fast backtracking of rejected appends (thesis §3.5 optimisation).
   */
  findConflictByTerm(index: number, term: number): number {
    let candidate = Math.min(index, this.lastIndex());
    for (; candidate >= this.firstIndex() - 1; candidate--) {
      const ourTerm = this.term(candidate);
      if (ourTerm === undefined || ourTerm <= term) break;
    }
    return Math.max(candidate, 0);
  }

  /**
   * Appends a leader's entries that follow (`index`, `logTerm`), when our
   * log has that entry; cuts our conflicting suffix first (thesis §3.5).
   *
   * @returns the index of the last new entry, or undefined when our log
   *   does not contain (`index`, `logTerm`).
   */
  maybeAppend(
    index: number,
    logTerm: number,
    committed: number,
    entries: readonly Entry[],
  ): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      if (conflict <= this.committed) {
        throw new Error(`Raft safety broken: entry ${conflict} conflicts with committed ${this.committed}`);
      }
      const fresh = entries.slice(conflict - (index + 1));
      this.append(this.#keepConflicts ? fresh.filter((entry) => entry.index > this.lastIndex()) : fresh);
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** Appends entries to the unstable part, replacing any suffix they overlap. */
  append(entries: readonly Entry[]): number {
    const head = entries[0];
    if (head === undefined) return this.lastIndex();
    if (head.index - 1 < this.committed) {
      throw new Error(
        `Raft safety broken: append at ${head.index} would overwrite committed ${this.committed}`,
      );
    }
    if (head.index > this.lastIndex() + 1) {
      throw new Error(
        `Raft log invariant broken: append at ${head.index} leaves a gap after ${this.lastIndex()}`,
      );
    }
    const end = this.#unstableOffset + this.#unstable.length;
    if (head.index === end) {
      this.#unstable.push(...entries);
    } else if (head.index <= this.#unstableOffset) {
      // The entries replace all unstable ones and overwrite part of the stable log.
      this.#unstableOffset = head.index;
      this.#unstable = [...entries];
    } else {
      this.#unstable = [...this.#unstable.slice(0, head.index - this.#unstableOffset), ...entries];
    }
    return this.lastIndex();
  }

  /** Entries not yet persisted. */
  unstableEntries(): Entry[] {
    return [...this.#unstable];
  }

  /** A snapshot received but not yet persisted. */
  unstableSnapshot(): SnapshotRef | undefined {
    return this.#unstableSnapshot;
  }

  /** Marks entries up to (`index`, `term`) as persisted. */
  stableTo(index: number, term: number): void {
    const position = index - this.#unstableOffset;
    if (position < 0 || this.#unstable[position]?.term !== term) return;
    this.#unstable = this.#unstable.slice(position + 1);
    this.#unstableOffset = index + 1;
  }

  /** Marks the unstable snapshot at `index` as persisted. */
  stableSnapshotTo(index: number): void {
    if (this.#unstableSnapshot?.metadata.index === index) this.#unstableSnapshot = undefined;
  }

  /** Entries in [lo, hi) up to about `bytesMax`, or undefined when `lo` is compacted. */
  slice(lo: number, hi: number, bytesMax: number): Entry[] | undefined {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) return undefined;
    if (hi > this.lastIndex() + 1)
      throw new Error(`Raft log invariant broken: slice to ${hi - 1} past ${this.lastIndex()}`);
    const out: Entry[] = [];
    let bytes = 0;
    if (lo < this.#unstableOffset) {
      let stored: Entry[];
      try {
        stored = this.storage.entries(lo, Math.min(hi, this.#unstableOffset), bytesMax);
      } catch (error) {
        if (error instanceof CompactedError) return undefined;
        throw error;
      }
      for (const entry of stored) bytes += entryBytes(entry);
      out.push(...stored);
      if (stored.length < Math.min(hi, this.#unstableOffset) - lo) return out;
    }
    for (let index = Math.max(lo, this.#unstableOffset); index < hi; index++) {
      const entry = this.#unstable[index - this.#unstableOffset] as Entry;
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(entry);
    }
    return out;
  }

  /** Committed entries not yet applied, up to about `bytesMax`. */
  nextCommittedEntries(bytesMax: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    return this.slice(lo, this.committed + 1, bytesMax) ?? [];
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) {
      throw new Error(`Raft log invariant broken: commit ${index} is past last index ${this.lastIndex()}`);
    }
    this.committed = index;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    if (index > this.committed || index < this.applied) {
      throw new Error(
        `Raft log invariant broken: applied ${index} outside [${this.applied}, ${this.committed}]`,
      );
    }
    this.applied = index;
  }

  /** Commits `index` if it carries `term` (only current-term entries are committed by counting, §3.6.2). */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /** Resets the log to a snapshot received from the leader. */
  restore(snapshot: SnapshotRef): void {
    this.committed = snapshot.metadata.index;
    this.#unstableOffset = snapshot.metadata.index + 1;
    this.#unstable = [];
    this.#unstableSnapshot = snapshot;
  }

  /** The newest snapshot, unstable or stored. */
  snapshot(): SnapshotRef {
    return this.#unstableSnapshot ?? this.storage.snapshot();
  }
}
