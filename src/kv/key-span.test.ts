import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  compareBytes,
  keyIdOf,
  keyOfId,
  keySpanHas,
  keySpanOf,
  prefixEnd,
  RANGE_END_ALL,
} from './key-span.ts';

const bytes = (...values: number[]) => Uint8Array.from(values);

describe('compareBytes', () => {
  it('orders as Buffer.compare does', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 6 }), fc.uint8Array({ maxLength: 6 }), (a, b) => {
        assert.equal(Math.sign(compareBytes(a, b)), Buffer.compare(a, b));
      }),
      { numRuns: 200 },
    );
  });
});

describe('keyIdOf', () => {
  it('sorts exactly as the bytes do and round-trips through keyOfId', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 6 }), fc.uint8Array({ maxLength: 6 }), (a, b) => {
        const [idA, idB] = [keyIdOf(a), keyIdOf(b)];
        assert.equal(idA < idB ? -1 : idA > idB ? 1 : 0, Buffer.compare(a, b));
        assert.deepEqual(keyOfId(idA), a);
      }),
      { numRuns: 200 },
    );
  });

  it('reads only the view it is given, not the whole buffer under it', () => {
    const whole = bytes(1, 2, 3, 4);
    assert.equal(keyIdOf(whole.subarray(1, 3)), '\u0002\u0003');
  });
});

describe('prefixEnd', () => {
  it('increments the last byte below 0xff, dropping trailing 0xff (etcd GetPrefixRangeEnd)', () => {
    assert.deepEqual(prefixEnd(bytes(0x61)), bytes(0x62));
    assert.deepEqual(prefixEnd(bytes(0x61, 0xff)), bytes(0x62));
    assert.deepEqual(prefixEnd(bytes(0x61, 0x62, 0xff, 0xff)), bytes(0x61, 0x63));
    assert.deepEqual(prefixEnd(bytes(0x61, 0xfe)), bytes(0x61, 0xff));
  });

  it('is the all-keys end when no key follows the prefix', () => {
    assert.deepEqual(prefixEnd(bytes()), RANGE_END_ALL);
    assert.deepEqual(prefixEnd(bytes(0xff, 0xff)), RANGE_END_ALL);
  });

  it('does not change the prefix, even a Buffer view', () => {
    const backing = Buffer.from([0x61, 0x62, 0x63]);
    const prefix = backing.subarray(0, 2);
    prefixEnd(prefix);
    assert.deepEqual([...backing], [0x61, 0x62, 0x63]);
  });

  it('spans exactly the keys that start with the prefix', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3 }).map((p) => p.map((b) => (b % 2 === 0 ? 0xff : b))),
        fc.uint8Array({ maxLength: 5 }),
        (prefix, key) => {
          const span = keySpanOf(prefix.length === 0 ? bytes(0) : prefix, prefixEnd(prefix));
          const startsWith = key.length >= prefix.length && prefix.every((b, i) => key[i] === b);
          // An empty prefix spans from [0]: every non-empty key (keys are never empty).
          if (key.length === 0) return;
          assert.equal(keySpanHas(span, keyIdOf(key)), startsWith);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('keySpanOf', () => {
  it('reads one key when rangeEnd is absent or empty', () => {
    for (const end of [undefined, bytes()]) {
      const span = keySpanOf(bytes(5), end);
      assert.equal(span.single, true);
      assert.equal(keySpanHas(span, keyIdOf(bytes(5))), true);
      assert.equal(keySpanHas(span, keyIdOf(bytes(5, 0))), false);
    }
  });

  it('reads every key from key on when rangeEnd is the single byte 0', () => {
    const span = keySpanOf(bytes(5), RANGE_END_ALL);
    assert.equal(keySpanHas(span, keyIdOf(bytes(0xff, 0xff))), true);
    assert.equal(keySpanHas(span, keyIdOf(bytes(4, 0xff))), false);
  });

  it('is half-open otherwise, and empty when rangeEnd <= key', () => {
    const span = keySpanOf(bytes(5), bytes(7));
    assert.equal(keySpanHas(span, keyIdOf(bytes(5))), true);
    assert.equal(keySpanHas(span, keyIdOf(bytes(6, 0xff))), true);
    assert.equal(keySpanHas(span, keyIdOf(bytes(7))), false);
    const empty = keySpanOf(bytes(7), bytes(5));
    assert.equal(keySpanHas(empty, keyIdOf(bytes(6))), false);
  });
});
