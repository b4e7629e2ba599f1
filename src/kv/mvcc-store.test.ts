import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CompactedError,
  InvalidArgumentError,
  LimitExceededError,
  TesseraError,
  TooLargeError,
} from '../base/errors.ts';
import { prefixEnd, RANGE_END_ALL } from './key-span.ts';
import { KEY_BYTES_MAX, REQUEST_BYTES_MAX } from './limits.ts';
import { MvccStore } from './mvcc-store.ts';
import type { KeyValue } from './types.ts';

const text = (value: string) => new TextEncoder().encode(value);
const str = (value: Uint8Array) => new TextDecoder().decode(value);

/** A store whose invariants are checked after every call made through it. */
function checkedStore(options: ConstructorParameters<typeof MvccStore>[0] = {}): MvccStore {
  const store = new MvccStore(options);
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function' || property === 'checkInvariants') return value;
      return (...args: unknown[]) => {
        try {
          return value.apply(target, args);
        } finally {
          target.checkInvariants();
        }
      };
    },
  });
}

function image(store: MvccStore): string[] {
  return [...store.snapshot()].map((record) => Buffer.from(record).toString('hex'));
}

function kv(key: string, value: string, fields: Omit<KeyValue, 'key' | 'value'>): KeyValue {
  return { key: text(key), value: text(value), ...fields };
}

describe('MvccStore revisions', () => {
  it('starts at revision 1 and bumps once per put, as etcd', () => {
    const store = checkedStore();
    assert.equal(store.revision, 1);
    assert.equal(store.put({ key: text('a'), value: text('1') }).response.revision, 2);
    assert.equal(store.put({ key: text('a'), value: text('1') }).response.revision, 3);
    assert.equal(store.revision, 3);
  });

  it('keeps createRevision, bumps modRevision and version per put', () => {
    const store = checkedStore();
    store.put({ key: text('a'), value: text('1') });
    store.put({ key: text('b'), value: text('x') });
    store.put({ key: text('a'), value: text('2') });
    assert.deepEqual(store.range({ key: text('a') }).kvs, [
      kv('a', '2', { createRevision: 2, modRevision: 4, version: 2, lease: 0 }),
    ]);
  });

  it('starts a new generation after a delete: version 1, a new createRevision (etcd keyIndex)', () => {
    const store = checkedStore();
    store.put({ key: text('a'), value: text('1') });
    store.put({ key: text('a'), value: text('2') });
    store.deleteRange({ key: text('a') });
    store.put({ key: text('a'), value: text('3') });
    assert.deepEqual(store.range({ key: text('a') }).kvs, [
      kv('a', '3', { createRevision: 5, modRevision: 5, version: 1, lease: 0 }),
    ]);
  });

  it('reads any past revision, deleted keys included', () => {
    const store = checkedStore();
    store.put({ key: text('a'), value: text('1') }); // 2
    store.put({ key: text('a'), value: text('2') }); // 3
    store.deleteRange({ key: text('a') }); // 4
    const at = (revision: number) => store.range({ key: text('a'), revision }).kvs.map((k) => str(k.value));
    assert.deepEqual([1, 2, 3, 4].map(at), [[], ['1'], ['2'], []]);
    // The reply's revision is the current one, whatever revision was read (etcd's header).
    assert.equal(store.range({ key: text('a'), revision: 2 }).revision, 4);
  });

  it('refuses a read above the current revision (etcd ErrFutureRev)', () => {
    const store = checkedStore();
    store.put({ key: text('a'), value: text('1') });
    assert.throws(
      () => store.range({ key: text('a'), revision: 3 }),
      (error: unknown) =>
        error instanceof InvalidArgumentError &&
        error.message === 'Cannot read at revision 3: the current revision is 2',
    );
  });

  it('refuses a read below the compacted revision with COMPACTED and the compacted revision', () => {
    const store = checkedStore();
    for (let i = 0; i < 4; i++) store.put({ key: text('a'), value: text(String(i)) });
    store.compact({ revision: 4 });
    assert.throws(
      () => store.range({ key: text('a'), revision: 3 }),
      (error: unknown) => error instanceof CompactedError && error.details?.['compactRevision'] === 4,
    );
    assert.equal(str(store.range({ key: text('a'), revision: 4 }).kvs[0]?.value ?? text('')), '2');
  });
});

describe('MvccStore.put', () => {
  it('returns prevKv only when asked, and the event always carries it', () => {
    const store = checkedStore();
    const first = store.put({ key: text('a'), value: text('1'), prevKv: true });
    assert.equal(first.response.prevKv, undefined);
    assert.deepEqual(first.events, [
      { type: 'put', kv: kv('a', '1', { createRevision: 2, modRevision: 2, version: 1, lease: 0 }) },
    ]);
    const plain = store.put({ key: text('a'), value: text('2') });
    assert.equal(plain.response.prevKv, undefined);
    assert.deepEqual(
      plain.events[0]?.prevKv,
      kv('a', '1', { createRevision: 2, modRevision: 2, version: 1, lease: 0 }),
    );
    const asked = store.put({ key: text('a'), value: text('3'), prevKv: true });
    assert.deepEqual(
      asked.response.prevKv,
      kv('a', '2', { createRevision: 2, modRevision: 3, version: 2, lease: 0 }),
    );
  });

  it('keeps the value with ignoreValue, and refuses it on a missing key or with a value', () => {
    const store = checkedStore();
    assert.throws(() => store.put({ key: text('a'), ignoreValue: true }), InvalidArgumentError);
    store.put({ key: text('a'), value: text('1') });
    store.put({ key: text('a'), ignoreValue: true });
    assert.deepEqual(store.range({ key: text('a') }).kvs[0]?.value, text('1'));
    assert.equal(store.range({ key: text('a') }).kvs[0]?.version, 2);
    assert.throws(
      () => store.put({ key: text('a'), value: text('2'), ignoreValue: true }),
      InvalidArgumentError,
    );
  });

  it('owns its bytes: changing the request afterwards changes nothing stored', () => {
    const store = checkedStore();
    const key = text('k');
    const value = Buffer.from('v1');
    store.put({ key, value });
    key[0] = 0x7a;
    value[0] = 0x7a;
    assert.deepEqual(store.range({ key: text('k') }).kvs[0]?.value, text('v1'));
  });

  it('refuses an empty key, a long key, and a request over REQUEST_BYTES_MAX, changing nothing', () => {
    const store = checkedStore();
    store.put({ key: text('a'), value: text('1') });
    const before = image(store);
    assert.throws(() => store.put({ key: new Uint8Array(0), value: text('1') }), InvalidArgumentError);
    assert.throws(() => store.put({ key: new Uint8Array(KEY_BYTES_MAX + 1) }), LimitExceededError);
    assert.throws(
      () => store.put({ key: text('b'), value: new Uint8Array(REQUEST_BYTES_MAX) }),
      TooLargeError,
    );
    assert.throws(() => store.put({ key: text('b'), lease: -1 }), InvalidArgumentError);
    assert.deepEqual(image(store), before);
    assert.equal(store.revision, 2);
  });
});

describe('MvccStore.deleteRange', () => {
  it('deletes a span in key order, one revision, one event each with prevKv', () => {
    const store = checkedStore();
    for (const key of ['b', 'a', 'c']) store.put({ key: text(key), value: text(key) });
    const { response, events } = store.deleteRange({ key: text('a'), rangeEnd: text('c'), prevKv: true });
    assert.equal(response.revision, 5);
    assert.equal(response.deleted, 2);
    assert.deepEqual(
      response.prevKvs.map((k) => str(k.key)),
      ['a', 'b'],
    );
    assert.deepEqual(
      events.map((event) => [
        event.type,
        str(event.kv.key),
        event.kv.modRevision,
        str(event.prevKv?.value ?? text('')),
      ]),
      [
        ['delete', 'a', 5, 'a'],
        ['delete', 'b', 5, 'b'],
      ],
    );
    assert.deepEqual(events[0]?.kv, {
      key: text('a'),
      value: new Uint8Array(0),
      createRevision: 0,
      modRevision: 5,
      version: 0,
      lease: 0,
    });
  });

  it('does not bump the revision when it deletes nothing (etcd)', () => {
    const store = checkedStore();
    store.put({ key: text('a'), value: text('1') });
    const { response, events } = store.deleteRange({ key: text('b') });
    assert.deepEqual(response, { revision: 2, deleted: 0, prevKvs: [] });
    assert.deepEqual(events, []);
    assert.equal(store.revision, 2);
  });
});

describe('MvccStore.range', () => {
  function fill(store: MvccStore, keys: string[]): void {
    for (const key of keys) store.put({ key: text(key), value: text(`v-${key}`) });
  }

  it('counts every key of the span and sets more when the limit cuts it (etcd)', () => {
    const store = checkedStore();
    fill(store, ['a', 'b', 'c', 'd']);
    const reply = store.range({ key: text('a'), rangeEnd: RANGE_END_ALL, limit: 2 });
    assert.deepEqual(
      reply.kvs.map((k) => str(k.key)),
      ['a', 'b'],
    );
    assert.equal(reply.more, true);
    assert.equal(reply.count, 4);
    assert.equal(store.range({ key: text('a'), rangeEnd: RANGE_END_ALL, limit: 4 }).more, false);
  });

  it('reads a prefix with prefixEnd', () => {
    const store = checkedStore();
    fill(store, ['job/1', 'job/2', 'jobs', 'joa']);
    const prefix = text('job/');
    assert.deepEqual(
      store.range({ key: prefix, rangeEnd: prefixEnd(prefix) }).kvs.map((k) => str(k.key)),
      ['job/1', 'job/2'],
    );
  });

  it('returns keys without values (keysOnly) and only the count (countOnly)', () => {
    const store = checkedStore();
    fill(store, ['a', 'b']);
    const keysOnly = store.range({ key: text('a'), rangeEnd: RANGE_END_ALL, keysOnly: true });
    assert.deepEqual(
      keysOnly.kvs.map((k) => k.value.length),
      [0, 0],
    );
    assert.deepEqual(store.range({ key: text('a'), rangeEnd: RANGE_END_ALL, countOnly: true }), {
      revision: 3,
      kvs: [],
      more: false,
      count: 2,
    });
  });

  it('sorts by a target, ascending when no order is given, ties by key (descend: the reverse)', () => {
    const store = checkedStore();
    fill(store, ['a', 'b', 'c']);
    store.put({ key: text('b'), value: text('z') });
    const byVersion = (sortOrder?: 'descend') =>
      store
        .range({
          key: text('a'),
          rangeEnd: RANGE_END_ALL,
          sortTarget: 'version',
          ...(sortOrder ? { sortOrder } : {}),
        })
        .kvs.map((k) => str(k.key));
    assert.deepEqual(byVersion(), ['a', 'c', 'b']);
    assert.deepEqual(byVersion('descend'), ['b', 'c', 'a']);
    const byKeyDescending = store.range({
      key: text('a'),
      rangeEnd: RANGE_END_ALL,
      sortOrder: 'descend',
      limit: 2,
    });
    assert.deepEqual(
      byKeyDescending.kvs.map((k) => str(k.key)),
      ['c', 'b'],
    );
    assert.equal(byKeyDescending.more, true);
  });

  it('filters by mod and create revision after counting (etcd pruneKVs)', () => {
    const store = checkedStore();
    fill(store, ['a', 'b', 'c']); // revisions 2, 3, 4
    store.put({ key: text('a'), value: text('again') }); // 5
    const reply = store.range({
      key: text('a'),
      rangeEnd: RANGE_END_ALL,
      minModRevision: 3,
      maxCreateRevision: 3,
    });
    assert.deepEqual(
      reply.kvs.map((k) => str(k.key)),
      ['a', 'b'],
    );
    assert.equal(reply.count, 3);
  });

  it('cuts a reply at rangeKeysPerPageMax and sets more, whatever the limit', () => {
    const store = checkedStore({ rangeKeysPerPageMax: 2 });
    fill(store, ['a', 'b', 'c']);
    for (const limit of [0, 5]) {
      const reply = store.range({ key: text('a'), rangeEnd: RANGE_END_ALL, limit });
      assert.equal(reply.kvs.length, 2);
      assert.equal(reply.more, true);
      assert.equal(reply.count, 3);
    }
    const sorted = store.range({
      key: text('a'),
      rangeEnd: RANGE_END_ALL,
      sortTarget: 'mod',
      sortOrder: 'descend',
    });
    assert.deepEqual(
      sorted.kvs.map((k) => str(k.key)),
      ['c', 'b'],
    );
    assert.equal(sorted.more, true);
  });

  it('cuts a reply at rangeReplyBytesMax but always returns one key', () => {
    const store = checkedStore({ rangeReplyBytesMax: 300 });
    for (const key of ['a', 'b', 'c']) store.put({ key: text(key), value: new Uint8Array(200) });
    const reply = store.range({ key: text('a'), rangeEnd: RANGE_END_ALL });
    assert.deepEqual(
      reply.kvs.map((k) => str(k.key)),
      ['a'],
    );
    assert.equal(reply.more, true);
    const keysOnly = store.range({ key: text('a'), rangeEnd: RANGE_END_ALL, keysOnly: true });
    assert.equal(keysOnly.kvs.length, 3);
    assert.equal(keysOnly.more, false);
  });

  it('refuses bad fields with INVALID_ARGUMENT', () => {
    const store = checkedStore();
    const bad = [
      { key: new Uint8Array(0) },
      { key: text('a'), limit: -1 },
      { key: text('a'), revision: 1.5 },
      { key: text('a'), sortOrder: 'sideways' },
      { key: text('a'), sortTarget: 'size' },
      { key: text('a'), keysOnly: 'yes' },
      { key: 'a' },
    ];
    for (const request of bad) {
      assert.throws(
        () => store.range(request as never),
        (error: unknown) => error instanceof TesseraError && error.code === 'INVALID_ARGUMENT',
        JSON.stringify(request),
      );
    }
  });
});

describe('MvccStore options', () => {
  it('refuses limits that are not positive integers', () => {
    assert.throws(() => new MvccStore({ leasesMax: 0 }), InvalidArgumentError);
    assert.throws(() => new MvccStore({ rangeKeysPerPageMax: 1.5 }), InvalidArgumentError);
    assert.equal(new MvccStore({ rangeKeysPerPageMax: 7 }).limits.rangeKeysPerPageMax, 7);
  });
});
