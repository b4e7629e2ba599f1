/**
 * Checksums for frames on the wire and records on disk.
 *
 * CRC-32 (IEEE) through Node's native `zlib.crc32` (Node >= 20.15): it runs at
 * memory speed with no dependency. TCP's own 16-bit checksum misses real
 * corruption often enough that every frame and every log record carries this.
 *
 * @module
 */
import { crc32 } from 'node:zlib';

/** The CRC-32 of `bytes`, as an unsigned 32-bit integer. */
export function checksum(bytes: Uint8Array): number {
  return crc32(bytes);
}
