import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError, LimitExceededError, NotLeaderError } from '../base/errors.ts';
import { Lessor } from './lessor.ts';
import { LEASE_CHECKPOINTS_MAX, LEASE_TTL_SECONDS_MAX, LEASES_EXPIRED_PER_CALL_MAX } from './limits.ts';
import { MvccStore } from './mvcc-store.ts';

// Most tests jump the clock by more than a stall; they take stalls out of
// play with a threshold no jump reaches, and the stall tests use their own.
const options = { checkpointIntervalMs: 10_000, expiredRetryMs: 3000, stallThresholdMs: 1e9 };
const stallOptions = { ...options, stallThresholdMs: 5000 };

function hasReason(reason: string) {
  return (error: unknown) => error instanceof InvalidArgumentError && error.details?.['reason'] === reason;
}

/** A leading lessor with the given leases granted at `nowMs`. */
function leader(ttls: Record<number, number>, nowMs = 0, lessorOptions = options): Lessor {
  const lessor = new Lessor(lessorOptions);
  lessor.promote(nowMs, 0);
  for (const [id, ttlSeconds] of Object.entries(ttls)) lessor.granted({ id: Number(id), ttlSeconds }, nowMs);
  lessor.checkInvariants();
  return lessor;
}

describe('Lessor roles', () => {
  it('a follower keeps no deadline and never reports an expiry or a checkpoint', () => {
    const lessor = new Lessor(options);
    lessor.granted({ id: 1, ttlSeconds: 5 }, 0);
    assert.equal(lessor.expiresAtMs(1), undefined);
    assert.deepEqual(lessor.expired(1e9), []);
    assert.deepEqual(lessor.checkpointsDue(1e9), []);
    assert.throws(() => lessor.renew(1, 1e9), NotLeaderError);
    assert.throws(() => lessor.timeToLive(1, 1e9), NotLeaderError);
    lessor.checkInvariants();
  });

  it('promote times each lease from its last checkpoint plus the extension (etcd Promote)', () => {
    const lessor = new Lessor(options);
    lessor.granted({ id: 1, ttlSeconds: 100 }, 0);
    lessor.granted({ id: 2, ttlSeconds: 100 }, 0);
    lessor.checkpointed(1, 30);
    lessor.promote(1000, 500);
    assert.equal(lessor.expiresAtMs(1), 1000 + 30_000 + 500);
    assert.equal(lessor.expiresAtMs(2), 1000 + 100_000 + 500);
    assert.deepEqual(lessor.expired(31_499), []);
    assert.deepEqual(lessor.expired(31_500), [1]);
    lessor.checkInvariants();
  });

  it('demote drops every deadline; a later promote times leases afresh', () => {
    const lessor = leader({ 1: 10 });
    lessor.demote();
    lessor.demote();
    assert.equal(lessor.leading, false);
    assert.equal(lessor.expiresAtMs(1), undefined);
    assert.deepEqual(lessor.expired(60_000), []);
    lessor.checkInvariants();
    lessor.promote(60_000, 1000);
    assert.equal(lessor.expiresAtMs(1), 60_000 + 10_000 + 1000);
    lessor.checkInvariants();
  });

  it('a grant while leading is timed at once, from its remaining TTL when given', () => {
    const lessor = leader({});
    lessor.granted({ id: 1, ttlSeconds: 10 }, 500);
    lessor.granted({ id: 2, ttlSeconds: 10, remainingTtlSeconds: 4 }, 500);
    assert.equal(lessor.expiresAtMs(1), 10_500);
    assert.equal(lessor.expiresAtMs(2), 4500);
    assert.equal(lessor.timeToLive(1, 600), 10);
    assert.equal(lessor.timeToLive(2, 4500), 0);
  });
});

describe('Lessor.renew', () => {
  it('moves the deadline to now + TTL and answers the TTL', () => {
    const lessor = leader({ 1: 10 });
    assert.equal(lessor.renew(1, 9000), 10);
    assert.equal(lessor.expiresAtMs(1), 19_000);
    assert.deepEqual(lessor.expired(18_999), []);
    assert.deepEqual(lessor.expired(19_000), [1]);
    lessor.checkInvariants();
  });

  it('refuses a lease whose deadline passed (LEASE_EXPIRED) and one not tracked (LEASE_NOT_FOUND)', () => {
    const lessor = leader({ 1: 10 });
    assert.throws(() => lessor.renew(1, 10_000), hasReason('LEASE_EXPIRED'));
    assert.throws(() => lessor.renew(2, 10_000), hasReason('LEASE_NOT_FOUND'));
    assert.throws(() => lessor.renew(0, 10_000), InvalidArgumentError);
  });
});

describe('Lessor.expired', () => {
  it('lists passed deadlines earliest first, ties by id, at most max; the rest on later calls', () => {
    const lessor = leader({ 5: 3, 4: 3, 3: 2, 2: 9, 1: 4 });
    assert.deepEqual(lessor.expired(1999), []);
    assert.deepEqual(lessor.expired(3000, 2), [3, 4]);
    assert.deepEqual(lessor.expired(3000), [5]);
    assert.deepEqual(lessor.expired(4000), [1]);
    lessor.checkInvariants();
  });

  it('does not list a lease again until expiredRetryMs passed, nor at all once revoked', () => {
    const lessor = leader({ 1: 2 });
    assert.deepEqual(lessor.expired(2000), [1]);
    assert.deepEqual(lessor.expired(4999), []);
    assert.deepEqual(lessor.expired(5000), [1]);
    lessor.revoked(1);
    assert.deepEqual(lessor.expired(9000), []);
    assert.equal(lessor.size, 0);
    lessor.checkInvariants();
  });

  it('refuses max outside [0, leasesExpiredPerCallMax]', () => {
    const lessor = leader({ 1: 2 });
    assert.equal(lessor.limits.leasesExpiredPerCallMax, LEASES_EXPIRED_PER_CALL_MAX);
    assert.throws(() => lessor.expired(0, LEASES_EXPIRED_PER_CALL_MAX + 1), InvalidArgumentError);
    assert.throws(() => lessor.expired(0, -1), InvalidArgumentError);
    assert.deepEqual(lessor.expired(5000, 0), []);
  });
});

describe('Lessor.checkpointsDue', () => {
  it('reports each lease’s remaining TTL every checkpointIntervalMs, rounded up', () => {
    const lessor = leader({ 1: 60 });
    assert.deepEqual(lessor.checkpointsDue(9999), []);
    assert.deepEqual(lessor.checkpointsDue(10_500), [{ id: 1, remainingTtlSeconds: 50 }]);
    lessor.checkpointed(1, 50);
    assert.deepEqual(lessor.checkpointsDue(20_499), []);
    assert.deepEqual(lessor.checkpointsDue(20_500), [{ id: 1, remainingTtlSeconds: 40 }]);
    lessor.checkInvariants();
  });

  it('after a renewal finds a stale checkpoint, reports the full TTL at once; not when none is stale', () => {
    const lessor = leader({ 1: 60, 2: 60 });
    lessor.checkpointed(1, 50);
    // Before the periodic checkpoint (due at 10 s): only the renewal makes one due.
    lessor.renew(1, 5000);
    lessor.renew(2, 5000);
    assert.deepEqual(lessor.checkpointsDue(5000), [{ id: 1, remainingTtlSeconds: 60 }]);
    lessor.checkpointed(1, 60);
    lessor.renew(1, 6000);
    assert.deepEqual(lessor.checkpointsDue(6000), []);
  });

  it('skips a lease whose recorded TTL is right, or whose deadline passed', () => {
    const lessor = leader({ 1: 5, 2: 60 });
    lessor.checkpointed(2, 50);
    assert.deepEqual(lessor.checkpointsDue(10_000), []);
    lessor.checkInvariants();
  });

  it('caps the TTL reported at the lease’s TTL, so a promotion’s extension is not persisted', () => {
    const lessor = new Lessor(options);
    lessor.granted({ id: 1, ttlSeconds: 60 }, 0);
    lessor.promote(0, 30_000);
    assert.deepEqual(lessor.checkpointsDue(10_000), []);
    assert.deepEqual(lessor.checkpointsDue(40_000), [{ id: 1, remainingTtlSeconds: 50 }]);
  });
});

describe('Lessor stalls', () => {
  it('shifts every deadline by a gap between calls past stallThresholdMs while leading', () => {
    const lessor = leader({ 1: 10 }, 0, stallOptions);
    for (let nowMs = 100; nowMs <= 1000; nowMs += 100) assert.equal(lessor.observe(nowMs), 0);
    assert.equal(lessor.observe(60_000), 59_000);
    assert.equal(lessor.expiresAtMs(1), 69_000);
    for (let nowMs = 60_000; nowMs < 69_000; nowMs += 1000) assert.deepEqual(lessor.expired(nowMs), []);
    assert.deepEqual(lessor.expired(69_000), [1]);
    assert.equal(lessor.stallsMs, 59_000);
    lessor.checkInvariants();
  });

  it('does not shift for a gap of exactly the threshold, nor while following', () => {
    const lessor = leader({ 1: 10 }, 0, stallOptions);
    assert.equal(lessor.observe(5000), 0);
    lessor.demote();
    assert.equal(lessor.observe(60_000), 0);
    lessor.promote(60_000, 0);
    assert.equal(lessor.expiresAtMs(1), 70_000);
  });

  it('notices a stall on any call that takes the time, not only observe', () => {
    const lessor = leader({ 1: 10 }, 0, stallOptions);
    assert.deepEqual(lessor.expired(30_000), []);
    assert.equal(lessor.renew(1, 30_000), 10);
    assert.equal(lessor.expiresAtMs(1), 40_000);
  });
});

describe('Lessor.reset', () => {
  it('replaces the leases with the store’s, timing them when leading', () => {
    const lessor = leader({ 1: 10, 2: 10 });
    lessor.reset(
      [
        { id: 3, grantedTtl: 20, remainingTtl: 7 },
        { id: 4, grantedTtl: 20, remainingTtl: 20 },
      ],
      1000,
    );
    assert.equal(lessor.size, 2);
    assert.equal(lessor.expiresAtMs(1), undefined);
    assert.equal(lessor.expiresAtMs(3), 8000);
    assert.deepEqual(lessor.expired(100_000), [3, 4]);
    lessor.checkInvariants();
  });

  it('refuses a repeated or bad lease and too many, changing nothing', () => {
    const lessor = new Lessor({ ...options, leasesMax: 2 });
    lessor.granted({ id: 1, ttlSeconds: 10 }, 0);
    const twice = [
      { id: 2, grantedTtl: 5, remainingTtl: 5 },
      { id: 2, grantedTtl: 5, remainingTtl: 5 },
    ];
    assert.throws(() => lessor.reset(twice, 0), InvalidArgumentError);
    assert.throws(() => lessor.reset([{ id: 2, grantedTtl: 0, remainingTtl: 0 }], 0), InvalidArgumentError);
    const three = [1, 2, 3].map((id) => ({ id, grantedTtl: 5, remainingTtl: 5 }));
    assert.throws(() => lessor.reset(three, 0), LimitExceededError);
    assert.equal(lessor.size, 1);
    lessor.promote(0, 0);
    assert.equal(lessor.expiresAtMs(1), 10_000);
  });
});

describe('Lessor arguments and limits', () => {
  it('refuses a lease tracked twice, past leasesMax, or with a bad TTL', () => {
    const lessor = new Lessor({ leasesMax: 1 });
    lessor.granted({ id: 1, ttlSeconds: 10 }, 0);
    assert.throws(() => lessor.granted({ id: 1, ttlSeconds: 10 }, 0), hasReason('LEASE_EXISTS'));
    assert.throws(() => lessor.granted({ id: 2, ttlSeconds: 10 }, 0), LimitExceededError);
    lessor.revoked(1);
    for (const grant of [
      { id: 2, ttlSeconds: 0 },
      { id: 2, ttlSeconds: 1.5 },
      { id: 2, ttlSeconds: LEASE_TTL_SECONDS_MAX + 1 },
      { id: 2, ttlSeconds: 10, remainingTtlSeconds: -1 },
    ]) {
      assert.throws(() => lessor.granted(grant, 0), InvalidArgumentError, JSON.stringify(grant));
    }
    assert.equal(lessor.size, 0);
  });

  it('refuses revoking an untracked lease, skips checkpointing one (as the store)', () => {
    const lessor = new Lessor();
    assert.throws(() => lessor.revoked(3), hasReason('LEASE_NOT_FOUND'));
    lessor.checkpointed(3, 5);
    assert.throws(() => lessor.checkpointed(3, -1), InvalidArgumentError);
    assert.equal(lessor.size, 0);
  });

  it('refuses time going back, a bad time, and promoting twice', () => {
    const lessor = new Lessor();
    lessor.observe(1000);
    assert.throws(() => lessor.observe(999), /before the last time seen/);
    assert.throws(() => lessor.observe(Number.NaN), InvalidArgumentError);
    assert.throws(() => lessor.promote(1000, -1), InvalidArgumentError);
    lessor.promote(1000, 0);
    assert.throws(() => lessor.promote(1000, 0), InvalidArgumentError);
  });

  it('refuses bad limits', () => {
    assert.throws(
      () => new Lessor({ checkpointsPerCallMax: LEASE_CHECKPOINTS_MAX + 1 }),
      InvalidArgumentError,
    );
    assert.throws(() => new Lessor({ stallThresholdMs: 0 }), InvalidArgumentError);
    assert.throws(() => new Lessor({ expiredRetryMs: 1.5 }), InvalidArgumentError);
  });
});

describe('Lessor with the store', () => {
  it('expires, revokes and checkpoints through the store; a new leader resumes from the checkpoint', () => {
    const store = new MvccStore();
    const old = new Lessor(options);
    old.promote(0, 0);
    for (const [id, ttl] of [
      [1, 30],
      [2, 5],
    ] as const) {
      old.granted({ id, ttlSeconds: store.leaseGrant({ id, ttl }).ttl }, 0);
    }
    store.put({ key: new TextEncoder().encode('k'), value: new Uint8Array(), lease: 2 });
    for (const id of old.expired(5000)) {
      store.leaseRevoke({ id });
      old.revoked(id);
    }
    assert.deepEqual(store.leaseList(), [1]);
    const checkpoints = old.checkpointsDue(10_000);
    store.leaseCheckpoint({
      checkpoints: checkpoints.map(({ id, remainingTtlSeconds: remainingTtl }) => ({ id, remainingTtl })),
    });
    for (const { id, remainingTtlSeconds } of checkpoints) old.checkpointed(id, remainingTtlSeconds);
    // A member restored from the store's state becomes leader at 12 s.
    const next = new Lessor(options);
    next.reset(
      store.leaseList().map((id) => store.leaseTimeToLive(id)!),
      12_000,
    );
    next.promote(12_000, 1000);
    assert.equal(next.expiresAtMs(1), 12_000 + 20_000 + 1000);
    next.checkInvariants();
  });
});
