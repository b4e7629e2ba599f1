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

/**
 * Decodes a stream of MessagePack values that arrives in pieces cut
 * anywhere (a snapshot image read a chunk at a time): each {@link push}
 * returns the values its bytes completed and keeps the tail of an
 * unfinished one for the next. msgpackr's own `UnpackrStream` does the
 * same as a Node stream; this is the synchronous form, with the tail
 * bounded.
 *
 * @example
 * ```ts
 * const decoder = new MultiDecoder(64 * 1024 * 1024);
 * for await (const piece of pieces) for (const value of decoder.push(piece)) use(value);
 * decoder.end();
 * ```
 */
export class MultiDecoder {
  readonly #pendingBytesMax: number;
  #pending: Uint8Array | undefined;

  /** @param pendingBytesMax the largest single value accepted, in bytes. */
  constructor(pendingBytesMax: number) {
    this.#pendingBytesMax = pendingBytesMax;
  }

  /**
   * The values completed by `bytes`, in order.
   *
   * @throws {ProtocolError} when the bytes are not valid MessagePack, or an
   * unfinished value passes `pendingBytesMax`.
   */
  push(bytes: Uint8Array): unknown[] {
    const input = this.#pending === undefined ? bytes : Buffer.concat([this.#pending, bytes]);
    this.#pending = undefined;
    const values: unknown[] = [];
    let consumed = 0;
    if (input.length === 0) return values;
    try {
      packr.unpackMultiple(input, (value: unknown, _start?: number, end?: number) => {
        values.push(value);
        consumed = end ?? input.length;
      });
    } catch (error) {
      if ((error as { incomplete?: boolean }).incomplete !== true) {
        throw new ProtocolError(`Cannot decode a MessagePack stream: ${(error as Error).message}`, {
          cause: error,
        });
      }
      // A copy: `input` may be the caller's buffer, reused after we return.
      this.#pending = Uint8Array.prototype.slice.call(input, consumed);
      if (this.#pending.length > this.#pendingBytesMax) {
        throw new ProtocolError(
          `Cannot decode a MessagePack stream: a value passes ${this.#pendingBytesMax} bytes`,
        );
      }
    }
    return values;
  }

  /**
   * The stream ended.
   *
   * @throws {ProtocolError} when it ended inside a value.
   */
  end(): void {
    if (this.#pending !== undefined && this.#pending.length > 0) {
      throw new ProtocolError(
        `Cannot decode a MessagePack stream: it ends inside a value (${this.#pending.length} bytes left)`,
      );
    }
  }
}
