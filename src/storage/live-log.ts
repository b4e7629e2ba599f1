/**
 * {@link LiveLog}: the entries a disk log store holds, indexed in memory so
 * that the core's reads are synchronous (as etcd keeps its WAL's live tail
 * in a `MemoryStorage`).
 *
 * @module
 */
import { CompactedError } from '../base/errors.ts';
import { readEntryRange } from '../raft/memory-log-store.ts';
import type { Entry } from '../raft/types.ts';

/**
 * A log with the `LogStore` semantics, in memory: entries after a base
 * (the compaction point), plus the base's term.
 *
 * During recovery the log may start with unknown entries (see
 * {@link LiveLog.startWithUnknown}): holes in the array, which later
 * records must truncate or compact away before anyone reads the log.
 *
 * Invariant: `#entries[i]` has index `#base + 1 + i`, or is a hole when
 * that index is at most `#unknownEnd`.
 */
export class LiveLog {
  #base = 0;
  #baseTerm = 0;
  #entries: Entry[] = [];
  // The last index that may still be an unknown entry (0: none).
  #unknownEnd = 0;

  /**
   * Empties the log at (`base`, `baseTerm`), followed by entries up to
   * `last` whose content is unknown: recovery's start when the segments
   * holding them were deleted (their indexes and the truncations that
   * later records make are still exact, which an empty log at `last`
   * would not give).
   */
  startWithUnknown(base: number, baseTerm: number, last: number): void {
    this.resetTo(base, baseTerm);
    this.#entries.length = last - base;
    this.#unknownEnd = last;
  }

  /** Whether some entry held is still unknown (recovery then lacks data). */
  hasUnknown(): boolean {
    return this.#unknownEnd > this.#base && this.lastIndex() > this.#base;
  }

  /** Index of the first entry held. */
  firstIndex(): number {
    return this.#base + 1;
  }

  /** Index of the last entry held (`firstIndex() - 1` when empty). */
  lastIndex(): number {
    return this.#base + this.#entries.length;
  }

  /**
   * The term at `index`, the base included.
   *
   * @throws {CompactedError} when `index` is below the base.
   * @throws {RangeError} when `index` is past the last entry.
   */
  term(index: number): number {
    if (index === this.#base) return this.#baseTerm;
    if (index < this.#base)
      throw new CompactedError(`Cannot read term of ${index}: compacted up to ${this.#base}`);
    const entry = this.#entries[index - this.#base - 1];
    if (entry === undefined)
      throw new RangeError(`Cannot read term of ${index}: last index is ${this.lastIndex()}`);
    return entry.term;
  }

  /** See `LogStore.entries`. */
  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    return readEntryRange(
      this.#base,
      this.lastIndex(),
      lo,
      hi,
      bytesMax,
      (index) => this.#entries[index - this.#base - 1] as Entry,
    );
  }

  /**
   * The entries of `entries` that `append` would write (those at or after
   * the first index), after checking them.
   *
   * @throws {RangeError} when they are not consecutive, or would leave a
   * gap after the last entry.
   */
  entriesToAppend(entries: readonly Entry[]): readonly Entry[] {
    for (let i = 1; i < entries.length; i++) {
      const previous = (entries[i - 1] as Entry).index;
      const index = (entries[i] as Entry).index;
      if (index !== previous + 1)
        throw new RangeError(`Cannot append entry ${index}: it follows ${previous}`);
    }
    const skip = Math.max(0, this.firstIndex() - (entries[0]?.index ?? 0));
    const fresh = skip === 0 ? entries : entries.slice(skip);
    const head = fresh[0];
    if (head !== undefined && head.index > this.lastIndex() + 1) {
      throw new RangeError(`Cannot append entry ${head.index}: last index is ${this.lastIndex()}`);
    }
    return fresh;
  }

  /** See `LogStore.append`. @throws {RangeError} as {@link LiveLog.entriesToAppend}, changing nothing. */
  append(entries: readonly Entry[]): void {
    this.appendChecked(this.entriesToAppend(entries));
  }

  /** Appends what {@link LiveLog.entriesToAppend} returned (and nothing else). */
  appendChecked(fresh: readonly Entry[]): void {
    const head = fresh[0];
    if (head === undefined) return;
    this.#entries.length = head.index - this.#base - 1;
    for (const entry of fresh) this.#entries.push(entry);
    this.#unknownEnd = Math.min(this.#unknownEnd, head.index - 1);
  }

  /** See `LogStore.compact`. @throws {RangeError} when `index` is past the last entry. */
  compact(index: number): void {
    if (index <= this.#base) return;
    if (index > this.lastIndex()) {
      throw new RangeError(`Cannot compact to ${index}: last index is ${this.lastIndex()}`);
    }
    this.#baseTerm = this.term(index);
    this.#entries = this.#entries.slice(index - this.#base);
    this.#base = index;
  }

  /**
   * Replays a compaction record to (`index`, `term`): like `compact`, but
   * the record's term is the truth where the entry is unknown, and at the
   * base itself.
   *
   * @throws {RangeError} when `index` is past the last entry or its term is not `term`.
   */
  compactTo(index: number, term: number): void {
    if (index === this.#base) this.#baseTerm = term;
    if (index <= this.#base) return;
    if (index <= this.#unknownEnd && index <= this.lastIndex()) {
      this.#entries = this.#entries.slice(index - this.#base);
      this.#base = index;
      this.#baseTerm = term;
      return;
    }
    if (this.term(index) !== term) {
      throw new RangeError(
        `Cannot compact to ${index} at term ${term}: the entry there has term ${this.term(index)}`,
      );
    }
    this.compact(index);
  }

  /** See `LogStore.resetTo`. @throws {RangeError} when `index` or `term` is not an integer >= 0. */
  resetTo(index: number, term: number): void {
    if (!Number.isSafeInteger(index) || index < 0 || !Number.isSafeInteger(term) || term < 0) {
      throw new RangeError(
        `Cannot reset the log to index ${index}, term ${term}: both must be integers >= 0`,
      );
    }
    this.#base = index;
    this.#baseTerm = term;
    this.#entries = [];
    this.#unknownEnd = 0;
  }
}
