/**
 * Barrier and DoubleBarrier against a real one-member cluster (a `tessera start` process,
 * killed by PID).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoordCluster, settledWithin } from '../../test/helpers/coord.ts';
import { CancelledError, DeadlineExceededError, LimitExceededError } from '../base/errors.ts';
import { text } from '../client/index.ts';
import { Barrier, DoubleBarrier } from './barrier.ts';

let coord: CoordCluster;

/**
 * Runs one DoubleBarrier step (enter or leave) for the `early` parties and
 * checks that none of them gets through while `last` has not started it;
 * then starts it for `last` and checks that every party gets through, each
 * only once all of them had started.
 */
async function assertPassTogether(
  step: (party: DoubleBarrier) => Promise<void>,
  early: readonly DoubleBarrier[],
  last: DoubleBarrier,
): Promise<void> {
  let started = 0;
  const passedAt: number[] = [];
  const start = (party: DoubleBarrier): Promise<void> => {
    started++;
    return step(party).then(() => {
      passedAt.push(started);
    });
  };
  const earlyPasses = early.map(start);
  assert.equal(await settledWithin(Promise.race(earlyPasses), 400), 'pending');
  assert.deepEqual(passedAt, []);
  await Promise.all([...earlyPasses, start(last)]);
  const partiesCount = early.length + 1;
  assert.deepEqual(passedAt, new Array<number>(partiesCount).fill(partiesCount));
}

describe('Barrier and DoubleBarrier on a cluster', { timeout: 60_000 }, () => {
  before(async () => {
    coord = await CoordCluster.start();
  });
  after(() => coord?.close());

  it('Barrier: wait passes a barrier not held, blocks while held, and passes once released', async () => {
    const barrier = new Barrier(coord.client, 'b1/gate');
    await barrier.wait();
    assert.equal(await barrier.hold(), true);
    assert.equal(await barrier.hold(), false);
    const waiters = [barrier.wait(), new Barrier(coord.client, 'b1/gate').wait()];
    for (const waiter of waiters) assert.equal(await settledWithin(waiter, 300), 'pending');
    await assert.rejects(barrier.wait({ timeoutMs: 200 }), DeadlineExceededError);
    const stop = new AbortController();
    const byAbort = barrier.wait({ signal: stop.signal });
    stop.abort();
    await assert.rejects(byAbort, CancelledError);
    await barrier.release();
    await Promise.all(waiters);
    assert.equal(await coord.client.kv.get('b1/gate'), undefined);
    assert.throws(() => new Barrier(coord.client, ''), TypeError);
  });

  it('DoubleBarrier: nobody gets through enter before count entered, nor through leave before all left', async () => {
    const parties = await Promise.all(
      [1, 2, 3].map(async () => new DoubleBarrier(await coord.session(), 'b2', 3)),
    );
    const [p1, p2, p3] = parties;
    if (p1 === undefined || p2 === undefined || p3 === undefined) throw new Error('setup');
    await assertPassTogether((party) => party.enter({ timeoutMs: 10_000 }), [p1, p2], p3);
    assert.ok((await coord.client.kv.get('b2/ready')) !== undefined);
    // The oldest party (p1) and a younger one start leaving; neither gets out while p2 is in.
    await assertPassTogether((party) => party.leave({ timeoutMs: 10_000 }), [p1, p3], p2);
    assert.deepEqual(await coord.keysUnder('b2/'), []);
  });

  it("DoubleBarrier: one party too many is refused and leaves no key; the end of the oldest party's session does not hold up leave", async () => {
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => coord.session()));
    if (a === undefined || b === undefined || c === undefined) throw new Error('setup');
    const [pa, pb, pc] = [a, b, c].map((s) => new DoubleBarrier(s, 'b3', 2));
    if (pa === undefined || pb === undefined || pc === undefined) throw new Error('setup');
    // A enters first, so its key is the oldest.
    const enteredA = pa.enter();
    while ((await coord.keysUnder('b3/waiters/')).length < 1) await new Promise((r) => setTimeout(r, 10));
    await Promise.all([enteredA, pb.enter()]);
    await assert.rejects(pc.enter(), LimitExceededError);
    assert.deepEqual(await coord.keysUnder('b3/waiters/'), [text(pa.myKey), text(pb.myKey)].sort());

    // B leaves and waits for the oldest, A, which never calls leave: its session ending lets B out,
    // and B, the last one out, deletes ready.
    const leaving = pb.leave();
    assert.equal(await settledWithin(leaving, 400), 'pending');
    assert.deepEqual(await coord.keysUnder('b3/waiters/'), [text(pa.myKey)]);
    await a.close();
    await leaving;
    assert.deepEqual(await coord.keysUnder('b3/'), []);

    const stop = new AbortController();
    const waiting = new DoubleBarrier(c, 'b4', 2).enter({ signal: stop.signal });
    assert.equal(await settledWithin(waiting, 200), 'pending');
    stop.abort();
    await assert.rejects(waiting, CancelledError);
    assert.deepEqual(await coord.keysUnder('b4/'), []);
    assert.throws(() => new DoubleBarrier(c, 'b5', 0), RangeError);
  });
});
