/**
 * The file a snapshot is kept in: metadata and data together, checksummed.
 *
 * ```
 * offset 0   4 bytes  magic 'TSNP'
 * offset 4   u8       format version 1
 * offset 5   u32be    metadata length M
 * offset 9   u32be    data length D         (SNAPSHOT_BYTES_MAX < 2^31)
 * offset 13  u32be    CRC-32 of the M + D bytes after the header
 * offset 17  metadata: MessagePack [index, term, voters, learners]
 * offset 17 + M       data
 * ```
 *
 * The header is written last (a received snapshot's length and checksum
 * are known only at the end), and the file is renamed into place only
 * after it is synced, so a snapshot file under its final name is whole
 * unless the disk corrupted it, which the checksum catches.
 *
 * Format version 2 puts the same fields after the data, so that a file
 * written whole by someone else (a member's LMDB copy of its state, see
 * `DiskSnapshotStore.adoptFile`) becomes a snapshot file by appending to
 * it, without copying its data:
 *
 * ```
 * offset 0           data (D bytes)
 * offset D           metadata (M bytes)
 * offset D + M       the 17-byte header above, version 2 (its CRC over the data then the metadata)
 * ```
 *
 * A file is version 1 when it starts with a version-1 header whose lengths
 * add up to the file's size, whatever its data holds; otherwise it is
 * version 2 when its last 17 bytes are such a header whose lengths add up.
 *
 * @module
 */
import { type FileHandle, open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { decode, encode } from '../codec/msgpack.ts';
import type { SnapshotMetadata, SnapshotRef } from '../raft/types.ts';
import { corruptionAt } from './errors.ts';
import { readFully } from './files.ts';

/** First bytes of every snapshot file. */
export const SNAPSHOT_FILE_MAGIC = Buffer.from('TSNP', 'latin1');
/** The format version of files written as they arrive (header first). */
export const SNAPSHOT_FILE_VERSION = 1;
/** The format version of files whose data came first (header last, see the module doc). */
export const SNAPSHOT_FILE_VERSION_TRAILER = 2;
/** Bytes before the metadata. */
export const SNAPSHOT_FILE_HEADER_BYTES = 17;

const SNAPSHOT_NAME = /^snapshot-([0-9a-f]{16})\.snap$/;

/** The file name of the snapshot at `index`. */
export function snapshotFileName(index: number): string {
  return `snapshot-${index.toString(16).padStart(16, '0')}.snap`;
}

/** The index a snapshot file's name carries, or undefined when it is not a snapshot's name. */
export function parseSnapshotFileName(file: string): number | undefined {
  const match = SNAPSHOT_NAME.exec(file);
  if (match === null) return undefined;
  const index = Number.parseInt(match[1] as string, 16);
  return Number.isSafeInteger(index) ? index : undefined;
}

/**
 * The CRC-32 of `bytes` continuing from `previous`. The snapshot checksum
 * runs over chunks as they arrive, which `codec/checksum.ts`'s one-shot
 * `checksum` cannot do; it is the same `zlib.crc32`.
 */
export function crc32Continue(bytes: Uint8Array, previous: number): number {
  return crc32(bytes, previous);
}

/** The encoded metadata of a snapshot file. */
export function encodeSnapshotMetadata(metadata: SnapshotMetadata): Buffer {
  const { index, term, confState } = metadata;
  return encode([index, term, confState.voters, confState.learners]);
}

/** The header of a snapshot file whose metadata and data are `metadataBytes` and `dataBytes` long. */
export function encodeSnapshotHeader(
  metadataBytes: number,
  dataBytes: number,
  crc: number,
  version = SNAPSHOT_FILE_VERSION,
): Buffer {
  const header = Buffer.alloc(SNAPSHOT_FILE_HEADER_BYTES);
  SNAPSHOT_FILE_MAGIC.copy(header, 0);
  header[4] = version;
  header.writeUInt32BE(metadataBytes, 5);
  header.writeUInt32BE(dataBytes, 9);
  header.writeUInt32BE(crc, 13);
  return header;
}

function ids(value: unknown): number[] {
  if (!Array.isArray(value) || !value.every((id) => Number.isSafeInteger(id) && id > 0)) {
    throw new TypeError('a member list is not a list of positive integers');
  }
  return value as number[];
}

function decodeMetadata(bytes: Uint8Array): SnapshotMetadata {
  const fields = decode(bytes);
  if (!Array.isArray(fields) || fields.length !== 4)
    throw new TypeError('the metadata is not a list of 4 fields');
  const [index, term, voters, learners] = fields as unknown[];
  if (
    !Number.isSafeInteger(index) ||
    !Number.isSafeInteger(term) ||
    (index as number) < 0 ||
    (term as number) < 0
  ) {
    throw new TypeError('the index or term is not an integer >= 0');
  }
  return {
    index: index as number,
    term: term as number,
    confState: { voters: ids(voters), learners: ids(learners) },
  };
}

/** Bytes read at a time when checking a snapshot file. */
const CHECK_READ_BYTES = 1024 * 1024;

/** A checked snapshot file: what it holds and where its data starts. */
export interface SnapshotFile {
  readonly snapshot: SnapshotRef;
  /** File offset of the first data byte. */
  readonly dataOffset: number;
}

/**
 * Reads and checks the snapshot file at `path` a piece at a time (never
 * all of it in memory): the header, the metadata, and the checksum over
 * every byte after the header.
 *
 * @throws {CorruptionError} (rejects) when the file is not a whole,
 * checksummed snapshot file.
 */
export async function checkSnapshotFile(path: string): Promise<SnapshotFile> {
  const bad = (offset: number, why: string) => corruptionAt('the snapshot', path, offset, why);
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    const header =
      size < SNAPSHOT_FILE_HEADER_BYTES ? undefined : await readFully(handle, SNAPSHOT_FILE_HEADER_BYTES, 0);
    // A version-1 header whose lengths add up is read as one, whatever the data ends with; only then
    // is the file's end looked at for a version-2 header.
    const trailer = isWholeV1Header(header, size) ? undefined : await trailerOf(handle, size);
    if (trailer !== undefined) {
      const { metadataBytes, dataBytes } = trailer;
      const crc = await crcOf(handle, 0, dataBytes + metadataBytes);
      if (crc !== trailer.crc) throw bad(0, 'the checksum does not match');
      return {
        snapshot: {
          metadata: await readMetadata(handle, dataBytes, metadataBytes, bad),
          totalBytes: dataBytes,
        },
        dataOffset: 0,
      };
    }
    if (header === undefined || !header.subarray(0, 4).equals(SNAPSHOT_FILE_MAGIC)) {
      throw bad(0, 'it does not start with a snapshot header');
    }
    if (header[4] !== SNAPSHOT_FILE_VERSION) throw bad(4, `format version ${header[4]} is unknown`);
    const metadataBytes = header.readUInt32BE(5);
    const dataBytes = header.readUInt32BE(9);
    if (SNAPSHOT_FILE_HEADER_BYTES + metadataBytes + dataBytes !== size) {
      throw bad(
        5,
        `the header says ${metadataBytes + dataBytes} bytes follow, the file has ${size - SNAPSHOT_FILE_HEADER_BYTES}`,
      );
    }
    const crc = await crcOf(handle, SNAPSHOT_FILE_HEADER_BYTES, size);
    if (crc !== header.readUInt32BE(13)) throw bad(SNAPSHOT_FILE_HEADER_BYTES, 'the checksum does not match');
    return {
      snapshot: {
        metadata: await readMetadata(handle, SNAPSHOT_FILE_HEADER_BYTES, metadataBytes, bad),
        totalBytes: dataBytes,
      },
      dataOffset: SNAPSHOT_FILE_HEADER_BYTES + metadataBytes,
    };
  } finally {
    await handle.close();
  }
}

/** Whether `header` (a file's first bytes) is a version-1 header whose lengths add up to the file's `size`. */
function isWholeV1Header(header: Buffer | undefined, size: number): boolean {
  return (
    header?.subarray(0, 4).equals(SNAPSHOT_FILE_MAGIC) === true &&
    header[4] === SNAPSHOT_FILE_VERSION &&
    SNAPSHOT_FILE_HEADER_BYTES + header.readUInt32BE(5) + header.readUInt32BE(9) === size
  );
}

/** The version-2 header at the end of a file of `size` bytes, when it has one whose lengths add up. */
async function trailerOf(
  handle: FileHandle,
  size: number,
): Promise<{ metadataBytes: number; dataBytes: number; crc: number } | undefined> {
  if (size < SNAPSHOT_FILE_HEADER_BYTES) return undefined;
  const at = size - SNAPSHOT_FILE_HEADER_BYTES;
  const trailer = await readFully(handle, SNAPSHOT_FILE_HEADER_BYTES, at);
  if (!trailer.subarray(0, 4).equals(SNAPSHOT_FILE_MAGIC) || trailer[4] !== SNAPSHOT_FILE_VERSION_TRAILER) {
    return undefined;
  }
  const metadataBytes = trailer.readUInt32BE(5);
  const dataBytes = trailer.readUInt32BE(9);
  if (dataBytes + metadataBytes !== at) return undefined;
  return { metadataBytes, dataBytes, crc: trailer.readUInt32BE(13) };
}

/** The CRC-32 of the file's bytes in [from, to), read a piece at a time. */
export async function crcOf(handle: FileHandle, from: number, to: number): Promise<number> {
  let crc = 0;
  for (let at = from; at < to; ) {
    const piece = await readFully(handle, Math.min(CHECK_READ_BYTES, to - at), at);
    crc = crc32(piece, crc);
    at += piece.length;
  }
  return crc;
}

async function readMetadata(
  handle: FileHandle,
  at: number,
  length: number,
  bad: (offset: number, why: string) => Error,
): Promise<SnapshotMetadata> {
  try {
    return decodeMetadata(await readFully(handle, length, at));
  } catch (error) {
    throw bad(at, `checksummed metadata does not decode: ${(error as Error).message}`);
  }
}
