import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CancelledError, LimitExceededError } from '../base/errors.ts';
import { Mutex } from './mutex.ts';
import { flush, observe } from './testdata/observe.ts';

describe('Mutex', () => {
  it('Mutex lock excludes a second locker until unlock', async () => {
    const mutex = new Mutex();
    await mutex.lock();
    assert.equal(mutex.locked, true);
    const second = observe(mutex.lock());
    await flush();
    assert.equal(second.state, 'pending');
    mutex.unlock();
    await flush();
    assert.equal(second.state, 'fulfilled');
    assert.equal(mutex.locked, true, 'the lock was handed over, not released');
    mutex.unlock();
    assert.equal(mutex.locked, false);
  });

  it('Mutex hands off in FIFO order, ahead of a later tryLock', async () => {
    const mutex = new Mutex();
    await mutex.lock();
    const order: number[] = [];
    const waiters = [1, 2, 3].map((id) => mutex.lock().then(() => order.push(id)));
    mutex.unlock();
    assert.equal(mutex.tryLock(), false, 'tryLock must not barge ahead of the waiter the lock was handed to');
    await waiters[0];
    mutex.unlock();
    await waiters[1];
    mutex.unlock();
    await waiters[2];
    assert.deepEqual(order, [1, 2, 3]);
    mutex.unlock();
    assert.equal(mutex.tryLock(), true);
  });

  it('Mutex unlock of an unlocked mutex throws an Error naming the problem', () => {
    assert.throws(() => new Mutex().unlock(), /Cannot unlock Mutex: it is not locked/);
  });

  it('Mutex withLock releases the lock when fn throws and passes its result through', async () => {
    const mutex = new Mutex();
    await assert.rejects(
      mutex.withLock(() => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(mutex.locked, false);
    assert.equal(await mutex.withLock(async () => 42), 42);
    assert.equal(mutex.locked, false);
  });

  it('Mutex lock abort removes the waiter so the lock skips it', async () => {
    const mutex = new Mutex();
    await mutex.lock();
    const controller = new AbortController();
    const aborted = mutex.lock({ signal: controller.signal });
    const next = observe(mutex.lock());
    controller.abort('late');
    await assert.rejects(
      aborted,
      (error: unknown) => error instanceof CancelledError && error.cause === 'late',
    );
    assert.equal(mutex.waiting, 1);
    mutex.unlock();
    await flush();
    assert.equal(next.state, 'fulfilled');
    await assert.rejects(mutex.lock({ signal: AbortSignal.abort() }), CancelledError);
  });

  it('Mutex lock rejects beyond waitersMax with LimitExceededError', async () => {
    const mutex = new Mutex({ waitersMax: 1 });
    mutex.tryLock();
    const waiting = mutex.lock();
    await assert.rejects(mutex.lock(), LimitExceededError);
    mutex.unlock();
    await waiting;
  });

  it('Mutex never admits two holders under random schedules and aborts (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(fc.record({ steps: fc.integer({ min: 0, max: 3 }), abort: fc.boolean() }), {
          minLength: 1,
          maxLength: 8,
        }),
        async (scheduler, workers) => {
          const mutex = new Mutex();
          let holders = 0;
          let entered = 0;
          const worker = async ({ steps, abort }: { steps: number; abort: boolean }): Promise<void> => {
            await scheduler.schedule(Promise.resolve());
            const controller = abort ? new AbortController() : undefined;
            if (controller !== undefined)
              scheduler.schedule(Promise.resolve()).then(() => controller.abort());
            try {
              await mutex.lock({ signal: controller?.signal });
            } catch (error) {
              assert.ok(error instanceof CancelledError);
              return;
            }
            holders++;
            entered++;
            assert.equal(holders, 1, 'two holders at once');
            for (let i = 0; i < steps; i++) await scheduler.schedule(Promise.resolve());
            holders--;
            mutex.unlock();
          };
          await scheduler.waitFor(Promise.all(workers.map(worker)));
          assert.equal(mutex.locked, false);
          assert.ok(entered >= workers.filter((w) => !w.abort).length);
        },
      ),
      { numRuns: 150 },
    );
  });
});
