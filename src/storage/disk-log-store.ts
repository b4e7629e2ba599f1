/**
 * {@link DiskLogStore}: the `LogStore` seam over the write-ahead log.
 *
 * @module
 */
import type { LogStore } from '../raft/stores.ts';
import { type Entry, entryBytes } from '../raft/types.ts';
import type { LiveLog } from './live-log.ts';
import type { Wal } from './wal.ts';
import { type WalRecord, WalRecordType } from './wal-record.ts';

/**
 * Bytes an entries record takes besides its entries' `entryBytes` (type
 * byte, array headers, first index). `entryBytes` (data + 16) bounds each
 * entry's own encoding: array header 1, term up to 9, type 1, bin header up to 5.
 */
const ENTRIES_RECORD_OVERHEAD_BYTES = 16;

/**
 * `entries` as entries records of at most `recordBytesMax` bytes each (one
 * record unless they are large). An entry too large for a record alone gets
 * a record of its own, which the WAL refuses with `TooLargeError`.
 */
export function entriesRecords(entries: readonly Entry[], recordBytesMax: number): WalRecord[] {
  const records: WalRecord[] = [];
  let start = 0;
  let bytes = ENTRIES_RECORD_OVERHEAD_BYTES;
  entries.forEach((entry, i) => {
    const size = entryBytes(entry);
    if (i > start && bytes + size > recordBytesMax) {
      records.push({ type: WalRecordType.entries, entries: entries.slice(start, i) });
      start = i;
      bytes = ENTRIES_RECORD_OVERHEAD_BYTES;
    }
    bytes += size;
  });
  if (start < entries.length) {
    records.push({ type: WalRecordType.entries, entries: start === 0 ? entries : entries.slice(start) });
  }
  return records;
}

/**
 * A {@link LogStore} on disk: every write is a WAL record, and the live log
 * is indexed in memory (a {@link LiveLog}) for synchronous reads. Opened
 * through `WalStores.open`, which shares its WAL with the hard state.
 *
 * Each operation is one record (a large append several), so a crash keeps
 * it whole or not at all: a conflicting suffix is cut and overwritten by
 * the same record. Entries are kept by reference: the caller must not
 * modify them.
 *
 * Beyond the seam's errors, `append`, `compact` and `resetTo` throw the
 * WAL's: `TooLargeError` for an entry over `recordBytesMax`,
 * `LimitExceededError` when `bufferBytesMax` bytes already wait for a
 * sync, the sync's failure after one failed. Nothing is changed then.
 */
export class DiskLogStore implements LogStore {
  readonly #wal: Wal;
  readonly #live: LiveLog;

  /** A store over `wal`, whose records `live` already holds. Use `WalStores.open`. */
  constructor(wal: Wal, live: LiveLog) {
    this.#wal = wal;
    this.#live = live;
  }

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
    const fresh = this.#live.entriesToAppend(entries);
    if (fresh.length === 0) return;
    this.#wal.append(entriesRecords(fresh, this.#wal.recordBytesMax));
    this.#live.appendChecked(fresh);
  }

  compact(index: number): void {
    if (index < this.#live.firstIndex()) return;
    // Reads the term first: it throws RangeError past the last entry, before anything is written.
    const term = this.#live.term(index);
    this.#wal.append([{ type: WalRecordType.compact, index, term }]);
    this.#live.compact(index);
  }

  resetTo(index: number, term: number): void {
    if (!Number.isSafeInteger(index) || index < 0 || !Number.isSafeInteger(term) || term < 0) {
      throw new RangeError(
        `Cannot reset the log to index ${index}, term ${term}: both must be integers >= 0`,
      );
    }
    this.#wal.append([{ type: WalRecordType.reset, index, term }]);
    this.#live.resetTo(index, term);
  }

  /** Makes every write so far durable: one group commit of the WAL, shared with the hard state. */
  sync(): Promise<void> {
    return this.#wal.sync();
  }
}
