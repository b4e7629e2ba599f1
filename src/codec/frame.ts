/**
 * Length-prefixed, checksummed frames: the unit every Tessera byte stream is
 * cut into.
 *
 * ```
 * offset 0  u8     magic 0x54 ('T')   catches a peer speaking another protocol
 * offset 1  u8     version 1
 * offset 2  u32be  body length        bounded by frameBytesMax
 * offset 6  u32be  CRC-32 of the body
 * offset 10 body
 * ```
 *
 * The decoder never buffers more than one frame's worth of bytes beyond the
 * chunk it was handed, and refuses a frame whose declared length is over the
 * limit before reading its body.
 *
 * @module
 */
import { ChecksumError, ProtocolError, TooLargeError } from '../base/errors.ts';
import { checksum } from './checksum.ts';

/** First byte of every frame. */
export const FRAME_MAGIC = 0x54;
/** The frame format version this code writes and reads. */
export const FRAME_VERSION = 1;
/** Bytes before the body. */
export const FRAME_HEADER_BYTES = 10;
/** Default largest body accepted: 4 MiB, the same default as gRPC. */
export const FRAME_BODY_BYTES_MAX_DEFAULT = 4 * 1024 * 1024;

/**
 * Writes `bodies` as consecutive frames into one new buffer, so that a batch
 * leaves in one socket write.
 *
 * @throws {TooLargeError} when a body is longer than `bodyBytesMax`.
 */
export function encodeFrames(
  bodies: readonly Uint8Array[],
  bodyBytesMax = FRAME_BODY_BYTES_MAX_DEFAULT,
): Buffer {
  let total = 0;
  for (const body of bodies) {
    if (body.length > bodyBytesMax) {
      throw new TooLargeError(
        `Cannot frame body of ${body.length} bytes: frameBodyBytesMax is ${bodyBytesMax}`,
      );
    }
    total += FRAME_HEADER_BYTES + body.length;
  }
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const body of bodies) {
    out[offset] = FRAME_MAGIC;
    out[offset + 1] = FRAME_VERSION;
    out.writeUInt32BE(body.length, offset + 2);
    out.writeUInt32BE(checksum(body), offset + 6);
    out.set(body, offset + FRAME_HEADER_BYTES);
    offset += FRAME_HEADER_BYTES + body.length;
  }
  return out;
}

/**
 * Cuts a byte stream into frame bodies.
 *
 * Feed it chunks as they arrive; it calls `onFrame` with each whole body, in
 * order. After it throws, the stream is unusable (the caller closes the
 * connection): a frame boundary cannot be found again in a corrupt stream.
 *
 * @example
 * ```ts
 * const decoder = new FrameDecoder((body) => handle(decode(body)));
 * socket.on('data', (chunk) => decoder.push(chunk));
 * ```
 */
export class FrameDecoder {
  readonly #onFrame: (body: Buffer) => void;
  readonly #bodyBytesMax: number;
  // Invariant: #pending holds the bytes of at most one incomplete frame;
  // #pendingBytes is the sum of their lengths, and #pendingNeedBytes is how
  // many bytes that frame needs in all (just the header while its length is
  // not yet known), so a large frame arriving in many chunks is joined once.
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #pendingNeedBytes = 0;
  #failed = false;

  constructor(onFrame: (body: Buffer) => void, options: { bodyBytesMax?: number } = {}) {
    const bodyBytesMax = options.bodyBytesMax ?? FRAME_BODY_BYTES_MAX_DEFAULT;
    if (!(Number.isSafeInteger(bodyBytesMax) && bodyBytesMax > 0 && bodyBytesMax <= 0xffff_ffff)) {
      throw new RangeError(
        `Cannot create FrameDecoder: bodyBytesMax must be in [1, 2^32-1], got ${bodyBytesMax}`,
      );
    }
    this.#onFrame = onFrame;
    this.#bodyBytesMax = bodyBytesMax;
  }

  /** Bytes held while waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.#pendingBytes;
  }

  /**
   * Consumes a chunk, calling `onFrame` for every frame it completes.
   *
   * @throws {ProtocolError} on a bad magic byte or version.
   * @throws {TooLargeError} when a frame declares a body over the limit.
   * @throws {ChecksumError} when a body fails its checksum.
   */
  push(chunk: Buffer): void {
    if (this.#failed) throw new ProtocolError('Cannot decode frames: the stream already failed');
    let buffer = chunk;
    if (this.#pendingBytes > 0) {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      if (this.#pendingBytes < this.#pendingNeedBytes) return;
      buffer = Buffer.concat(this.#pending, this.#pendingBytes);
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    let offset = 0;
    try {
      while (buffer.length - offset >= FRAME_HEADER_BYTES) {
        const bodyBytes = this.#readHeader(buffer, offset);
        const end = offset + FRAME_HEADER_BYTES + bodyBytes;
        if (end > buffer.length) break;
        const body = buffer.subarray(offset + FRAME_HEADER_BYTES, end);
        const expected = buffer.readUInt32BE(offset + 6);
        if (checksum(body) !== expected) {
          throw new ChecksumError(`Cannot accept frame of ${bodyBytes} bytes: checksum mismatch`);
        }
        offset = end;
        this.#onFrame(body);
      }
    } catch (error) {
      this.#failed = true;
      throw error;
    }
    if (offset < buffer.length) {
      // A partial header of garbage is caught as soon as its first bytes arrive.
      if (buffer[offset] !== FRAME_MAGIC) this.#fail(`bad magic byte 0x${buffer[offset]?.toString(16)}`);
      const rest = buffer.subarray(offset);
      this.#pending.push(rest);
      this.#pendingBytes = rest.length;
      this.#pendingNeedBytes =
        rest.length >= FRAME_HEADER_BYTES
          ? FRAME_HEADER_BYTES + this.#readHeader(rest, 0)
          : FRAME_HEADER_BYTES;
    }
  }

  #readHeader(buffer: Buffer, offset: number): number {
    if (buffer[offset] !== FRAME_MAGIC) this.#fail(`bad magic byte 0x${buffer[offset]?.toString(16)}`);
    if (buffer[offset + 1] !== FRAME_VERSION) this.#fail(`unsupported frame version ${buffer[offset + 1]}`);
    const bodyBytes = buffer.readUInt32BE(offset + 2);
    if (bodyBytes > this.#bodyBytesMax) {
      this.#failed = true;
      throw new TooLargeError(
        `Cannot accept frame of ${bodyBytes} bytes: frameBodyBytesMax is ${this.#bodyBytesMax}`,
      );
    }
    return bodyBytes;
  }

  #fail(reason: string): never {
    this.#failed = true;
    throw new ProtocolError(`Cannot decode frame: ${reason}`);
  }
}
