import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CompactedError, InvalidArgumentError } from '../base/errors.ts';
import { RANGE_END_ALL } from './key-span.ts';
import { MvccStore } from './mvcc-store.ts';

const text = (value: string) => new TextEncoder().encode(value);
const str = (value: Uint8Array) => new TextDecoder().decode(value);

function image(store: MvccStore): string[] {
  return [...store.snapshot()].map((record) => Buffer.from(record).toString('hex'));
}

function everything(store: MvccStore, revision: number): string[] {
  return store
    .range({ key: Uint8Array.of(0), rangeEnd: RANGE_END_ALL, revision })
    .kvs.map((kv) => `${str(kv.key)}=${str(kv.value)}@${kv.modRevision}v${kv.version}`);
}

/** A store with a history: a put three times, b put then deleted, c deleted then put again. */
function historyStore(): MvccStore {
  const store = new MvccStore();
  store.put({ key: text('a'), value: text('1') }); // 2
  store.put({ key: text('b'), value: text('1') }); // 3
  store.put({ key: text('c'), value: text('1') }); // 4
  store.put({ key: text('a'), value: text('2') }); // 5
  store.deleteRange({ key: text('b') }); // 6
  store.deleteRange({ key: text('c') }); // 7
  store.put({ key: text('a'), value: text('3') }); // 8
  store.put({ key: text('c'), value: text('2') }); // 9
  return store;
}

describe('MvccStore.compact', () => {
  it('keeps every read at or above the compacted revision as it was (etcd keyIndex.compact)', () => {
    for (let at = 1; at <= 9; at++) {
      const store = historyStore();
      const before = Array.from({ length: 10 - at }, (_, i) => everything(store, at + i));
      store.compact({ revision: at });
      while (!store.compactStep(1)) store.checkInvariants();
      store.checkInvariants();
      assert.deepEqual(
        Array.from({ length: 10 - at }, (_, i) => everything(store, at + i)),
        before,
        `compacted at ${at}`,
      );
    }
  });

  it('fails reads below the compacted revision at once, before any step', () => {
    const store = historyStore();
    store.compact({ revision: 6 });
    assert.equal(store.compactionPending, true);
    assert.throws(
      () => store.range({ key: text('a'), revision: 5 }),
      (error: unknown) =>
        error instanceof CompactedError &&
        error.details?.['compactRevision'] === 6 &&
        error.message.startsWith('Cannot read at revision 5'),
    );
  });

  it('refuses compacting twice at or below the compacted revision, above the current one, or at 0', () => {
    const store = historyStore();
    store.compact({ revision: 5 });
    assert.throws(() => store.compact({ revision: 5 }), CompactedError);
    assert.throws(() => store.compact({ revision: 4 }), CompactedError);
    assert.throws(() => store.compact({ revision: 10 }), InvalidArgumentError);
    assert.throws(() => store.compact({ revision: 0 }), InvalidArgumentError);
    assert.throws(() => store.compact({ revision: 5.5 }), InvalidArgumentError);
    assert.equal(store.compactRevision, 5);
    store.compact({ revision: 9 });
    assert.equal(store.compactRevision, 9);
  });

  it('frees history in steps of at most keysMax keys', () => {
    const store = new MvccStore();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 10; i++) store.put({ key: text(`k${i}`), value: text(String(round)) });
    }
    store.compact({ revision: store.revision });
    let steps = 0;
    while (!store.compactStep(3)) {
      steps++;
      store.checkInvariants();
    }
    assert.equal(steps + 1, 4, '10 keys at 3 a step take 4 steps');
    assert.equal(store.compactionPending, false);
    assert.throws(() => store.compactStep(0), InvalidArgumentError);
  });

  it('lets writes go on between steps, and a new compaction restart the walk', () => {
    const store = historyStore();
    store.compact({ revision: 5 });
    store.compactStep(1);
    store.put({ key: text('a'), value: text('4') });
    store.deleteRange({ key: text('c') });
    store.put({ key: text('0'), value: text('first') });
    store.checkInvariants();
    store.compactStep(1);
    store.compact({ revision: 11 });
    const at11 = everything(store, 11);
    while (!store.compactStep(1)) store.checkInvariants();
    assert.deepEqual(everything(store, 11), at11);
    assert.deepEqual(at11, ['a=4@10v4']);
    assert.deepEqual(everything(store, 12), ['0=first@12v1', 'a=4@10v4']);
  });

  it('drops a key deleted at or before the compacted revision entirely', () => {
    const store = historyStore();
    store.compact({ revision: 6 });
    while (!store.compactStep(10));
    // b's history is gone: the only version a snapshot writes are a's and c's.
    const restore = MvccStore.restore();
    for (const record of store.snapshot()) restore.push(record);
    const copy = restore.finish();
    assert.deepEqual(everything(copy, 6), everything(store, 6));
    assert.deepEqual(image(copy), image(store));
  });

  it('writes the same snapshot image whether the history was freed yet or not', () => {
    const pending = historyStore();
    pending.compact({ revision: 7 });
    const freed = historyStore();
    freed.compact({ revision: 7 });
    while (!freed.compactStep(1));
    assert.deepEqual(image(pending), image(freed));
  });
});
