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
 * @module
 */
import { crc32 } from 'node:zlib';
import { decode, encode } from '../codec/msgpack.ts';
import type { Snapshot, SnapshotMetadata } from '../raft/types.ts';
import { corruptionAt } from './errors.ts';

/** First bytes of every snapshot file. */
export const SNAPSHOT_FILE_MAGIC = Buffer.from('TSNP', 'latin1');
/** The format version this code writes and reads. */
export const SNAPSHOT_FILE_VERSION = 1;
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
export function encodeSnapshotHeader(metadataBytes: number, dataBytes: number, crc: number): Buffer {
  const header = Buffer.alloc(SNAPSHOT_FILE_HEADER_BYTES);
  SNAPSHOT_FILE_MAGIC.copy(header, 0);
  header[4] = SNAPSHOT_FILE_VERSION;
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

/**
 * The snapshot a file's bytes hold. The data is a plain `Uint8Array` view into `bytes`.
 *
 * @throws {CorruptionError} when the bytes are not a whole, checksummed
 * snapshot file.
 */
export function decodeSnapshotFile(path: string, bytes: Buffer): Snapshot {
  const bad = (offset: number, why: string) => corruptionAt('the snapshot', path, offset, why);
  if (bytes.length < SNAPSHOT_FILE_HEADER_BYTES || !bytes.subarray(0, 4).equals(SNAPSHOT_FILE_MAGIC)) {
    throw bad(0, 'it does not start with a snapshot header');
  }
  if (bytes[4] !== SNAPSHOT_FILE_VERSION) throw bad(4, `format version ${bytes[4]} is unknown`);
  const metadataBytes = bytes.readUInt32BE(5);
  const dataBytes = bytes.readUInt32BE(9);
  if (SNAPSHOT_FILE_HEADER_BYTES + metadataBytes + dataBytes !== bytes.length) {
    throw bad(
      5,
      `the header says ${metadataBytes + dataBytes} bytes follow, the file has ${bytes.length - SNAPSHOT_FILE_HEADER_BYTES}`,
    );
  }
  const body = bytes.subarray(SNAPSHOT_FILE_HEADER_BYTES);
  if (crc32(body) !== bytes.readUInt32BE(13))
    throw bad(SNAPSHOT_FILE_HEADER_BYTES, 'the checksum does not match');
  let metadata: SnapshotMetadata;
  try {
    metadata = decodeMetadata(body.subarray(0, metadataBytes));
  } catch (error) {
    throw bad(
      SNAPSHOT_FILE_HEADER_BYTES,
      `checksummed metadata does not decode: ${(error as Error).message}`,
    );
  }
  const data = new Uint8Array(body.buffer, body.byteOffset + metadataBytes, dataBytes);
  return { metadata, data };
}
