import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ChecksumError, ProtocolError, TooLargeError } from '../base/errors.ts';
import { encodeFrames, FRAME_HEADER_BYTES, FrameDecoder } from './frame.ts';

/** Splits `bytes` at the given cut points (sorted, deduplicated, in range). */
function cut(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks.filter((chunk) => chunk.length > 0);
}

function decodeAll(chunks: Buffer[], bodyBytesMax?: number): Buffer[] {
  const bodies: Buffer[] = [];
  const decoder = new FrameDecoder(
    (body) => bodies.push(Buffer.from(body)),
    bodyBytesMax === undefined ? {} : { bodyBytesMax },
  );
  for (const chunk of chunks) decoder.push(chunk);
  assert.equal(decoder.bufferedBytes, 0, 'no bytes may be left over after whole frames');
  return bodies;
}

describe('FrameDecoder', () => {
  it('round-trips any bodies cut into any chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (bodies, cuts) => {
          const stream = encodeFrames(bodies);
          const decoded = decodeAll(cut(stream, cuts));
          assert.deepEqual(
            decoded.map((b) => [...b]),
            bodies.map((b) => [...b]),
          );
        },
      ),
    );
  });

  it('detects any single flipped byte in a body as a checksum error', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (body, at, flip) => {
          const stream = encodeFrames([body]);
          const index = FRAME_HEADER_BYTES + (at % body.length);
          stream[index] = (stream[index] ?? 0) ^ flip;
          assert.throws(() => decodeAll([stream]), ChecksumError);
        },
      ),
    );
  });

  it('refuses a frame over bodyBytesMax from its header, before its body arrives', () => {
    const stream = encodeFrames([Buffer.alloc(1000)]);
    const decoder = new FrameDecoder(() => assert.fail('no frame may be delivered'), { bodyBytesMax: 999 });
    assert.throws(() => decoder.push(stream.subarray(0, FRAME_HEADER_BYTES)), TooLargeError);
    assert.throws(
      () => decoder.push(stream.subarray(FRAME_HEADER_BYTES)),
      ProtocolError,
      'a failed stream stays failed',
    );
  });

  it('refuses garbage bytes as a protocol error, even a single byte', () => {
    assert.throws(() => decodeAll([Buffer.from('GET / HTTP/1.1\r\n\r\n')]), ProtocolError);
    const decoder = new FrameDecoder(() => {});
    assert.throws(() => decoder.push(Buffer.from([0x47])), ProtocolError);
  });

  it('joins a large frame once however many chunks it arrives in', () => {
    const body = Buffer.alloc(1 << 20, 7);
    const stream = encodeFrames([body]);
    const chunks = cut(
      stream,
      Array.from({ length: 200 }, (_, i) => i * 5243),
    );
    const decoded = decodeAll(chunks);
    assert.equal(decoded.length, 1);
    assert.ok(decoded[0]?.equals(body));
  });

  it('encodeFrames refuses a body over the limit', () => {
    assert.throws(() => encodeFrames([Buffer.alloc(11)], 10), TooLargeError);
  });
});
