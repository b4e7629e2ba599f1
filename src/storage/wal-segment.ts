/**
 * One segment file of the write-ahead log: its name, how it is created
 * (preallocated with zeros), and how its records are read back and checked.
 *
 * A segment is `wal-<16 hex sequence>-<16 hex first index>.log`: the
 * sequence orders segments (the first index alone cannot: `resetTo` may move
 * the log back to a lower index, and a conflict truncation may cut into an
 * earlier segment), and the first index (one past the last entry when the
 * segment was started) says at a glance which entries it may hold.
 *
 * @module
 */
import type { FileHandle } from 'node:fs/promises';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { corruptionAt } from './errors.ts';
import { syncDirectory, ZEROS, zeroFill } from './files.ts';
import { decodeWalRecord, isWalRecordAt, WAL_RECORD_HEADER_BYTES, type WalRecord } from './wal-record.ts';

const SEGMENT_NAME = /^wal-([0-9a-f]{16})-([0-9a-f]{16})\.log$/;

/** The sequence number and first index a segment's file name carries. */
export interface SegmentName {
  readonly sequence: number;
  readonly firstIndex: number;
}

/** The file name of a segment. */
export function segmentFileName(name: SegmentName): string {
  const hex = (value: number): string => value.toString(16).padStart(16, '0');
  return `wal-${hex(name.sequence)}-${hex(name.firstIndex)}.log`;
}

/** What a segment's file name says, or undefined when it is not a segment's name. */
export function parseSegmentFileName(file: string): SegmentName | undefined {
  const match = SEGMENT_NAME.exec(file);
  if (match === null) return undefined;
  const sequence = Number.parseInt(match[1] as string, 16);
  const firstIndex = Number.parseInt(match[2] as string, 16);
  if (!Number.isSafeInteger(sequence) || !Number.isSafeInteger(firstIndex)) return undefined;
  return { sequence, firstIndex };
}

/**
 * Creates a segment of `bytes` zeros and returns it open for writing.
 *
 * Preallocation writes real zeros rather than extending the file with
 * `truncate` (a sparse file). On ext4, `fdatasync` must also commit the
 * metadata needed to read the data back: a write that grows the file's size
 * or fills a hole of a sparse file allocates blocks, so every group commit
 * would wait for a journal commit as well as the data. Blocks written once
 * at creation are already allocated, and later fdatasyncs flush data only.
 * (Node has no `fallocate`, which would allocate without writing; zeros
 * cost one extra write of the segment, once per segment.) The zeros are
 * written under a temporary name and renamed into place, then the
 * directory is fsynced, so a crash never leaves a half-made segment under
 * a segment's name.
 */
export async function createSegmentFile(dir: string, file: string, bytes: number): Promise<FileHandle> {
  const handle = await createZeroedFile(join(dir, `${file}.tmp`), bytes);
  try {
    await installSegmentFile(dir, `${file}.tmp`, file);
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** The name of the spare segment: zeros made ahead of need, renamed into place when a segment starts. */
export const SPARE_SEGMENT_FILE = 'wal-spare.log.tmp';

/**
 * Creates the spare segment, `bytes` zeros synced (as {@link createSegmentFile}
 * makes a segment, but under {@link SPARE_SEGMENT_FILE}, left for
 * {@link installSegmentFile} to name), and returns it open for writing.
 */
export function createSpareSegmentFile(dir: string, bytes: number): Promise<FileHandle> {
  return createZeroedFile(join(dir, SPARE_SEGMENT_FILE), bytes);
}

/** Renames a synced file of zeros in `dir` to a segment's name and syncs the directory. */
export async function installSegmentFile(dir: string, from: string, file: string): Promise<void> {
  await rename(join(dir, from), join(dir, file));
  await syncDirectory(dir);
}

async function createZeroedFile(path: string, bytes: number): Promise<FileHandle> {
  const handle = await open(path, 'w+');
  try {
    await zeroFill(handle, 0, bytes);
    await handle.datasync();
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** Bytes compared against zeros at a time when looking for data. */
const ZERO_SCAN_CHUNK_BYTES = 64 * 1024;

/** The offset of the first non-zero byte in [from, to) of `bytes`, or -1. */
export function firstNonZero(bytes: Buffer, from: number, to = bytes.length): number {
  for (let at = from; at < to; at += ZERO_SCAN_CHUNK_BYTES) {
    const end = Math.min(at + ZERO_SCAN_CHUNK_BYTES, to);
    if (bytes.subarray(at, end).equals(ZEROS.subarray(0, end - at))) continue;
    for (let i = at; i < end; i++) if (bytes[i] !== 0) return i;
  }
  return -1;
}

/** One past the offset of the last non-zero byte at or after `from`, or `from` when there is none. */
export function lastNonZeroEnd(bytes: Buffer, from: number): number {
  for (let end = bytes.length; end > from; end -= ZERO_SCAN_CHUNK_BYTES) {
    const at = Math.max(from, end - ZERO_SCAN_CHUNK_BYTES);
    if (bytes.subarray(at, end).equals(ZEROS.subarray(0, end - at))) continue;
    for (let i = end - 1; i >= at; i--) if (bytes[i] !== 0) return i + 1;
  }
  return from;
}

/**
 * The offset of the first whole, checksummed record at or after `from`, or
 * -1. Runs of zeros are skipped quickly (a record's length field is never
 * all zeros), so the cost is in the non-zero bytes: after a crash, at most
 * the torn last write.
 */
export function findRecordAfter(bytes: Buffer, from: number, bodyBytesMax: number): number {
  for (let at = from; at + WAL_RECORD_HEADER_BYTES <= bytes.length; ) {
    if (bytes.readUInt32BE(at) === 0) {
      const next = firstNonZero(bytes, at + 4);
      if (next === -1) return -1;
      at = Math.max(at + 1, next - 3);
      continue;
    }
    if (isWalRecordAt(bytes, at, bodyBytesMax)) return at;
    at++;
  }
  return -1;
}

/** A record read back from a segment, with where it starts. */
export interface ScannedRecord {
  readonly record: WalRecord;
  readonly offset: number;
}

/** What {@link scanSegment} found. */
export interface SegmentScan {
  readonly records: ScannedRecord[];
  /** Offset just past the last good record: where the next one goes. */
  readonly end: number;
  /** Why the bytes at `end` are not a good record nor zeros to the end of the file, when they are not. */
  readonly damage: string | undefined;
}

/**
 * Reads the records of a segment from its bytes, stopping at the first
 * length of zero (the preallocated zeros after the last record) or at the
 * first record that is partial or fails its checksum. What the stop means
 * (a torn tail to cut, or corruption) is the caller's call: it depends on
 * whether this is the last segment and on what follows.
 *
 * @throws {CorruptionError} when a record passes its checksum but does not
 * decode: no crash writes that, only a bug or another program.
 */
export function scanSegment(file: string, bytes: Buffer, bodyBytesMax: number): SegmentScan {
  const records: ScannedRecord[] = [];
  let offset = 0;
  const stop = (damage: string | undefined): SegmentScan => ({ records, end: offset, damage });
  while (offset < bytes.length) {
    if (offset + WAL_RECORD_HEADER_BYTES > bytes.length) {
      return stop(
        firstNonZero(bytes, offset) === -1 ? undefined : 'a record header is cut off by the end of the file',
      );
    }
    const length = bytes.readUInt32BE(offset);
    if (length === 0) {
      const data = firstNonZero(bytes, offset);
      return stop(data === -1 ? undefined : `a zero record length is followed by data at byte ${data}`);
    }
    if (length > bodyBytesMax)
      return stop(`a record length of ${length} is over recordBytesMax ${bodyBytesMax}`);
    const end = offset + WAL_RECORD_HEADER_BYTES + length;
    if (end > bytes.length) return stop(`a record of ${length} bytes is cut off by the end of the file`);
    if (!isWalRecordAt(bytes, offset, bodyBytesMax)) return stop('a record fails its checksum');
    let record: WalRecord;
    try {
      record = decodeWalRecord(bytes.subarray(offset + WAL_RECORD_HEADER_BYTES, end));
    } catch (error) {
      throw corruptionAt(
        'the WAL',
        file,
        offset,
        `a checksummed record does not decode: ${(error as Error).message}`,
      );
    }
    records.push({ record, offset });
    offset = end;
  }
  return stop(undefined);
}
