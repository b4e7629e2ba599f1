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
    bytesWritten: 0,
    segmentsCreated: 0,
    segmentsDeleted: 0,
  };
}
