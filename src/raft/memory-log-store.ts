/**
 * {@link MemoryLogStore}: the {@link LogStore} seam in memory, with a crash
 * model (see `memory-stores.ts`).
 *
 * @module
 */
import { CompactedError } from '../base/errors.ts';
import type { LogStore } from './stores.ts';
import { type Entry, EntryType, entryBytes } from './types.ts';

const EMPTY_BYTES = new Uint8Array(0);

function placeholder(index: number, term: number): Entry {
  return { term, index, type: EntryType.normal, data: EMPTY_BYTES };
}

/**
 * One copy of a log in memory, with the {@link LogStore} semantics.
 *
 * Invariant: `#entries[0]` is a placeholder at the compaction point (index
 * `firstIndex() - 1`, with its term), so `#entries[i]` has index `offset + i`.
 */
class MemoryLog {
  #entries: Entry[];

  constructor(entries: Entry[] = [placeholder(0, 0)]) {
    this.#entries = entries;
  }

  clone(): MemoryLog {
    return new MemoryLog([...this.#entries]);
  }

  #offset(): number {
    return (this.#entries[0] as Entry).index;
  }

  firstIndex(): number {
    return this.#offset() + 1;
  }

  lastIndex(): number {
    return this.#offset() + this.#entries.length - 1;
  }

  term(index: number): number {
    const offset = this.#offset();
    if (index < offset) throw new CompactedError(`Cannot read term of ${index}: compacted up to ${offset}`);
    const entry = this.#entries[index - offset];
    if (entry === undefined) {
      throw new RangeError(`Cannot read term of ${index}: last index is ${this.lastIndex()}`);
    }
    return entry.term;
  }

  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    const offset = this.#offset();
    return readEntryRange(
      offset,
      this.lastIndex(),
      lo,
      hi,
      bytesMax,
      (index) => this.#entries[index - offset] as Entry,
    );
  }

  /** Throws, changing nothing, when {@link MemoryLog.append} would refuse `entries`. */
  checkAppend(entries: readonly Entry[]): void {
    for (let i = 1; i < entries.length; i++) {
      const previous = (entries[i - 1] as Entry).index;
      const index = (entries[i] as Entry).index;
      if (index !== previous + 1)
        throw new RangeError(`Cannot append entry ${index}: it follows ${previous}`);
    }
    const last = entries[entries.length - 1];
    if (last === undefined || last.index < this.firstIndex()) return;
    const head = Math.max((entries[0] as Entry).index, this.firstIndex());
    if (head > this.lastIndex() + 1) {
      throw new RangeError(`Cannot append entry ${head}: last index is ${this.lastIndex()}`);
    }
  }

  append(entries: readonly Entry[]): void {
    this.checkAppend(entries);
    const first = this.firstIndex();
    const fresh = entries.filter((entry) => entry.index >= first);
    const head = fresh[0];
    if (head === undefined) return;
    this.#entries.length = head.index - this.#offset();
    this.#entries.push(...fresh);
  }

  compact(index: number): void {
    const offset = this.#offset();
    if (index <= offset) return;
    if (index > this.lastIndex()) {
      throw new RangeError(`Cannot compact to ${index}: last index is ${this.lastIndex()}`);
    }
    const kept = this.#entries.slice(index - offset);
    kept[0] = placeholder(index, (kept[0] as Entry).term);
    this.#entries = kept;
  }

  resetTo(index: number, term: number): void {
    if (!Number.isSafeInteger(index) || index < 0 || !Number.isSafeInteger(term) || term < 0) {
      throw new RangeError(
        `Cannot reset the log to index ${index}, term ${term}: both must be integers >= 0`,
      );
    }
    this.#entries = [placeholder(index, term)];
  }
}

type LogWrite =
  | { readonly kind: 'append'; readonly entries: readonly Entry[] }
  | { readonly kind: 'compact'; readonly index: number }
  | { readonly kind: 'resetTo'; readonly index: number; readonly term: number };

function applyLogWrite(log: MemoryLog, write: LogWrite): void {
  switch (write.kind) {
    case 'append':
      log.append(write.entries);
      break;
    case 'compact':
      log.compact(write.index);
      break;
    case 'resetTo':
      log.resetTo(write.index, write.term);
      break;
  }
}

/**
 * A {@link LogStore} in memory. `crash()` returns it to the log of the last
 * `sync()`.
 *
 * @example
 * ```ts
 * const log = new MemoryLogStore();
 * log.append([{ index: 1, term: 1, type: EntryType.normal, data: new Uint8Array() }]);
 * log.crash(); // log.lastIndex() === 0: the entry was never synced
 * ```
 */
export class MemoryLogStore implements LogStore {
  #live = new MemoryLog();
  #durable = new MemoryLog();
  // Invariant: replaying #unsynced on #durable yields #live.
  #unsynced: LogWrite[] = [];

  firstIndex(): number {
    return this.#live.firstIndex();
  }

  lastIndex(): number {
    return this.#live.lastIndex();
  }

  term(index: number): number {
    return this.#live.term(index);
  }

  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    return this.#live.entries(lo, hi, bytesMax);
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    this.#write({ kind: 'append', entries: [...entries] });
  }

  compact(index: number): void {
    this.#write({ kind: 'compact', index });
  }

  resetTo(index: number, term: number): void {
    this.#write({ kind: 'resetTo', index, term });
  }

  // Applied to #live first, so a refused write is never recorded.
  #write(write: LogWrite): void {
    applyLogWrite(this.#live, write);
    this.#unsynced.push(write);
  }

  /** Makes every write so far durable; done when it returns. */
  sync(): Promise<void> {
    for (const write of this.#unsynced) applyLogWrite(this.#durable, write);
    this.#unsynced = [];
    return Promise.resolve();
  }

  /** Loses every write since the last sync. */
  crash(): void {
    this.#unsynced = [];
    this.#live = this.#durable.clone();
  }
}

/**
 * The entries in [lo, hi) of a log holding (base, last], stopping before
 * their bytes pass `bytesMax` but always at least one: the `LogStore.entries`
 * contract, shared by every log kept in memory.
 *
 * @throws {CompactedError} when `lo <= base`.
 * @throws {RangeError} when `hi > last + 1` or `lo > hi`.
 */
export function readEntryRange(
  base: number,
  last: number,
  lo: number,
  hi: number,
  bytesMax: number,
  at: (index: number) => Entry,
): Entry[] {
  if (lo <= base) throw new CompactedError(`Cannot read entries from ${lo}: compacted up to ${base}`);
  if (hi > last + 1) throw new RangeError(`Cannot read entries up to ${hi - 1}: last index is ${last}`);
  if (lo > hi) throw new RangeError(`Cannot read entries [${lo}, ${hi}): lo is past hi`);
  const out: Entry[] = [];
  let bytes = 0;
  for (let index = lo; index < hi; index++) {
    const entry = at(index);
    bytes += entryBytes(entry);
    if (out.length > 0 && bytes > bytesMax) break;
    out.push(entry);
  }
  return out;
}
