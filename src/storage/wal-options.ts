/**
 * The options and counters of the write-ahead log (`wal.ts`), and the
 * limits they default to.
 *
 * @module
 */
import { getDefaultLogger, type Logger } from '../base/logger.ts';
import { WAL_RECORD_HEADER_BYTES } from './wal-record.ts';

/** Default bytes per segment file: 64 MiB, preallocated. */
export const WAL_SEGMENT_BYTES_DEFAULT = 64 * 1024 * 1024;
/** Default largest record body: 4 MiB. A segment holds at least two records of this size. */
export const WAL_RECORD_BYTES_MAX_DEFAULT = 4 * 1024 * 1024;
/** Default most bytes appended and not yet handed to a sync's write: 64 MiB. */
export const WAL_BUFFER_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
/** The smallest `recordBytesMax` accepted: room for a checkpoint and a small batch of entries. */
export const WAL_RECORD_BYTES_MAX_MIN = 1024;

/**
 * Default largest write whose fdatasync runs on the calling thread rather
 * than on libuv's pool: none. Syncing small writes on the loop saves the
 * pool's round trip (a thread woken, its completion handed back): with
 * 4 KiB, A/B in one cluster, 10-15% less server CPU per put and 7-12% more
 * puts from 1 and 16 native clients, 1-14% more from 256. But while the
 * loop waits out the sync (0.3-0.45 ms when three members sync at once on
 * one disk) it takes in nothing, and requests that reach the Raft loop
 * through several asynchronous hops then arrive in small batches, each
 * paying a sync: keep-alives from 256 etcd3 clients, tiny entries, ran at
 * 7,200-8,100/s against 18,300-22,400 with every sync in the pool, at
 * twice the server CPU per renewal. A disk that stalls on such a write
 * would also hold the whole member, reads included. So it is off until
 * the WAL can tell an idle loop from a busy one.
 */
export const WAL_INLINE_SYNC_BYTES_MAX_DEFAULT = 0;

/** Options of {@link Wal.open}. */
export interface WalOptions {
  /** Bytes per segment; at least `2 × (recordBytesMax + 8)`. Default {@link WAL_SEGMENT_BYTES_DEFAULT}. */
  segmentBytes?: number;
  /** Largest record body, at least {@link WAL_RECORD_BYTES_MAX_MIN}. Default {@link WAL_RECORD_BYTES_MAX_DEFAULT}. */
  recordBytesMax?: number;
  /**
   * Most bytes appended and not yet handed to a sync, at least
   * `recordBytesMax + 8`; an append past it throws `LimitExceededError`
   * (the `LogStore` seam's append is synchronous, so it cannot wait). The
   * batch being written counts apart, so the WAL holds at most twice this.
   * Default {@link WAL_BUFFER_BYTES_MAX_DEFAULT}.
   */
  bufferBytesMax?: number;
  /**
   * Largest write whose fdatasync runs on the calling thread (0: none);
   * larger ones run in libuv's thread pool. Default {@link WAL_INLINE_SYNC_BYTES_MAX_DEFAULT} (none).
   */
  inlineSyncBytesMax?: number;
  /** Where torn tails and segment changes are reported. */
  logger?: Logger;
}

/** Counters of a {@link Wal}'s work since it was opened. */
export interface WalStats {
  /** Records appended. */
  appends: number;
  /** `sync()` calls. */
  syncs: number;
  /** Group commits: batches written (one per run of the sync loop). */
  flushes: number;
  /** `write` system calls for records (one per batch and segment, more only on a short write). */
  writes: number;
  /** `fdatasync` calls for records (one per batch and segment). */
  fdatasyncs: number;
  /** Those of them made on the calling thread (see {@link WalOptions.inlineSyncBytesMax}). */
  inlineFdatasyncs: number;
  /** Record bytes written. */
  bytesWritten: number;
  segmentsCreated: number;
  segmentsDeleted: number;
}

/** {@link WalOptions} with every default filled in and every limit checked. */
export interface WalSettings {
  readonly segmentBytes: number;
  readonly recordBytesMax: number;
  readonly bufferBytesMax: number;
  readonly inlineSyncBytesMax: number;
  readonly logger: Logger;
}

function atLeast(name: string, value: number, minimum: number): number {
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new RangeError(`Cannot open WAL: ${name} is ${value}, below ${minimum} or not an integer`);
  }
  return value;
}

/**
 * The settings `options` asks for.
 *
 * @throws {RangeError} when a limit is not an integer or is below what the
 * others need: a segment must hold a checkpoint and the largest record,
 * and the buffer the largest record.
 */
export function walSettings(options: WalOptions): WalSettings {
  const recordBytesMax = atLeast(
    'recordBytesMax',
    options.recordBytesMax ?? WAL_RECORD_BYTES_MAX_DEFAULT,
    WAL_RECORD_BYTES_MAX_MIN,
  );
  const recordMax = recordBytesMax + WAL_RECORD_HEADER_BYTES;
  return {
    recordBytesMax,
    segmentBytes: atLeast('segmentBytes', options.segmentBytes ?? WAL_SEGMENT_BYTES_DEFAULT, 2 * recordMax),
    bufferBytesMax: atLeast(
      'bufferBytesMax',
      options.bufferBytesMax ?? WAL_BUFFER_BYTES_MAX_DEFAULT,
      recordMax,
    ),
    inlineSyncBytesMax: atLeast(
      'inlineSyncBytesMax',
      options.inlineSyncBytesMax ?? WAL_INLINE_SYNC_BYTES_MAX_DEFAULT,
      0,
    ),
    logger: options.logger ?? getDefaultLogger(),
  };
}

/** Counters at zero. */
export function walStatsZero(): WalStats {
  return {
    appends: 0,
    syncs: 0,
    flushes: 0,
    writes: 0,
    fdatasyncs: 0,
    inlineFdatasyncs: 0,
    bytesWritten: 0,
    segmentsCreated: 0,
    segmentsDeleted: 0,
  };
}
