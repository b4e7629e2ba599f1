import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError, LimitExceededError } from '../base/errors.ts';
import { LEASE_CHECKPOINTS_MAX, LEASE_TTL_SECONDS_MAX, LEASE_TTL_SECONDS_MIN } from './limits.ts';
import { MvccStore } from './mvcc-store.ts';

const text = (value: string) => new TextEncoder().encode(value);
const str = (value: Uint8Array) => new TextDecoder().decode(value);

function keysOf(store: MvccStore, id: number): string[] | undefined {
  return store.leaseTimeToLive(id)?.keys.map(str);
}

describe('MvccStore leases', () => {
  it('grants a lease without a new revision, raising a short TTL to the minimum (etcd minLeaseTTL)', () => {
    const store = new MvccStore();
    assert.deepEqual(store.leaseGrant({ id: 7, ttl: 60 }), { revision: 1, id: 7, ttl: 60 });
    assert.equal(store.leaseGrant({ id: 8, ttl: 0 }).ttl, LEASE_TTL_SECONDS_MIN);
    assert.deepEqual(store.leaseTimeToLive(7), { id: 7, grantedTtl: 60, remainingTtl: 60, keys: [] });
    assert.equal(store.revision, 1);
    store.checkInvariants();
  });

  it('refuses a lease id in use, not positive, a TTL negative, fractional or too long', () => {
    const store = new MvccStore();
    store.leaseGrant({ id: 1, ttl: 10 });
    for (const request of [
      { id: 1, ttl: 10 },
      { id: 0, ttl: 10 },
      { id: -3, ttl: 10 },
      { id: 2, ttl: -1 },
      { id: 2, ttl: 1.5 },
      { id: 2, ttl: LEASE_TTL_SECONDS_MAX + 1 },
    ]) {
      assert.throws(() => store.leaseGrant(request), InvalidArgumentError, JSON.stringify(request));
    }
    assert.deepEqual(store.leaseList(), [1]);
  });

  it('refuses a lease past leasesMax with LIMIT_EXCEEDED', () => {
    const store = new MvccStore({ leasesMax: 2 });
    store.leaseGrant({ id: 1, ttl: 10 });
    store.leaseGrant({ id: 2, ttl: 10 });
    assert.throws(() => store.leaseGrant({ id: 3, ttl: 10 }), LimitExceededError);
    store.leaseRevoke({ id: 1 });
    store.leaseGrant({ id: 3, ttl: 10 });
  });

  it('attaches keys on put, moves them between leases, keeps them with ignoreLease, detaches on delete', () => {
    const store = new MvccStore();
    store.leaseGrant({ id: 1, ttl: 10 });
    store.leaseGrant({ id: 2, ttl: 10 });
    store.put({ key: text('a'), value: text('1'), lease: 1 });
    store.put({ key: text('b'), value: text('1'), lease: 1 });
    assert.deepEqual(keysOf(store, 1), ['a', 'b']);
    store.put({ key: text('a'), value: text('2'), lease: 2 });
    assert.deepEqual([keysOf(store, 1), keysOf(store, 2)], [['b'], ['a']]);
    store.put({ key: text('a'), value: text('3'), ignoreLease: true });
    assert.equal(store.range({ key: text('a') }).kvs[0]?.lease, 2);
    store.put({ key: text('b'), value: text('2') });
    assert.deepEqual(keysOf(store, 1), []);
    store.deleteRange({ key: text('a') });
    assert.deepEqual(keysOf(store, 2), []);
    store.checkInvariants();
  });

  it('refuses a put naming a lease that does not exist, with details.leaseId', () => {
    const store = new MvccStore();
    assert.throws(
      () => store.put({ key: text('a'), value: text('1'), lease: 9 }),
      (error: unknown) => error instanceof InvalidArgumentError && error.details?.['leaseId'] === 9,
    );
    assert.throws(() => store.put({ key: text('a'), ignoreLease: true }), InvalidArgumentError);
    assert.equal(store.revision, 1);
  });

  it('revokes a lease by deleting its keys in byte order in one revision', () => {
    const store = new MvccStore();
    store.leaseGrant({ id: 1, ttl: 10 });
    for (const key of ['c', 'a', 'b']) store.put({ key: text(key), value: text(key), lease: 1 });
    store.put({ key: text('other'), value: text('x') });
    const { response, events } = store.leaseRevoke({ id: 1 });
    assert.deepEqual(response, { revision: 6, deleted: 3 });
    assert.deepEqual(
      events.map((event) => [event.type, str(event.kv.key), event.kv.modRevision, event.prevKv?.lease]),
      [
        ['delete', 'a', 6, 1],
        ['delete', 'b', 6, 1],
        ['delete', 'c', 6, 1],
      ],
    );
    assert.equal(store.leaseTimeToLive(1), undefined);
    assert.equal(store.range({ key: text('other') }).count, 1);
    assert.throws(() => store.leaseRevoke({ id: 1 }), InvalidArgumentError);
    store.checkInvariants();
  });

  it('revokes a lease with no keys without a new revision', () => {
    const store = new MvccStore();
    store.leaseGrant({ id: 1, ttl: 10 });
    assert.deepEqual(store.leaseRevoke({ id: 1 }), { response: { revision: 1, deleted: 0 }, events: [] });
  });

  it('records checkpoints, skipping leases that are gone (etcd), and checks them', () => {
    const store = new MvccStore();
    store.leaseGrant({ id: 1, ttl: 100 });
    store.leaseCheckpoint({
      checkpoints: [
        { id: 1, remainingTtl: 42 },
        { id: 5, remainingTtl: 3 },
      ],
    });
    assert.equal(store.leaseTimeToLive(1)?.remainingTtl, 42);
    assert.throws(
      () => store.leaseCheckpoint({ checkpoints: [{ id: 1, remainingTtl: -1 }] }),
      InvalidArgumentError,
    );
    const tooMany = Array.from({ length: LEASE_CHECKPOINTS_MAX + 1 }, () => ({ id: 1, remainingTtl: 1 }));
    assert.throws(() => store.leaseCheckpoint({ checkpoints: tooMany }), LimitExceededError);
    // A refused checkpoint command records none of its entries.
    assert.throws(
      () =>
        store.leaseCheckpoint({
          checkpoints: [
            { id: 1, remainingTtl: 7 },
            { id: 0, remainingTtl: 1 },
          ],
        }),
      InvalidArgumentError,
    );
    assert.equal(store.leaseTimeToLive(1)?.remainingTtl, 42);
  });

  it('lists leases by ascending id, and keeps them and their checkpoints through a snapshot', () => {
    const store = new MvccStore();
    for (const id of [30, 10, 20]) store.leaseGrant({ id, ttl: id });
    store.leaseCheckpoint({ checkpoints: [{ id: 20, remainingTtl: 5 }] });
    store.put({ key: text('k'), value: text('v'), lease: 20 });
    assert.deepEqual(store.leaseList(), [10, 20, 30]);
    const restore = MvccStore.restore();
    for (const record of store.snapshot()) restore.push(record);
    const copy = restore.finish();
    assert.deepEqual(copy.leaseList(), [10, 20, 30]);
    assert.deepEqual(copy.leaseTimeToLive(20), store.leaseTimeToLive(20));
    copy.leaseRevoke({ id: 20 });
    assert.equal(copy.range({ key: text('k') }).count, 0);
  });
});
