import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CancelledError, LimitExceededError } from '../base/errors.ts';
import { Semaphore } from './semaphore.ts';
import { flush, observe } from './testdata/observe.ts';

describe('Semaphore', () => {
  it('Semaphore acquire takes permits at once while they are free, then waits', async () => {
    const semaphore = new Semaphore(3);
    await semaphore.acquire(2);
    await semaphore.acquire();
    assert.equal(semaphore.available, 0);
    const waiting = observe(semaphore.acquire());
    await flush();
    assert.equal(waiting.state, 'pending');
    semaphore.release();
    await flush();
    assert.equal(waiting.state, 'fulfilled');
    assert.equal(semaphore.available, 0);
  });

  it('Semaphore is FIFO: a large waiter at the head blocks smaller later ones', async () => {
    const semaphore = new Semaphore(4);
    await semaphore.acquire(3);
    const large = observe(semaphore.acquire(3));
    const small = observe(semaphore.acquire(1));
    assert.equal(semaphore.tryAcquire(1), false, 'one permit is free but a waiter is ahead');
    await flush();
    assert.deepEqual([large.state, small.state], ['pending', 'pending']);
    semaphore.release(3);
    await flush();
    assert.deepEqual([large.state, small.state], ['fulfilled', 'fulfilled']);
    assert.equal(semaphore.available, 0);
  });

  it('Semaphore wakes the waiters behind an aborted head that now fit', async () => {
    const semaphore = new Semaphore(2);
    await semaphore.acquire(1);
    const controller = new AbortController();
    const head = semaphore.acquire(2, { signal: controller.signal });
    const behind = observe(semaphore.acquire(1));
    controller.abort('no');
    await assert.rejects(head, (error: unknown) => error instanceof CancelledError && error.cause === 'no');
    await flush();
    assert.equal(behind.state, 'fulfilled');
    assert.equal(semaphore.available, 0);
  });

  it('Semaphore acquire of more than capacity rejects with RangeError', async () => {
    const semaphore = new Semaphore(2);
    await assert.rejects(semaphore.acquire(3), RangeError);
    await assert.rejects(semaphore.acquire(-1), RangeError);
    assert.throws(() => semaphore.tryAcquire(3), RangeError);
    assert.equal(semaphore.available, 2);
  });

  it('Semaphore release of more than held throws RangeError and releases nothing', async () => {
    const semaphore = new Semaphore(2);
    await semaphore.acquire(1);
    assert.throws(() => semaphore.release(2), /only 1 are held/);
    assert.equal(semaphore.available, 1);
    assert.throws(() => new Semaphore(0), RangeError);
  });

  it('Semaphore acquire with an aborted signal or beyond waitersMax rejects', async () => {
    const semaphore = new Semaphore(1, { waitersMax: 1 });
    await assert.rejects(semaphore.acquire(1, { signal: AbortSignal.abort() }), CancelledError);
    assert.equal(semaphore.available, 1);
    await semaphore.acquire();
    const waiting = semaphore.acquire();
    await assert.rejects(semaphore.acquire(), LimitExceededError);
    semaphore.release();
    await waiting;
  });

  it('Semaphore never exceeds capacity and grants every request (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 5 }),
        fc.array(
          fc.record({
            weight: fc.integer({ min: 0, max: 5 }),
            steps: fc.integer({ min: 0, max: 2 }),
            abort: fc.boolean(),
          }),
          { minLength: 1, maxLength: 10 },
        ),
        async (scheduler, capacity, requests) => {
          const semaphore = new Semaphore(capacity);
          let inUse = 0;
          let finished = 0;
          const request = async ({
            weight,
            steps,
            abort,
          }: {
            weight: number;
            steps: number;
            abort: boolean;
          }) => {
            const n = Math.min(weight, capacity);
            await scheduler.schedule(Promise.resolve());
            const controller = abort ? new AbortController() : undefined;
            if (controller !== undefined)
              scheduler.schedule(Promise.resolve()).then(() => controller.abort());
            try {
              await semaphore.acquire(n, { signal: controller?.signal });
            } catch (error) {
              assert.ok(error instanceof CancelledError);
              finished++;
              return;
            }
            inUse += n;
            assert.ok(inUse <= capacity, `${inUse} permits in use, capacity ${capacity}`);
            for (let i = 0; i < steps; i++) await scheduler.schedule(Promise.resolve());
            inUse -= n;
            semaphore.release(n);
            finished++;
          };
          await scheduler.waitFor(Promise.all(requests.map(request)));
          assert.equal(finished, requests.length);
          assert.equal(semaphore.available, capacity);
          assert.equal(semaphore.waiting, 0);
        },
      ),
      { numRuns: 150 },
    );
  });
});
