/**
 * The one MessagePack configuration every Tessera wire and file uses.
 *
 * msgpackr is the fastest MessagePack implementation for Node. Records
 * (msgpackr's shared-structure extension) are off so that any MessagePack
 * implementation in another language can read what we write.
 *
 * @module
 */
import { Packr } from 'msgpackr';
import { ProtocolError } from '../base/errors.ts';

const packr = new Packr({ useRecords: false, moreTypes: false });

/**
 * Encodes a value. The returned buffer may share its `ArrayBuffer` with other
 * results (never overlapping them); copy it if you need a standalone buffer.
 */
export function encode(value: unknown): Buffer {
  return packr.pack(value);
}

/**
 * Decodes one MessagePack value.
 *
 * Maps decode as plain objects. A key named `__proto__` comes back as
 * `__proto_` (msgpackr's defence against prototype pollution from untrusted
 * bytes): safe, but not faithful, so do not use that key in payloads.
 *
 * @throws {ProtocolError} when `bytes` is not exactly one valid MessagePack value.
 */
export function decode(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (error) {
    throw new ProtocolError(
      `Cannot decode MessagePack body of ${bytes.length} bytes: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Decodes a sequence of MessagePack values written back to back (a stream
 * of records, such as a snapshot image).
 *
 * @throws {ProtocolError} when `bytes` is not a whole number of valid values.
 */
export function decodeMultiple(bytes: Uint8Array): unknown[] {
  try {
    return packr.unpackMultiple(bytes);
  } catch (error) {
    throw new ProtocolError(
      `Cannot decode a MessagePack stream of ${bytes.length} bytes: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}
