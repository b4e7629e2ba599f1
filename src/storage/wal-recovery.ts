/**
 * Recovery of the write-ahead log on open: read every segment in order,
 * check every record, hand them to the caller, and decide what a bad record
 * means.
 *
 * - A torn or corrupt record at the tail of the last segment, with nothing
 *   valid after it, is what a crash in the middle of a write leaves: it is
 *   cut off (zeroed), logged, and never applied. That write's `sync()` never
 *   resolved, so nobody was told it was durable.
 * - Anything else is corruption of data that was synced: a bad record with
 *   valid records after it, a bad record in a segment that is not the last
 *   (a segment is fully synced before the next one is started), a segment
 *   missing from the sequence, or a checkpoint that disagrees with the
 *   records before it. Recovery throws a {@link CorruptionError} naming the
 *   file and offset: a member that silently dropped a synced record could
 *   forget a vote or an entry it acknowledged, which breaks Raft's safety.
 *
 * @module
 */
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../base/logger.ts';
import { CorruptionError, corruptionAt } from './errors.ts';
import { syncDirectory } from './files.ts';
import {
  positionAfter,
  positionsEqual,
  WAL_POSITION_EMPTY,
  type WalCheckpoint,
  type WalPosition,
  type WalRecord,
  WalRecordType,
} from './wal-record.ts';
import {
  findRecordAfter,
  lastNonZeroEnd,
  parseSegmentFileName,
  type SegmentName,
  type SegmentScan,
  scanSegment,
} from './wal-segment.ts';

/** Receives what recovery reads, in order. */
export interface WalReplay {
  /**
   * The state the first segment starts from. When earlier segments were
   * deleted, the entries after `base` up to `last` are gone with them: the
   * caller holds them as unknown (a later compaction or reset in the WAL,
   * which recovery checks is there, releases them).
   */
  start(checkpoint: WalCheckpoint): void;
  /** Every later record except checkpoints (which recovery checks itself). */
  record(record: WalRecord): void;
}

/** A segment that recovery found and kept. */
export interface RecoveredSegment {
  readonly name: SegmentName;
  /** Full path. */
  readonly path: string;
  readonly checkpoint: WalCheckpoint;
  /** Whether a reset record is in it. */
  readonly hasReset: boolean;
}

/** What the WAL looks like after recovery. */
export interface WalRecovery {
  /** Segments in order; empty for a new WAL. */
  readonly segments: RecoveredSegment[];
  /** The position after the last good record. */
  readonly position: WalPosition;
  /** Offset in the last segment just past its last good record. */
  readonly tailOffset: number;
  /** Bytes of the last segment: [tailOffset, dirtyEnd) hold a torn record to zero. */
  readonly dirtyEnd: number;
}

/** A segment being preallocated under a temporary name, or the spare one (`wal-spare.log.tmp`). */
const TEMPORARY_SEGMENT = /^wal-([0-9a-f]{16}-[0-9a-f]{16}|spare)\.log\.tmp$/;

async function listSegments(dir: string, logger: Logger): Promise<{ name: SegmentName; path: string }[]> {
  const segments: { name: SegmentName; path: string }[] = [];
  for (const file of await readdir(dir)) {
    if (TEMPORARY_SEGMENT.test(file)) {
      // A segment still being preallocated in a crash: it holds nothing yet.
      logger.info({ file: join(dir, file) }, 'Removing a WAL segment left half-created by a crash');
      await unlink(join(dir, file));
      continue;
    }
    const name = parseSegmentFileName(file);
    if (name !== undefined) segments.push({ name, path: join(dir, file) });
  }
  segments.sort((a, b) => a.name.sequence - b.name.sequence);
  for (let i = 1; i < segments.length; i++) {
    const previous = (segments[i - 1] as (typeof segments)[number]).name.sequence;
    const { name, path } = segments[i] as (typeof segments)[number];
    if (name.sequence !== previous + 1) {
      throw new CorruptionError(
        `Cannot open the WAL: segment ${previous + 1} is missing before ${path} (sequence ${name.sequence})`,
        { details: { file: path, offset: 0 } },
      );
    }
  }
  return segments;
}

/** Recovery's running state across segments. */
class WalRecoveryRun {
  readonly #replay: WalReplay;
  readonly segments: RecoveredSegment[] = [];
  position: WalPosition | undefined;
  // The last index of the first segment's checkpoint while no compaction or reset at or past it was read.
  #gapEnd: number | undefined;
  #gapFile = '';

  constructor(replay: WalReplay) {
    this.#replay = replay;
  }

  /** Checks a segment's checkpoint and hands its other good records to the replay. */
  apply(path: string, name: SegmentName, scan: SegmentScan): void {
    const [head, ...rest] = scan.records;
    const checkpoint = head?.record.type === WalRecordType.checkpoint ? head.record.checkpoint : undefined;
    if (checkpoint === undefined || checkpoint.sequence !== name.sequence) {
      throw corruptionAt('the WAL', path, 0, `the segment does not start with its checkpoint`);
    }
    if (checkpoint.last.index + 1 !== name.firstIndex) {
      throw corruptionAt(
        'the WAL',
        path,
        0,
        `the checkpoint's last index ${checkpoint.last.index} disagrees with the file name`,
      );
    }
    if (this.position === undefined) {
      this.#replay.start(checkpoint);
      const { base, last, hardState } = checkpoint;
      this.position = { base, last, hardState };
      if (checkpoint.base.index < checkpoint.last.index) {
        this.#gapEnd = checkpoint.last.index;
        this.#gapFile = path;
      }
    } else if (!positionsEqual(this.position, checkpoint)) {
      throw corruptionAt('the WAL', path, 0, 'its checkpoint disagrees with the records before it');
    }
    let hasReset = false;
    for (const { record, offset } of rest) {
      if (record.type === WalRecordType.checkpoint) {
        throw corruptionAt('the WAL', path, offset, 'a checkpoint in the middle of a segment');
      }
      try {
        this.#replay.record(record);
      } catch (error) {
        throw corruptionAt('the WAL', path, offset, `the record does not apply: ${(error as Error).message}`);
      }
      this.position = positionAfter(this.position, record);
      if (record.type === WalRecordType.reset) {
        hasReset = true;
        this.#gapEnd = undefined;
      } else if (record.type === WalRecordType.compact && record.index >= (this.#gapEnd ?? 0)) {
        this.#gapEnd = undefined;
      }
    }
    this.segments.push({ name, path, checkpoint, hasReset });
  }

  /** @throws {CorruptionError} when the first segment needs entries of a deleted one. */
  finish(): void {
    if (this.#gapEnd === undefined) return;
    throw corruptionAt(
      'the WAL',
      this.#gapFile,
      0,
      `the entries up to ${this.#gapEnd} before this segment are missing, and no compaction released them`,
    );
  }
}

/**
 * Reads the WAL in `dir`, calling `replay` for its records in order.
 *
 * @throws {CorruptionError} (rejects) as described in this module's doc.
 */
export async function recoverWal(
  dir: string,
  recordBytesMax: number,
  replay: WalReplay,
  logger: Logger,
): Promise<WalRecovery> {
  const found = await listSegments(dir, logger);
  const run = new WalRecoveryRun(replay);
  let tailOffset = 0;
  let dirtyEnd = 0;
  for (let i = 0; i < found.length; i++) {
    const { name, path } = found[i] as (typeof found)[number];
    const bytes = await readFile(path);
    const scan = scanSegment(path, bytes, recordBytesMax);
    const isLast = i === found.length - 1;
    if (scan.damage !== undefined) {
      if (!isLast)
        throw corruptionAt('the WAL', path, scan.end, `${scan.damage} in a segment that is not the last`);
      const after = findRecordAfter(bytes, scan.end + 1, recordBytesMax);
      if (after !== -1) {
        throw corruptionAt(
          'the WAL',
          path,
          scan.end,
          `${scan.damage}, and a good record follows at byte ${after}`,
        );
      }
    }
    if (isLast && scan.records.length === 0) {
      // A segment started in a crash before its checkpoint was durable holds nothing: drop it.
      logger.warn({ file: path }, 'Removing a WAL segment whose first record never became durable');
      await unlink(path);
      await syncDirectory(dir);
      break;
    }
    run.apply(path, name, scan);
    tailOffset = scan.end;
    dirtyEnd = scan.end;
    if (isLast && scan.damage !== undefined) {
      dirtyEnd = Math.max(lastNonZeroEnd(bytes, scan.end), scan.end);
      logger.warn(
        { file: path, offset: scan.end, bytes: bytes.length - scan.end, why: scan.damage },
        'Cutting a torn record off the tail of the WAL: it was never synced',
      );
    }
  }
  run.finish();
  return {
    segments: run.segments,
    position: run.position ?? WAL_POSITION_EMPTY,
    tailOffset,
    dirtyEnd,
  };
}
