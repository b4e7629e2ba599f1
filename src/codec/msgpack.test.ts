import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../base/errors.ts';
import { decode, encode, MultiDecoder } from './msgpack.ts';

describe('msgpack codec', () => {
  it('round-trips JSON-like values and binary', () => {
    fc.assert(
      // `__proto__` keys are renamed on decode (see the next test), so the round trip leaves them out.
      fc.property(
        fc.jsonValue().filter((value) => !JSON.stringify(value).includes('"__proto__"')),
        fc.uint8Array({ maxLength: 64 }),
        (value, bytes) => {
          const decoded = decode(encode({ value, bytes: Buffer.from(bytes) })) as {
            value: unknown;
            bytes: Uint8Array;
          };
          // -0 has no JSON form; MessagePack keeps it as 0 for integers.
          assert.deepEqual(decoded.value, JSON.parse(JSON.stringify(value)));
          assert.deepEqual([...decoded.bytes], [...bytes]);
        },
      ),
    );
  });

  it('decode never pollutes Object.prototype from a __proto__ key', () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as object;
    const decoded = decode(encode(hostile)) as Record<string, unknown>;
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
    assert.deepEqual(Object.keys(decoded).sort(), ['__proto_', 'a']);
  });

  it('decode throws ProtocolError on truncated input', () => {
    const bytes = encode({ key: 'a'.repeat(40) });
    assert.throws(() => decode(bytes.subarray(0, bytes.length - 5)), ProtocolError);
  });
});

describe('MultiDecoder', () => {
  const records = [{ applied: 7 }, [['k1', 'v'.repeat(300)]], [['k2', '']], 'x'.repeat(70_000), 42, null];
  const stream = Buffer.concat(records.map((record) => encode(record)));

  it('decodes a stream cut at any point into the same values, in order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length }), { maxLength: 12 }), (cuts) => {
        const points = [0, ...new Set(cuts)].sort((a, b) => a - b);
        const decoder = new MultiDecoder(1024 * 1024);
        const values: unknown[] = [];
        for (const [i, start] of points.entries()) {
          values.push(...decoder.push(stream.subarray(start, points[i + 1] ?? stream.length)));
        }
        decoder.end();
        assert.deepEqual(values, records);
      }),
    );
  });

  it('end throws ProtocolError when the stream stops inside a value', () => {
    const decoder = new MultiDecoder(1024 * 1024);
    assert.deepEqual(decoder.push(stream.subarray(0, stream.length - 3)), records.slice(0, -3));
    assert.throws(() => decoder.end(), ProtocolError);
  });

  it('throws ProtocolError on bytes that are not MessagePack, and on a value past its bound', () => {
    assert.throws(() => new MultiDecoder(1024).push(Buffer.from([0xd4, 0x01, 0x02])), ProtocolError);
    const long = encode('y'.repeat(5000));
    assert.throws(() => new MultiDecoder(1024).push(long.subarray(0, 2000)), /passes 1024 bytes/);
  });
});
