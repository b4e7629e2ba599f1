/**
 * The lessor against a model: random grants, revokes, renewals,
 * checkpoints, promotions, demotions and ticks (some long enough to be
 * stalls) at increasing times. The model keeps every deadline on the
 * caller's clock and shifts them all by hand at a stall; the lessor must
 * report exactly the leases the model says are due, so none before its
 * deadline (with the extensions) and every one past it, within `max`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidArgumentError, NotLeaderError } from '../base/errors.ts';
import { Lessor } from './lessor.ts';

const limits = {
  checkpointIntervalMs: 2000,
  expiredRetryMs: 3000,
  stallThresholdMs: 5000,
  leasesExpiredPerCallMax: 4,
  checkpointsPerCallMax: 4,
};

interface ModelLease {
  readonly ttl: number;
  remaining: number;
  deadline: number | undefined;
  // When the lease is next due to be reported: its deadline, or later once reported.
  queueAt: number | undefined;
}

class Model {
  readonly leases = new Map<number, ModelLease>();
  leading = false;
  last: number | undefined;

  advance(now: number): void {
    if (this.last !== undefined && this.leading && now - this.last > limits.stallThresholdMs) {
      const gap = now - this.last;
      for (const lease of this.leases.values()) {
        if (lease.deadline !== undefined) lease.deadline += gap;
        if (lease.queueAt !== undefined) lease.queueAt += gap;
      }
    }
    this.last = now;
  }

  time(lease: ModelLease, now: number, extend: number): void {
    lease.deadline = now + lease.remaining * 1000 + extend;
    lease.queueAt = lease.deadline;
  }
}

const pick = fc.nat(1000);
const op = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('tick' as const), dt: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), dt: fc.nat(8000) }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('grant' as const), ttl: fc.integer({ min: 1, max: 8 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('revoke' as const), pick }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('renew' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('promote' as const), extend: fc.nat(3000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('demote' as const) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('expired' as const), max: fc.nat(4) }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('checkpoints' as const), max: fc.nat(4), apply: fc.boolean() }),
  },
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

function pickId(model: Model, index: number): number | undefined {
  const ids = [...model.leases.keys()];
  return ids.length === 0 ? undefined : ids[index % ids.length];
}

function step(lessor: Lessor, model: Model, action: Op, now: number, nextId: () => number): void {
  switch (action.kind) {
    case 'tick':
      model.advance(now);
      lessor.observe(now);
      return;
    case 'grant': {
      const id = nextId();
      model.advance(now);
      const lease: ModelLease = {
        ttl: action.ttl,
        remaining: action.ttl,
        deadline: undefined,
        queueAt: undefined,
      };
      model.leases.set(id, lease);
      if (model.leading) model.time(lease, now, 0);
      lessor.granted({ id, ttlSeconds: action.ttl }, now);
      return;
    }
    case 'revoke': {
      const id = pickId(model, action.pick);
      if (id === undefined) return;
      model.leases.delete(id);
      lessor.revoked(id);
      return;
    }
    case 'renew':
      stepRenew(lessor, model, pickId(model, action.pick), now);
      return;
    case 'promote':
      model.advance(now);
      if (model.leading) {
        assert.throws(() => lessor.promote(now, action.extend), InvalidArgumentError);
        return;
      }
      model.leading = true;
      for (const lease of model.leases.values()) model.time(lease, now, action.extend);
      lessor.promote(now, action.extend);
      return;
    case 'demote':
      model.leading = false;
      for (const lease of model.leases.values()) {
        lease.deadline = undefined;
        lease.queueAt = undefined;
      }
      lessor.demote();
      return;
    case 'expired':
      stepExpired(lessor, model, action.max, now);
      return;
    case 'checkpoints':
      stepCheckpoints(lessor, model, action.max, action.apply, now);
      return;
  }
}

function stepRenew(lessor: Lessor, model: Model, id: number | undefined, now: number): void {
  if (id === undefined) return;
  model.advance(now);
  const lease = model.leases.get(id)!;
  if (!model.leading) {
    assert.throws(() => lessor.renew(id, now), NotLeaderError);
  } else if (lease.deadline! <= now) {
    assert.throws(() => lessor.renew(id, now), InvalidArgumentError);
  } else {
    assert.equal(lessor.renew(id, now), lease.ttl);
    lease.deadline = now + lease.ttl * 1000;
    lease.queueAt = lease.deadline;
  }
}

function stepExpired(lessor: Lessor, model: Model, max: number, now: number): void {
  model.advance(now);
  const got = lessor.expired(now, max);
  if (!model.leading) {
    assert.deepEqual(got, []);
    return;
  }
  const due = [...model.leases]
    .filter(([, lease]) => lease.queueAt! <= now)
    .sort(([idA, a], [idB, b]) => a.queueAt! - b.queueAt! || idA - idB)
    .map(([id]) => id);
  assert.deepEqual(got, due.slice(0, max), `expired at ${now}, max ${max}`);
  for (const id of got) {
    const lease = model.leases.get(id)!;
    assert.ok(lease.deadline! <= now, `lease ${id} reported before its deadline ${lease.deadline}`);
    lease.queueAt = now + limits.expiredRetryMs;
  }
  // Every lease past its deadline and not reported lately was reported, within max.
  if (got.length < max) assert.ok([...model.leases.values()].every((lease) => lease.queueAt! > now));
}

function stepCheckpoints(lessor: Lessor, model: Model, max: number, apply: boolean, now: number): void {
  model.advance(now);
  const got = lessor.checkpointsDue(now, max);
  if (!model.leading) assert.deepEqual(got, []);
  assert.ok(got.length <= max);
  for (const { id, remainingTtlSeconds } of got) {
    const lease = model.leases.get(id)!;
    assert.ok(lease.deadline! > now, `checkpoint of lease ${id} past its deadline`);
    const expected = Math.min(Math.ceil((lease.deadline! - now) / 1000), lease.ttl);
    assert.equal(remainingTtlSeconds, expected);
    assert.notEqual(remainingTtlSeconds, lease.remaining);
    if (apply) {
      lease.remaining = remainingTtlSeconds;
      lessor.checkpointed(id, remainingTtlSeconds);
    }
  }
}

describe('Lessor against a model (property)', () => {
  it('reports exactly the due leases, never early, and keeps its invariants', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 30, maxLength: 100, size: 'max' }), (ops) => {
        const lessor = new Lessor(limits);
        const model = new Model();
        let now = 0;
        let id = 0;
        for (const action of ops) {
          if (action.kind === 'tick') now += action.dt;
          step(lessor, model, action, now, () => ++id);
          lessor.checkInvariants();
          assert.equal(lessor.size, model.leases.size);
          assert.equal(lessor.leading, model.leading);
          for (const [leaseId, lease] of model.leases)
            assert.equal(lessor.expiresAtMs(leaseId), lease.deadline);
        }
      }),
      { numRuns: 200 },
    );
  });
});
