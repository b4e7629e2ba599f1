/**
 * Sessions and mutexes against a real one-member cluster (a `tessera
 * start` process, killed by PID).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoordCluster, settledWithin } from '../../test/helpers/coord.ts';
import { CancelledError, DeadlineExceededError, FencedError, SessionExpiredError } from '../base/errors.ts';
import { op, text } from '../client/index.ts';
import { Mutex } from './mutex.ts';

let coord: CoordCluster;

describe('Session and Mutex on a cluster', { timeout: 60_000 }, () => {
  before(async () => {
    coord = await CoordCluster.start();
  });
  after(() => coord?.close());

  it('a session keeps its lease past its TTL, and closing revokes it', async () => {
    const s = await coord.session(2);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal(s.alive, true);
    assert.ok((await coord.client.lease.timeToLive(s.lease)).ttl > 0);
    await s.close();
    assert.deepEqual(await s.done, { reason: 'closed' });
    assert.equal(s.signal.aborted, true);
    assert.equal((await coord.client.lease.timeToLive(s.lease)).ttl, -1);
  });

  it('a session whose lease is revoked elsewhere ends as lease-lost, and its signal aborts with SessionExpiredError', async () => {
    const s = await coord.session(3);
    await coord.client.lease.revoke(s.lease);
    const end = await s.done;
    assert.equal(end.reason, 'lease-lost');
    assert.ok(s.signal.reason instanceof SessionExpiredError);
    assert.throws(() => s.checkAlive('lock'), SessionExpiredError);
  });

  it('a session held up past its TTL (a busy or paused process, its renewal timer late) is not alive when next asked', async () => {
    const s = await coord.session(2);
    // Block the event loop past the TTL: no timer fires, so no renewal runs and the renewal loop cannot notice.
    const until = Date.now() + 2_100;
    while (Date.now() < until) {
      // Busy on purpose.
    }
    assert.equal(s.alive, false);
    assert.throws(() => s.checkAlive('lock'), SessionExpiredError);
    assert.equal((await s.done).reason, 'unreachable');
  });

  it('grants in queue order with growing tokens; a fenced write fails once the lock moved on; tryLock does not wait', async () => {
    const [a, b, c] = [await coord.session(), await coord.session(), await coord.session()];
    const [ma, mb, mc] = [new Mutex(a, 'm1'), new Mutex(b, 'm1'), new Mutex(c, 'm1')];
    const grantA = await ma.lock();
    assert.equal(text(grantA.key), `m1/${a.lease.toString(16)}`);
    const waitingB = mb.lock();
    assert.equal(await settledWithin(waitingB, 300), 'pending');
    assert.equal(await mc.tryLock(), undefined);
    // tryLock left no key: only A's and B's are queued.
    assert.deepEqual((await coord.keysUnder('m1/')).length, 2);

    await coord.client.kv.put('m1-data', 'by A', { fence: grantA.fence });
    const { succeeded } = await coord.client.kv.txn({
      compare: [ma.isOwner()],
      success: [op.put('m1-owner', 'A')],
    });
    assert.equal(succeeded, true);

    await ma.unlock();
    const grantB = await waitingB;
    assert.ok(grantB.token > grantA.token);
    await assert.rejects(coord.client.kv.put('m1-data', 'stale A', { fence: grantA.fence }), (error) => {
      assert.ok(error instanceof FencedError);
      assert.deepEqual(error.details, { token: grantA.token, holderToken: grantB.token });
      return true;
    });
    await assert.rejects(
      coord.client.kv.txn({ fence: grantA.fence, success: [op.put('m1-data', 'stale A')] }),
      FencedError,
    );
    assert.equal(text((await coord.client.kv.get('m1-data'))?.value ?? new Uint8Array()), 'by A');
    assert.throws(() => ma.isOwner(), /the lock is not held/);
    await mb.unlock();
    assert.ok((await mc.tryLock()) !== undefined);
    await mc.unlock();
    assert.deepEqual(await coord.keysUnder('m1/'), []);
  });

  it('five contenders are granted in the order they queued, each after its predecessor unlocked', async () => {
    const contenders = await Promise.all([1, 2, 3, 4, 5].map(() => coord.session()));
    const holder = new Mutex(await coord.session(), 'm2');
    await holder.lock();
    const order: number[] = [];
    const grants: number[] = [];
    const mutexes = contenders.map((s) => new Mutex(s, 'm2'));
    const waits: Promise<void>[] = [];
    for (const [index, mutex] of mutexes.entries()) {
      waits.push(
        mutex.lock().then(async (grant) => {
          order.push(index);
          grants.push(grant.token);
          await mutex.unlock();
        }),
      );
      // Queue one after another so the queue order is known.
      while ((await coord.keysUnder('m2/')).length < index + 2) await new Promise((r) => setTimeout(r, 10));
    }
    await holder.unlock();
    await Promise.all(waits);
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
    for (let i = 1; i < grants.length; i++) assert.ok((grants[i] as number) > (grants[i - 1] as number));
  });

  it('a waiter gives up on its signal, its deadline, or the loss of its session, leaving the queue', async () => {
    const holder = new Mutex(await coord.session(), 'm3');
    await holder.lock();

    const stop = new AbortController();
    const byAbort = new Mutex(await coord.session(), 'm3').lock({ signal: stop.signal });
    assert.equal(await settledWithin(byAbort, 200), 'pending');
    stop.abort();
    await assert.rejects(byAbort, CancelledError);

    await assert.rejects(
      new Mutex(await coord.session(), 'm3').lock({ timeoutMs: 300 }),
      DeadlineExceededError,
    );

    const doomed = await coord.session(3);
    const byLoss = new Mutex(doomed, 'm3').lock();
    assert.equal(await settledWithin(byLoss, 200), 'pending');
    await coord.client.lease.revoke(doomed.lease);
    await assert.rejects(byLoss, SessionExpiredError);

    assert.deepEqual(await coord.keysUnder('m3/'), [text(holder.key)]);
    await holder.unlock();
    await assert.rejects(new Mutex(doomed, 'm3').lock(), SessionExpiredError);
  });
});
