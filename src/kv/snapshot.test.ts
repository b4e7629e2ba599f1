import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidArgumentError, ProtocolError } from '../base/errors.ts';
import { decode, encode, MultiDecoder } from '../codec/msgpack.ts';
import { RANGE_END_ALL } from './key-span.ts';
import { REQUEST_BYTES_MAX, SNAPSHOT_RECORD_BYTES_MAX } from './limits.ts';
import { MvccStore } from './mvcc-store.ts';

const text = (value: string) => new TextEncoder().encode(value);

/** Records as hex: msgpackr hangs a `dataView` on its buffers, which deepEqual would compare. */
const hex = (record: Uint8Array) => Buffer.from(record).toString('hex');

function restoreFrom(records: Iterable<Uint8Array>): MvccStore {
  const restore = MvccStore.restore();
  for (const record of records) restore.push(record);
  return restore.finish();
}

function readAll(store: MvccStore, revision: number) {
  return store.range({ key: Uint8Array.of(0), rangeEnd: RANGE_END_ALL, revision });
}

/** A store with history: random puts and deletes over a few keys, compacted somewhere. */
const historyArb = fc
  .tuple(
    fc.array(
      fc.tuple(
        fc.constantFrom('a', 'b', 'c', 'd'),
        fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined }),
      ),
      { minLength: 1, maxLength: 40 },
    ),
    fc.nat({ max: 40 }),
  )
  .map(([writes, compactBack]) => {
    const store = new MvccStore();
    store.leaseGrant({ id: 3, ttl: 10 });
    for (const [key, value] of writes) {
      if (value === undefined) store.deleteRange({ key: text(key) });
      else store.put({ key: text(key), value, lease: value.length % 2 === 0 ? 3 : 0 });
    }
    const compactAt = Math.max(1, store.revision - compactBack);
    store.compact({ revision: compactAt });
    return store;
  });

describe('MvccStore snapshot and restore', () => {
  it('round-trips: every revision still readable reads the same, and the image is the same', () => {
    fc.assert(
      fc.property(historyArb, fc.integer({ min: 1, max: 200 }), (store, recordBytes) => {
        const records = [...store.snapshot(recordBytes)];
        const copy = restoreFrom(records);
        copy.checkInvariants();
        assert.equal(copy.revision, store.revision);
        assert.equal(copy.compactRevision, store.compactRevision);
        for (let revision = store.compactRevision; revision <= store.revision; revision++) {
          assert.deepEqual(readAll(copy, revision), readAll(store, revision));
        }
        assert.deepEqual(copy.leaseTimeToLive(3), store.leaseTimeToLive(3));
        assert.deepEqual([...copy.snapshot(recordBytes)].map(hex), records.map(hex));
      }),
      { numRuns: 150 },
    );
  });

  it('streams through a MultiDecoder cut anywhere', () => {
    const store = new MvccStore();
    for (let i = 0; i < 50; i++) store.put({ key: text(`k${i % 7}`), value: new Uint8Array(i) });
    const stream = Buffer.concat([...store.snapshot(64)]);
    const decoder = new MultiDecoder(SNAPSHOT_RECORD_BYTES_MAX);
    const restore = MvccStore.restore();
    for (let offset = 0; offset < stream.length; offset += 13) {
      for (const value of decoder.push(stream.subarray(offset, offset + 13))) restore.pushValue(value);
    }
    decoder.end();
    assert.deepEqual(readAll(restore.finish(), 0), readAll(store, 0));
  });

  it('keeps each record near its target: a long history spans records', () => {
    const store = new MvccStore();
    const big = new Uint8Array(REQUEST_BYTES_MAX - 16);
    for (let i = 0; i < 3; i++) store.put({ key: text('big'), value: big });
    for (let i = 0; i < 2000; i++) store.put({ key: text(`small${i}`), value: new Uint8Array(600) });
    const records = [...store.snapshot()];
    for (const record of records)
      assert.ok(record.length <= SNAPSHOT_RECORD_BYTES_MAX, `${record.length} bytes`);
    assert.ok(records.length >= 5, `${records.length} records`);
    const copy = restoreFrom(records);
    assert.deepEqual(copy.range({ key: text('big'), revision: 2 }).kvs[0]?.version, 1);
    assert.equal(readAll(copy, 0).count, 2001);
  });

  it('is the state as of the call, though the store changes while the records are read', () => {
    const store = new MvccStore();
    for (const key of ['a', 'b', 'c']) store.put({ key: text(key), value: text('1') });
    const expected = [...store.snapshot(16)];
    const records = store.snapshot(16);
    const first = records.next();
    store.put({ key: text('b'), value: text('2') });
    store.deleteRange({ key: text('a'), rangeEnd: RANGE_END_ALL });
    store.compact({ revision: store.revision });
    while (!store.compactStep(1));
    const rest = [...records];
    assert.ok(first.done === false);
    assert.deepEqual([first.value, ...rest].map(hex), expected.map(hex));
  });

  it('refuses a bad recordBytesTarget', () => {
    assert.throws(() => new MvccStore().snapshot(0), InvalidArgumentError);
  });
});

describe('MvccStore.restore refuses bad images with PROTOCOL', () => {
  /** The records of a small store, decoded, for tampering. */
  function records(): unknown[][] {
    const store = new MvccStore();
    store.leaseGrant({ id: 1, ttl: 10 });
    store.put({ key: text('a'), value: text('1'), lease: 1 });
    store.put({ key: text('a'), value: text('2'), lease: 1 });
    store.put({ key: text('b'), value: text('1') });
    return [...store.snapshot()].map((record) => decode(record) as unknown[]);
  }

  function refuses(tamper: (records: unknown[][]) => unknown[], why: string): void {
    const tampered = tamper(structuredClone(records()));
    assert.throws(
      () => {
        const restore = MvccStore.restore();
        for (const record of tampered) restore.push(encode(record));
        restore.finish();
      },
      ProtocolError,
      why,
    );
  }

  it('refuses images cut short, misordered or with bad fields', () => {
    // records: [header, leases, keys, end]; keys: ['keys', [[key, [versions]], ...]]
    type KeysRecord = ['keys', [Uint8Array, unknown[][]][]];
    const keys = (all: unknown[][]) => all[2] as KeysRecord;
    refuses((all) => all.slice(0, 3), 'no end record');
    refuses((all) => all.slice(1), 'no header');
    refuses((all) => [['other', 1, 2, 0], ...all.slice(1)], 'wrong magic');
    refuses((all) => [['tessera.kv', 2, 4, 0], ...all.slice(1)], 'unknown format');
    refuses((all) => [all[0], all[1], all[2], all[1], all[3]], 'leases after keys');
    refuses((all) => [...all, all[3]], 'a record after the end');
    refuses((all) => [all[0], all[1], all[2], ['end', 9, 3, 1]], 'counts disagree');
    refuses((all) => [all[0], all[2], all[3]], 'a key names a missing lease');
    refuses((all) => {
      keys(all)[1].reverse();
      return all;
    }, 'keys out of order');
    refuses((all) => {
      keys(all)[1][0]?.[1].reverse();
      return all;
    }, 'versions out of order');
    refuses((all) => {
      const version = keys(all)[1][1]?.[1][0] as unknown[];
      // b's put claims revision 3.0, which a's second put has.
      version[0] = 3;
      version[1] = 0;
      version[2] = 3;
      return all;
    }, 'two versions at one revision');
    refuses((all) => {
      (keys(all)[1][0]?.[1][1] as unknown[])[3] = 5;
      return all;
    }, 'a version that does not continue its generation');
    refuses((all) => {
      (keys(all)[1][0]?.[1][0] as unknown[])[5] = 'text';
      return all;
    }, 'a value that is not bytes');
    refuses((all) => {
      (all[0] as unknown[])[3] = 99;
      return all;
    }, 'a compacted revision above the revision');
    refuses((all) => {
      (keys(all)[1][0]?.[1][0] as unknown[])[0] = 99;
      return all;
    }, 'a version above the revision');
  });

  it('refuses bytes that are not MessagePack', () => {
    assert.throws(() => MvccStore.restore().push(Uint8Array.of(0xc1)), ProtocolError);
  });

  it('hands the store out once: a finished restore takes nothing more', () => {
    const restore = MvccStore.restore();
    for (const record of new MvccStore().snapshot()) restore.push(record);
    restore.finish();
    assert.throws(() => restore.finish(), ProtocolError);
    assert.throws(() => restore.pushValue(['end', 0, 0, 0]), ProtocolError);
  });
});
