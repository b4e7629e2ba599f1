import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../base/errors.ts';
import { decode, encode } from './msgpack.ts';

describe('msgpack codec', () => {
  it('round-trips JSON-like values and binary', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.uint8Array({ maxLength: 64 }), (value, bytes) => {
        const decoded = decode(encode({ value, bytes: Buffer.from(bytes) })) as {
          value: unknown;
          bytes: Uint8Array;
        };
        // -0 has no JSON form; MessagePack keeps it as 0 for integers.
        assert.deepEqual(decoded.value, JSON.parse(JSON.stringify(value)));
        assert.deepEqual([...decoded.bytes], [...bytes]);
      }),
    );
  });

  it('decode throws ProtocolError on truncated input', () => {
    const bytes = encode({ key: 'a'.repeat(40) });
    assert.throws(() => decode(bytes.subarray(0, bytes.length - 5)), ProtocolError);
  });
});
