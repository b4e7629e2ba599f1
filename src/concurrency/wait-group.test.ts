import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CancelledError, LimitExceededError } from '../base/errors.ts';
import { flush, observe } from './testdata/observe.ts';
import { WaitGroup } from './wait-group.ts';

describe('WaitGroup', () => {
  it('WaitGroup wait resolves at once when the counter is zero', async () => {
    const group = new WaitGroup();
    const waited = observe(group.wait());
    await flush();
    assert.equal(waited.state, 'fulfilled');
  });

  it('WaitGroup wait resolves every waiter when the counter returns to zero, not before', async () => {
    const group = new WaitGroup();
    group.add(2);
    const first = observe(group.wait());
    const second = observe(group.wait());
    group.done();
    await flush();
    assert.deepEqual([first.state, second.state], ['pending', 'pending']);
    assert.equal(group.count, 1);
    group.done();
    await flush();
    assert.deepEqual([first.state, second.state], ['fulfilled', 'fulfilled']);
  });

  it('WaitGroup add accepts a negative delta, as Go does', async () => {
    const group = new WaitGroup();
    group.add(3);
    const waited = observe(group.wait());
    group.add(-3);
    await flush();
    assert.equal(waited.state, 'fulfilled');
  });

  it('WaitGroup throws RangeError when the counter would go negative, leaving it unchanged', () => {
    const group = new WaitGroup();
    assert.throws(() => group.done(), /negative/);
    group.add(1);
    assert.throws(() => group.add(-2), RangeError);
    assert.equal(group.count, 1);
    assert.throws(() => group.add(0.5), RangeError);
  });

  it('WaitGroup wait abort rejects with CancelledError and leaves the other waiters', async () => {
    const group = new WaitGroup();
    group.add();
    const controller = new AbortController();
    const aborted = group.wait({ signal: controller.signal });
    const other = observe(group.wait());
    controller.abort('x');
    await assert.rejects(aborted, (error: unknown) => error instanceof CancelledError && error.cause === 'x');
    group.done();
    await flush();
    assert.equal(other.state, 'fulfilled');
    await assert.rejects(group.wait({ signal: AbortSignal.abort() }), CancelledError);
  });

  it('WaitGroup wait rejects beyond waitersMax with LimitExceededError', async () => {
    const group = new WaitGroup({ waitersMax: 1 });
    group.add();
    const first = group.wait();
    await assert.rejects(group.wait(), LimitExceededError);
    group.done();
    await first;
  });

  it('WaitGroup wait resolves only once the counter has been zero since the call (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(
          fc.oneof(fc.constant('add' as const), fc.constant('done' as const), fc.constant('wait' as const)),
          {
            maxLength: 30,
          },
        ),
        async (scheduler, operations) => {
          const group = new WaitGroup();
          let zeroHits = 0;
          const waits: Promise<void>[] = [];
          const runner = async (): Promise<void> => {
            for (const operation of operations) {
              await scheduler.schedule(Promise.resolve(operation));
              if (operation === 'add') group.add();
              else if (operation === 'done' && group.count > 0) {
                group.done();
                if (group.count === 0) zeroHits++;
              } else if (operation === 'wait') {
                const zeroHitsAtCall = zeroHits;
                const startedAtZero = group.count === 0;
                waits.push(
                  group.wait().then(() => {
                    assert.ok(
                      startedAtZero || zeroHits > zeroHitsAtCall,
                      'wait resolved while the counter was not zero',
                    );
                  }),
                );
              }
            }
            // Drain: every waiter must be released once the counter reaches zero.
            const remaining = group.count;
            if (remaining > 0) {
              group.add(-remaining);
              zeroHits++;
            }
          };
          await scheduler.waitFor(runner());
          await Promise.all(waits);
        },
      ),
      { numRuns: 100 },
    );
  });
});
