import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LimitExceededError } from '../base/errors.ts';
import { ErrGroup } from './err-group.ts';
import { flush, observe } from './testdata/observe.ts';

// A task the test finishes by hand.
function gate(): { promise: Promise<void>; open: () => void; fail: (error: unknown) => void } {
  let open: () => void = () => undefined;
  let fail: (error: unknown) => void = () => undefined;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

describe('ErrGroup', () => {
  it('ErrGroup wait resolves once every task has finished', async () => {
    const group = new ErrGroup();
    await group.wait();
    const first = gate();
    const second = gate();
    await group.go(() => first.promise);
    await group.go(() => second.promise);
    const waited = observe(group.wait());
    first.open();
    await flush();
    assert.equal(waited.state, 'pending');
    second.open();
    await flush();
    assert.equal(waited.state, 'fulfilled');
  });

  it('ErrGroup wait rejects with the first error, after every task finished, and aborts the signal', async () => {
    const group = new ErrGroup();
    const slow = gate();
    const firstError = new Error('first');
    let seenSignal: AbortSignal | undefined;
    await group.go((signal) => {
      seenSignal = signal;
      return slow.promise;
    });
    await group.go(async () => {
      throw firstError;
    });
    await group.go(() => Promise.reject(new Error('second')));
    const waited = observe(group.wait());
    await flush();
    assert.equal(group.signal.aborted, true);
    assert.equal(group.signal.reason, firstError);
    assert.equal(seenSignal, group.signal);
    assert.equal(waited.state, 'pending', 'wait must wait for the slow task too');
    slow.open();
    await flush();
    assert.equal(waited.state, 'rejected');
    assert.equal(waited.error, firstError);
    await assert.rejects(group.wait(), (error: unknown) => error === firstError);
  });

  it('ErrGroup counts a task that throws synchronously as failed', async () => {
    const group = new ErrGroup();
    await group.go(() => {
      throw new TypeError('sync');
    });
    await assert.rejects(group.wait(), TypeError);
  });

  it('ErrGroup signal aborts when the parent signal aborts', () => {
    const parent = new AbortController();
    const group = new ErrGroup({ signal: parent.signal });
    assert.equal(group.signal.aborted, false);
    parent.abort('shutdown');
    assert.equal(group.signal.aborted, true);
    assert.equal(group.signal.reason, 'shutdown');
  });

  it('ErrGroup with a limit makes go wait for a free slot and starts the task then', async () => {
    const group = new ErrGroup({ limit: 2 });
    const gates = [gate(), gate(), gate()];
    const started: number[] = [];
    const go = (i: number) =>
      group.go(() => {
        started.push(i);
        return gates[i]?.promise;
      });
    await go(0);
    await go(1);
    const third = observe(go(2));
    assert.equal(
      group.tryGo(() => undefined),
      false,
    );
    await flush();
    assert.equal(third.state, 'pending');
    assert.deepEqual(started, [0, 1]);
    assert.deepEqual([group.running, group.queued], [2, 1]);
    gates[0]?.open();
    await flush();
    assert.equal(third.state, 'fulfilled');
    assert.deepEqual(started, [0, 1, 2]);
    assert.equal(group.running, 2);
    gates[1]?.open();
    gates[2]?.open();
    await group.wait();
  });

  it('ErrGroup skips queued and later tasks once it has failed', async () => {
    const group = new ErrGroup({ limit: 1 });
    const failing = gate();
    await group.go(() => failing.promise);
    let ran = false;
    const queued = observe(
      group.go(() => {
        ran = true;
      }),
    );
    failing.fail(new Error('boom'));
    await flush();
    assert.equal(queued.state, 'fulfilled', 'a skipped go() resolves');
    assert.equal(ran, false);
    await group.go(() => {
      ran = true;
    });
    assert.equal(
      group.tryGo(() => undefined),
      false,
    );
    assert.equal(ran, false);
    await assert.rejects(group.wait(), /boom/);
  });

  it('ErrGroup go beyond waitersMax rejects with LimitExceededError', async () => {
    const group = new ErrGroup({ limit: 1, waitersMax: 1 });
    const running = gate();
    await group.go(() => running.promise);
    const queued = group.go(() => undefined);
    await assert.rejects(
      group.go(() => undefined),
      LimitExceededError,
    );
    running.open();
    await queued;
    await group.wait();
  });

  it('ErrGroup rejects bad options and tasks', async () => {
    assert.throws(() => new ErrGroup({ limit: 0 }), RangeError);
    assert.throws(() => new ErrGroup({ limit: 1.5 }), RangeError);
    await assert.rejects(new ErrGroup().go(42 as unknown as () => void), TypeError);
    assert.throws(() => new ErrGroup().tryGo('x' as unknown as () => void), TypeError);
  });

  it('ErrGroup never runs more than limit tasks and runs each exactly once (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 12 }),
        async (scheduler, limit, submitterCount, taskSteps) => {
          const group = new ErrGroup({ limit });
          let running = 0;
          const runs = taskSteps.map(() => 0);
          // Several submitters, so that several go() calls can wait for a slot at once.
          const submitter = async (first: number): Promise<void> => {
            for (let index = first; index < taskSteps.length; index += submitterCount) {
              const steps = taskSteps[index] ?? 0;
              await scheduler.schedule(Promise.resolve());
              await group.go(async () => {
                runs[index] = (runs[index] ?? 0) + 1;
                running++;
                assert.ok(running <= limit, `${running} tasks running, limit ${limit}`);
                for (let i = 0; i < steps; i++) await scheduler.schedule(Promise.resolve());
                running--;
              });
            }
          };
          const submitters = Array.from({ length: submitterCount }, (_, first) => submitter(first));
          await scheduler.waitFor(Promise.all(submitters).then(() => group.wait()));
          assert.deepEqual(
            runs,
            taskSteps.map(() => 1),
          );
          assert.deepEqual([group.running, group.queued], [0, 0]);
        },
      ),
      { numRuns: 100 },
    );
  });
});
