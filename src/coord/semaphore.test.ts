/**
 * Semaphore against a real one-member cluster (a `tessera start` process,
 * killed by PID).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoordCluster, settledWithin } from '../../test/helpers/coord.ts';
import { CancelledError, DeadlineExceededError, SessionExpiredError } from '../base/errors.ts';
import { text } from '../client/index.ts';
import { SEMAPHORE_PERMITS_MAX, Semaphore } from './semaphore.ts';

let coord: CoordCluster;

describe('Semaphore on a cluster', { timeout: 60_000 }, () => {
  before(async () => {
    coord = await CoordCluster.start();
  });
  after(() => coord?.close());

  it('permits must be an integer in [1, SEMAPHORE_PERMITS_MAX]', async () => {
    const s = await coord.session();
    for (const bad of [0, -1, 1.5, Number.NaN, SEMAPHORE_PERMITS_MAX + 1]) {
      assert.throws(() => new Semaphore(s, 'sem0', bad), RangeError);
    }
    assert.equal(new Semaphore(s, 'sem0', SEMAPHORE_PERMITS_MAX).permits, SEMAPHORE_PERMITS_MAX);
  });

  it('n + 3 concurrent acquirers: never more than n hold at once, and all acquire', async () => {
    const permits = 2;
    const semaphores = await Promise.all(
      [1, 2, 3, 4, 5].map(async () => new Semaphore(await coord.session(), 'sem1', permits)),
    );
    let holding = 0;
    let holdingMax = 0;
    let acquired = 0;
    const tokens = new Set<number>();
    await Promise.all(
      semaphores.map(async (semaphore) => {
        for (let round = 0; round < 2; round++) {
          const grant = await semaphore.acquire({ timeoutMs: 10_000 });
          tokens.add(grant.token);
          holding++;
          acquired++;
          holdingMax = Math.max(holdingMax, holding);
          await sleep(20);
          holding--;
          await semaphore.release();
        }
      }),
    );
    assert.equal(acquired, 10);
    assert.equal(tokens.size, 10);
    assert.ok(holdingMax <= permits, `${holdingMax} held at once`);
    assert.deepEqual(await coord.keysUnder('sem1/'), []);
  });

  it('any holder releasing admits the first in line, and the next waiter follows (not only the oldest holder)', async () => {
    const [a, b, c, d, e] = await Promise.all(
      [1, 2, 3, 4, 5].map(async () => new Semaphore(await coord.session(), 'sem2', 3)),
    );
    if (a === undefined || b === undefined || c === undefined || d === undefined || e === undefined) {
      throw new Error('setup');
    }
    const grantA = await a.acquire();
    const grantB = await b.acquire();
    const grantC = await c.acquire();
    assert.ok(grantA.token < grantB.token && grantB.token < grantC.token);
    const waitingD = d.acquire();
    assert.equal(await settledWithin(waitingD, 300), 'pending');
    const waitingE = e.acquire();
    assert.equal(await settledWithin(waitingE, 300), 'pending');

    // The newest holder releases: D, first in line, is admitted although the oldest holder still holds.
    await c.release();
    const grantD = await waitingD;
    assert.ok(grantD.token > grantC.token);
    assert.equal(await settledWithin(waitingE, 300), 'pending');

    // E became first in line when D was admitted; B releasing admits it.
    await b.release();
    await waitingE;
    assert.equal((await coord.keysUnder('sem2/')).length, 3);
    for (const semaphore of [a, d, e]) await semaphore.release();
    assert.deepEqual(await coord.keysUnder('sem2/'), []);
  });

  it('tryAcquire takes a free permit and otherwise leaves no key; waiters give up on deadline, signal or session loss', async () => {
    const holder = new Semaphore(await coord.session(), 'sem3', 1);
    const other = new Semaphore(await coord.session(), 'sem3', 1);
    assert.ok((await holder.tryAcquire()) !== undefined);
    assert.equal(await other.tryAcquire(), undefined);
    assert.deepEqual(await coord.keysUnder('sem3/'), [text(holder.key)]);

    await assert.rejects(other.acquire({ timeoutMs: 300 }), DeadlineExceededError);
    const stop = new AbortController();
    const byAbort = other.acquire({ signal: stop.signal });
    assert.equal(await settledWithin(byAbort, 200), 'pending');
    stop.abort();
    await assert.rejects(byAbort, CancelledError);

    const doomed = await coord.session(3);
    const byLoss = new Semaphore(doomed, 'sem3', 1).acquire();
    assert.equal(await settledWithin(byLoss, 200), 'pending');
    await coord.client.lease.revoke(doomed.lease);
    await assert.rejects(byLoss, SessionExpiredError);

    assert.deepEqual(await coord.keysUnder('sem3/'), [text(holder.key)]);
    await holder.release();
    assert.equal(holder.grant, undefined);
    assert.ok((await other.tryAcquire()) !== undefined);
    await other.release();
  });
});
