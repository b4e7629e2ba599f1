import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CompactedError, InvalidArgumentError, LimitExceededError } from '../base/errors.ts';
import { RANGE_END_ALL } from './key-span.ts';
import { TXN_DEPTH_MAX, TXN_OPS_MAX, TXN_OPS_TOTAL_MAX } from './limits.ts';
import { MvccStore } from './mvcc-store.ts';
import type { Compare, RequestOp, TxnRequest } from './types.ts';

const text = (value: string) => new TextEncoder().encode(value);
const str = (value: Uint8Array) => new TextDecoder().decode(value);
const put = (key: string, value = 'v', lease = 0): RequestOp => ({
  type: 'put',
  request:
    lease === 0 ? { key: text(key), value: text(value) } : { key: text(key), value: text(value), lease },
});
const del = (key: string, rangeEnd?: string): RequestOp => ({
  type: 'deleteRange',
  request: rangeEnd === undefined ? { key: text(key) } : { key: text(key), rangeEnd: text(rangeEnd) },
});
const get = (key: string): RequestOp => ({ type: 'range', request: { key: text(key) } });
const txnOp = (request: TxnRequest): RequestOp => ({ type: 'txn', request });

function storeWith(entries: Record<string, string>): MvccStore {
  const store = new MvccStore();
  for (const [key, value] of Object.entries(entries)) store.put({ key: text(key), value: text(value) });
  return store;
}

function values(store: MvccStore): Record<string, string> {
  const reply = store.range({ key: Uint8Array.of(0), rangeEnd: RANGE_END_ALL });
  return Object.fromEntries(reply.kvs.map((kv) => [str(kv.key), str(kv.value)]));
}

function image(store: MvccStore): string[] {
  return [...store.snapshot()].map((record) => Buffer.from(record).toString('hex'));
}

describe('MvccStore.txn compares (etcd applyCompare)', () => {
  const store = storeWith({ a: '1', b: '2' }); // a: rev 2, b: rev 3
  const holds = (compare: Compare) => {
    const result = store.txn({ compare: [compare] }).response.succeeded;
    store.checkInvariants();
    return result;
  };

  it('compares value, version, revisions and lease of one key', () => {
    assert.equal(holds({ key: text('a'), target: 'value', result: 'equal', value: text('1') }), true);
    assert.equal(holds({ key: text('a'), target: 'value', result: 'less', value: text('2') }), true);
    assert.equal(holds({ key: text('a'), target: 'version', result: 'equal', version: 1 }), true);
    assert.equal(
      holds({ key: text('a'), target: 'createRevision', result: 'equal', createRevision: 2 }),
      true,
    );
    assert.equal(holds({ key: text('b'), target: 'modRevision', result: 'greater', modRevision: 2 }), true);
    assert.equal(holds({ key: text('a'), target: 'lease', result: 'notEqual', lease: 0 }), false);
  });

  it('compares a missing key as zeros, and always fails a value compare on it', () => {
    assert.equal(holds({ key: text('zz'), target: 'version', result: 'equal', version: 0 }), true);
    assert.equal(
      holds({ key: text('zz'), target: 'createRevision', result: 'equal', createRevision: 0 }),
      true,
    );
    assert.equal(
      holds({ key: text('zz'), target: 'value', result: 'equal', value: new Uint8Array(0) }),
      false,
    );
    assert.equal(holds({ key: text('zz'), target: 'value', result: 'notEqual', value: text('x') }), false);
  });

  it('over a range, holds only when every key passes', () => {
    const span = { key: text('a'), rangeEnd: text('c') };
    assert.equal(holds({ ...span, target: 'version', result: 'equal', version: 1 }), true);
    assert.equal(holds({ ...span, target: 'value', result: 'equal', value: text('1') }), false);
    assert.equal(holds({ ...span, target: 'modRevision', result: 'less', modRevision: 4 }), true);
  });

  it('needs every compare to pass', () => {
    const result = store.txn({
      compare: [
        { key: text('a'), target: 'version', result: 'equal', version: 1 },
        { key: text('b'), target: 'version', result: 'equal', version: 7 },
      ],
      success: [put('s')],
      failure: [put('f')],
    });
    assert.equal(result.response.succeeded, false);
    assert.deepEqual(
      result.events.map((event) => str(event.kv.key)),
      ['f'],
    );
  });
});

describe('MvccStore.txn revisions and reads', () => {
  it('writes every change at one revision, sub-revisions in request order', () => {
    const store = storeWith({ a: '1' });
    const { response, events } = store.txn({ success: [put('b'), del('a'), put('c')] });
    assert.equal(response.revision, 3);
    assert.equal(store.revision, 3);
    assert.deepEqual(
      events.map((event) => [event.type, str(event.kv.key), event.kv.modRevision]),
      [
        ['put', 'b', 3],
        ['delete', 'a', 3],
        ['put', 'c', 3],
      ],
    );
    store.checkInvariants();
  });

  it('keeps the revision for a transaction that writes nothing (etcd)', () => {
    const store = storeWith({ a: '1' });
    assert.equal(store.txn({ success: [get('a'), del('zz')] }).response.revision, 2);
    assert.equal(store.txn({}).response.succeeded, true);
    assert.equal(store.revision, 2);
  });

  it('lets a range see the writes before it, at the revision being written', () => {
    const store = storeWith({ a: '1' });
    const { response } = store.txn({ success: [get('a'), put('a', '2'), get('a')] });
    const [before, , after] = response.responses;
    assert.ok(before?.type === 'range' && after?.type === 'range');
    assert.equal(str(before.response.kvs[0]?.value ?? text('')), '1');
    assert.equal(before.response.revision, 2);
    assert.equal(str(after.response.kvs[0]?.value ?? text('')), '2');
    assert.equal(after.response.revision, 3);
  });

  it('runs nested transactions, their compares seeing the state before the whole transaction', () => {
    const store = storeWith({ a: '1' });
    const { response } = store.txn({
      success: [
        put('b', 'new'),
        txnOp({
          // b does not exist before the transaction, so this fails though b was just put.
          compare: [{ key: text('b'), target: 'version', result: 'greater', version: 0 }],
          success: [put('then')],
          failure: [put('else')],
        }),
      ],
    });
    assert.deepEqual(values(store), { a: '1', b: 'new', else: 'v' });
    const nested = response.responses[1];
    assert.ok(nested?.type === 'txn');
    assert.equal(nested.response.succeeded, false);
    store.checkInvariants();
  });
});

describe('MvccStore.txn checks (etcd checkIntervals, stricter)', () => {
  const refuses = (
    request: TxnRequest,
    errorClass: new (...args: never[]) => Error = InvalidArgumentError,
  ) => {
    const store = storeWith({ a: '1', b: '2' });
    const before = image(store);
    assert.throws(() => store.txn(request), errorClass);
    assert.deepEqual(image(store), before, 'a refused transaction changes nothing');
  };

  it('refuses a key put twice, or put and deleted, in one branch', () => {
    refuses({ success: [put('a'), put('a')] });
    refuses({ failure: [put('a'), del('a')] });
    refuses({ success: [del('a', 'z'), put('b')] });
    refuses({ success: [put('k'), txnOp({ success: [put('k')] })] });
    refuses({ success: [put('k'), txnOp({ failure: [del('k')] })] });
    // etcd misses this one (a put in a nested transaction, a delete in a later sibling).
    refuses({ success: [txnOp({ success: [put('k')] }), txnOp({ success: [del('k')] })] });
  });

  it('allows overlapping deletes, and one key in both branches (etcd)', () => {
    const store = storeWith({ a: '1', b: '2', c: '3' });
    const { events } = store.txn({ success: [del('a', 'c'), del('b'), del('a', 'z')] });
    assert.deepEqual(
      events.map((event) => str(event.kv.key)),
      ['a', 'b', 'c'],
    );
    store.txn({ success: [put('k', 'then')], failure: [put('k', 'else')] });
    store.txn({ success: [txnOp({ success: [put('n', '1')], failure: [del('n')] })] });
    assert.deepEqual(values(store), { k: 'then', n: '1' });
    store.checkInvariants();
  });

  it('runs nothing when a request of the branch taken fails its checks', () => {
    refuses({ success: [put('x'), put('y', 'v', 42)] });
    refuses({ success: [put('x'), { type: 'put', request: { key: text('missing'), ignoreValue: true } }] });
    refuses({ success: [put('x'), { type: 'range', request: { key: text('a'), revision: 99 } }] });
  });

  it('ignores the checks of the branch not taken', () => {
    const store = storeWith({ a: '1' });
    store.txn({ success: [put('x')], failure: [put('y', 'v', 42)] });
    assert.deepEqual(values(store), { a: '1', x: 'v' });
  });

  it('refuses a range of the branch taken below the compacted revision with COMPACTED', () => {
    const store = storeWith({ a: '1', b: '2' });
    store.compact({ revision: 3 });
    assert.throws(
      () => store.txn({ success: [put('x'), { type: 'range', request: { key: text('a'), revision: 2 } }] }),
      CompactedError,
    );
    assert.equal(store.revision, 3);
  });

  it('enforces TXN_OPS_MAX per list, TXN_OPS_TOTAL_MAX over the tree and TXN_DEPTH_MAX', () => {
    const many = (count: number) => Array.from({ length: count }, (_, i) => put(`k${i}`));
    refuses({ success: many(TXN_OPS_MAX + 1) }, LimitExceededError);
    const store = new MvccStore();
    store.txn({ success: many(TXN_OPS_MAX) });
    assert.equal(store.range({ key: text('k'), rangeEnd: text('l'), countOnly: true }).count, TXN_OPS_MAX);
    const wide = Array.from({ length: Math.ceil(TXN_OPS_TOTAL_MAX / TXN_OPS_MAX) + 1 }, () =>
      txnOp({ success: Array.from({ length: TXN_OPS_MAX - 1 }, () => get('a')) }),
    );
    refuses({ success: wide }, LimitExceededError);
    let deep: TxnRequest = { success: [put('deep')] };
    for (let depth = 1; depth < TXN_DEPTH_MAX; depth++) deep = { success: [txnOp(deep)] };
    new MvccStore().txn(deep);
    refuses({ success: [txnOp(deep)] }, LimitExceededError);
  });

  it('refuses malformed compares and requests', () => {
    refuses({ compare: [{ key: new Uint8Array(0), target: 'version', result: 'equal', version: 1 }] });
    refuses({ compare: [{ key: text('a'), target: 'version', result: 'same', version: 1 } as never] });
    refuses({ compare: [{ key: text('a'), target: 'size', result: 'equal' } as never] });
    refuses({ compare: [{ key: text('a'), target: 'version', result: 'equal', version: 0.5 }] });
    refuses({ success: [{ type: 'watch', request: { key: text('a') } } as never] });
  });
});
