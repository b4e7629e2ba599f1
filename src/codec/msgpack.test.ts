import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../base/errors.ts';
import { decode, encode } from './msgpack.ts';

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
