/**
 * RWMutex against a real one-member cluster (a `tessera start` process,
 * killed by PID).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoordCluster, settledWithin } from '../../test/helpers/coord.ts';
import { CancelledError, DeadlineExceededError, SessionExpiredError } from '../base/errors.ts';
import { text } from '../client/index.ts';
import { RWMutex } from './rw-mutex.ts';

let coord: CoordCluster;

describe('RWMutex on a cluster', { timeout: 60_000 }, () => {
  before(async () => {
    coord = await CoordCluster.start();
  });
  after(() => coord?.close());

  it('readers share the lock; a writer waits for them, and a reader queued after the writer waits for it', async () => {
    const [a, b, w, c] = [
      await coord.session(),
      await coord.session(),
      await coord.session(),
      await coord.session(),
    ];
    const [ra, rb, writer, rc] = [a, b, w, c].map((s) => new RWMutex(s, 'rw1'));
    if (ra === undefined || rb === undefined || writer === undefined || rc === undefined)
      throw new Error('setup');
    const grantA = await ra.rLock();
    const grantB = await rb.rLock({ timeoutMs: 5_000 });
    assert.equal(text(grantA.key), `rw1/read/${a.lease.toString(16)}`);
    assert.ok(grantB.token > grantA.token);
    assert.equal(ra.held, 'read');

    const writing = writer.lock();
    assert.equal(await settledWithin(writing, 300), 'pending');
    const reading = rc.rLock();
    assert.equal(await settledWithin(reading, 300), 'pending');

    await ra.rUnlock();
    assert.equal(await settledWithin(writing, 300), 'pending');
    await rb.rUnlock();
    const grantW = await writing;
    assert.equal(text(grantW.key), `rw1/write/${w.lease.toString(16)}`);
    assert.equal(writer.held, 'write');
    assert.equal(await settledWithin(reading, 300), 'pending');
    await writer.unlock();
    const grantC = await reading;
    assert.ok(grantC.token > grantW.token);
    await rc.rUnlock();
    assert.deepEqual(await coord.keysUnder('rw1/'), []);
  });

  it('a writer excludes readers and writers: concurrent loops never overlap a writer with anyone', async () => {
    const mutexes = await Promise.all(
      [1, 2, 3, 4, 5, 6].map(async () => new RWMutex(await coord.session(), 'rw2')),
    );
    let readers = 0;
    let writers = 0;
    let readersMax = 0;
    const violations: string[] = [];
    const rounds = 4;
    const loops = mutexes.map(async (mutex, index) => {
      const writes = index % 2 === 0;
      for (let round = 0; round < rounds; round++) {
        if (writes) {
          await mutex.lock();
          writers++;
          if (writers !== 1 || readers !== 0)
            violations.push(`writer ${index}: ${writers} writers, ${readers} readers`);
          await sleep(15);
          writers--;
          await mutex.unlock();
        } else {
          await mutex.rLock();
          readers++;
          readersMax = Math.max(readersMax, readers);
          if (writers !== 0) violations.push(`reader ${index}: ${writers} writers`);
          await sleep(15);
          readers--;
          await mutex.rUnlock();
        }
      }
    });
    await Promise.all(loops);
    assert.deepEqual(violations, []);
    assert.ok(readersMax >= 1);
    assert.deepEqual(await coord.keysUnder('rw2/'), []);
  });

  it('a waiter gives up on its deadline, its signal or its session, leaving the queue; sides do not mix', async () => {
    const holder = new RWMutex(await coord.session(), 'rw3');
    await holder.rLock();
    await assert.rejects(holder.lock(), /holds the read side/);

    await assert.rejects(
      new RWMutex(await coord.session(), 'rw3').lock({ timeoutMs: 300 }),
      DeadlineExceededError,
    );

    const stop = new AbortController();
    const byAbort = new RWMutex(await coord.session(), 'rw3').lock({ signal: stop.signal });
    assert.equal(await settledWithin(byAbort, 200), 'pending');
    stop.abort();
    await assert.rejects(byAbort, CancelledError);

    const doomed = await coord.session(3);
    const byLoss = new RWMutex(doomed, 'rw3').lock();
    assert.equal(await settledWithin(byLoss, 200), 'pending');
    await coord.client.lease.revoke(doomed.lease);
    await assert.rejects(byLoss, SessionExpiredError);

    assert.deepEqual(await coord.keysUnder('rw3/'), [`rw3/read/${holder.session.lease.toString(16)}`]);
    await holder.rUnlock();
    assert.equal(holder.held, undefined);
  });
});
