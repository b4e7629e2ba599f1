import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MvccStore } from '../../kv/mvcc-store.ts';
import { memoryBackend } from '../../kv/store-state.ts';
import type { KeyValue, RangeRequest, RangeResponse } from '../../kv/types.ts';
import { HASH_PAGE_KEYS, hashKvAt } from './kv-hash.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

/** A read over `store` that cuts every page at `pageKeys` keys, whatever the request's limit. */
function readerOf(store: MvccStore, pageKeys = Number.MAX_SAFE_INTEGER) {
  const requests: RangeRequest[] = [];
  const read = async (request: RangeRequest): Promise<RangeResponse> => {
    requests.push(request);
    return store.range({ ...request, limit: Math.min(request.limit ?? 0, pageKeys) });
  };
  return { read, requests };
}

function keyValue(key: string, fields: Partial<KeyValue> = {}): KeyValue {
  return {
    key: bytes(key),
    value: bytes('v'),
    createRevision: 2,
    modRevision: 2,
    version: 1,
    lease: 0,
    ...fields,
  };
}

/** A read answering one page with `kvs`. */
function fixed(kvs: KeyValue[]) {
  return async (): Promise<RangeResponse> => ({ revision: 9, kvs, more: false, count: kvs.length });
}

describe('hashKvAt', () => {
  it('is the same for the same keys, however the pages are cut', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 7 }),
        async (keys, pageKeys) => {
          const store = MvccStore.open(memoryBackend());
          for (const key of keys) store.put({ key: bytes(key), value: bytes(`value of ${key}`) });
          const whole = await hashKvAt(readerOf(store).read, store.revision);
          const paged = await hashKvAt(readerOf(store, pageKeys).read, store.revision);
          assert.equal(paged, whole);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('reads every key at the revision asked, a page at a time, resuming after the last key', async () => {
    const store = MvccStore.open(memoryBackend());
    for (const key of ['a', 'b', 'c']) store.put({ key: bytes(key), value: bytes('1') });
    const at = store.revision;
    store.put({ key: bytes('d'), value: bytes('later') });
    const { read, requests } = readerOf(store, 2);
    const before = await hashKvAt(read, at);
    assert.deepEqual(
      requests.map((request) => [Buffer.from(request.key).toString('hex'), request.revision, request.limit]),
      [
        ['00', at, HASH_PAGE_KEYS],
        ['6200', at, HASH_PAGE_KEYS],
      ],
    );
    assert.equal(await hashKvAt(readerOf(store).read, at), before, 'a later write does not change the past');
    assert.notEqual(await hashKvAt(readerOf(store).read, store.revision), before);
  });

  it('changes with every field of every key', async () => {
    const base = await hashKvAt(fixed([keyValue('a'), keyValue('b')]), 9);
    const changed: Partial<KeyValue>[] = [
      { value: bytes('w') },
      { createRevision: 3 },
      { modRevision: 3 },
      { version: 2 },
      { lease: 7 },
      { key: bytes('c') },
    ];
    for (const fields of changed) {
      assert.notEqual(
        await hashKvAt(fixed([keyValue('a'), keyValue('b', fields)]), 9),
        base,
        JSON.stringify(fields),
      );
    }
    // Moving a byte from the key to the value is another state, and another hash.
    assert.notEqual(
      await hashKvAt(fixed([keyValue('ab', { value: bytes('') })]), 9),
      await hashKvAt(fixed([keyValue('a', { value: bytes('b') })]), 9),
    );
  });

  it('refuses a revision that is not a positive integer', async () => {
    await assert.rejects(hashKvAt(fixed([]), 0), RangeError);
    await assert.rejects(hashKvAt(fixed([]), 1.5), RangeError);
  });
});
