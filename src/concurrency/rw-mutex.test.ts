import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CancelledError, LimitExceededError } from '../base/errors.ts';
import { RWMutex } from './rw-mutex.ts';
import { flush, observe } from './testdata/observe.ts';

describe('RWMutex', () => {
  it('RWMutex admits many readers at once', async () => {
    const lock = new RWMutex();
    await lock.rLock();
    await lock.rLock();
    assert.equal(lock.tryRLock(), true);
    assert.equal(lock.readers, 3);
    assert.equal(lock.tryLock(), false);
  });

  it('RWMutex writer waits for active readers, then excludes everyone', async () => {
    const lock = new RWMutex();
    await lock.rLock();
    const writer = observe(lock.lock());
    await flush();
    assert.equal(writer.state, 'pending');
    lock.rUnlock();
    await flush();
    assert.equal(writer.state, 'fulfilled');
    assert.equal(lock.writeLocked, true);
    assert.equal(lock.tryRLock(), false);
    assert.equal(lock.tryLock(), false);
  });

  it('RWMutex waiting writer blocks new readers (writer preference)', async () => {
    const lock = new RWMutex();
    await lock.rLock();
    const writer = observe(lock.lock());
    const lateReader = observe(lock.rLock());
    assert.equal(lock.tryRLock(), false);
    await flush();
    assert.equal(lateReader.state, 'pending');
    lock.rUnlock();
    await flush();
    assert.deepEqual([writer.state, lateReader.state], ['fulfilled', 'pending']);
  });

  it('RWMutex writer unlock admits every queued reader as one batch before the next writer', async () => {
    const lock = new RWMutex();
    await lock.lock();
    const firstReader = observe(lock.rLock());
    const secondWriter = observe(lock.lock());
    const secondReader = observe(lock.rLock());
    lock.unlock();
    await flush();
    assert.deepEqual(
      [firstReader.state, secondReader.state, secondWriter.state],
      ['fulfilled', 'fulfilled', 'pending'],
    );
    assert.equal(lock.readers, 2);
    lock.rUnlock();
    lock.rUnlock();
    await flush();
    assert.equal(secondWriter.state, 'fulfilled');
  });

  it('RWMutex serves writers in FIFO order', async () => {
    const lock = new RWMutex();
    await lock.lock();
    const order: number[] = [];
    const writers = [1, 2].map((id) => lock.lock().then(() => order.push(id)));
    lock.unlock();
    await writers[0];
    lock.unlock();
    await writers[1];
    assert.deepEqual(order, [1, 2]);
  });

  it('RWMutex admits the readers queued behind the only waiting writer when it aborts', async () => {
    const lock = new RWMutex();
    await lock.rLock();
    const controller = new AbortController();
    const writer = lock.lock({ signal: controller.signal });
    const reader = observe(lock.rLock());
    controller.abort('gone');
    await assert.rejects(
      writer,
      (error: unknown) => error instanceof CancelledError && error.cause === 'gone',
    );
    await flush();
    assert.equal(reader.state, 'fulfilled');
    assert.equal(lock.readers, 2);
  });

  it('RWMutex reader abort leaves the lock state unchanged', async () => {
    const lock = new RWMutex();
    await lock.lock();
    const controller = new AbortController();
    const reader = lock.rLock({ signal: controller.signal });
    controller.abort();
    await assert.rejects(reader, CancelledError);
    lock.unlock();
    assert.equal(lock.readers, 0);
    assert.equal(lock.tryLock(), true);
    await assert.rejects(lock.rLock({ signal: AbortSignal.abort() }), CancelledError);
  });

  it('RWMutex unlock and rUnlock of a lock not held throw', () => {
    const lock = new RWMutex();
    assert.throws(() => lock.unlock(), /Cannot unlock RWMutex: the write lock is not held/);
    assert.throws(() => lock.rUnlock(), /Cannot read-unlock RWMutex: no read lock is held/);
  });

  it('RWMutex withLock and withRLock release on throw', async () => {
    const lock = new RWMutex();
    await assert.rejects(
      lock.withRLock(() => {
        throw new Error('read failed');
      }),
      /read failed/,
    );
    await assert.rejects(
      lock.withLock(async () => {
        throw new Error('write failed');
      }),
      /write failed/,
    );
    assert.deepEqual([lock.readers, lock.writeLocked], [0, false]);
    assert.equal(await lock.withRLock(() => 'r'), 'r');
  });

  it('RWMutex rejects beyond waitersMax with LimitExceededError', async () => {
    const lock = new RWMutex({ waitersMax: 1 });
    await lock.lock();
    const reader = lock.rLock();
    await assert.rejects(lock.lock(), LimitExceededError);
    lock.unlock();
    await reader;
  });

  it('RWMutex never has a writer alongside anyone, and everyone gets in (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(
          fc.record({ writer: fc.boolean(), steps: fc.integer({ min: 0, max: 3 }), abort: fc.boolean() }),
          { minLength: 1, maxLength: 10 },
        ),
        async (scheduler, actors) => {
          const lock = new RWMutex();
          let readers = 0;
          let writers = 0;
          let finished = 0;
          const actor = async ({
            writer,
            steps,
            abort,
          }: {
            writer: boolean;
            steps: number;
            abort: boolean;
          }) => {
            await scheduler.schedule(Promise.resolve());
            const controller = abort ? new AbortController() : undefined;
            if (controller !== undefined)
              scheduler.schedule(Promise.resolve()).then(() => controller.abort());
            try {
              await (writer
                ? lock.lock({ signal: controller?.signal })
                : lock.rLock({ signal: controller?.signal }));
            } catch (error) {
              assert.ok(error instanceof CancelledError);
              finished++;
              return;
            }
            if (writer) writers++;
            else readers++;
            assert.ok(writers <= 1, 'two writers at once');
            assert.ok(writers === 0 || readers === 0, 'a writer alongside readers');
            for (let i = 0; i < steps; i++) {
              await scheduler.schedule(Promise.resolve());
              assert.ok(writers === 0 || readers === 0, 'a writer alongside readers');
            }
            if (writer) {
              writers--;
              lock.unlock();
            } else {
              readers--;
              lock.rUnlock();
            }
            finished++;
          };
          await scheduler.waitFor(Promise.all(actors.map(actor)));
          assert.equal(finished, actors.length);
          assert.deepEqual([lock.readers, lock.writeLocked], [0, false]);
        },
      ),
      { numRuns: 150 },
    );
  });
});
