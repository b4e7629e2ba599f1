import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CancelledError, LimitExceededError, WorkerTaskError } from '../base/errors.ts';
import { HOLD_RELEASED, HOLD_STARTED } from './testdata/worker.ts';
import { WorkerPool, workerExecArgv } from './worker-pool.ts';

const WORKER_URL = new URL('./testdata/worker.ts', import.meta.url);

// Shared state for the fixture's `hold` task, and helpers to drive it without sleeping.
function holdState(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(8));
}
// Atomics.waitAsync is in Node 20 but not in the ES2023 lib this project compiles against.
type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };
async function holdStarted(state: Int32Array): Promise<void> {
  const waited = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync(state, HOLD_STARTED, 0);
  if (waited.async) await waited.value;
}
function holdRelease(state: Int32Array): void {
  Atomics.store(state, HOLD_RELEASED, 1);
  Atomics.notify(state, HOLD_RELEASED);
}

describe('WorkerPool', () => {
  // One thread for every test: thread start-up (with the TypeScript loader) is the slow part.
  let pool: WorkerPool;
  before(() => {
    pool = new WorkerPool({ filename: WORKER_URL, threadsMax: 1, threadsMin: 1, queueMax: 1 });
  });
  after(async () => {
    await pool.destroy();
  });

  it('WorkerPool run returns the result of a TypeScript worker module', async () => {
    assert.equal(await pool.run<number>(21), 42);
    assert.equal(pool.threads, 1);
  });

  it('WorkerPool run wraps a throwing task in WorkerTaskError naming the task, with the cause', async () => {
    await assert.rejects(pool.run('bad input', { name: 'fail' }), (error: unknown) => {
      assert.ok(error instanceof WorkerTaskError);
      assert.equal(error.code, 'WORKER_TASK_FAILED');
      assert.match(error.message, /'fail'/);
      assert.match(error.message, /bad input/);
      assert.ok(error.cause instanceof Error);
      assert.equal(error.cause.message, 'bad input');
      return true;
    });
  });

  it('WorkerPool run with an aborted signal rejects with CancelledError and runs nothing', async () => {
    const state = holdState();
    await assert.rejects(
      pool.run(state, { name: 'hold', signal: AbortSignal.abort('early') }),
      (error: unknown) => {
        return error instanceof CancelledError && error.cause === 'early';
      },
    );
    assert.equal(Atomics.load(state, HOLD_STARTED), 0);
  });

  it('WorkerPool run abort cancels a running task and a queued one, and bounds the queue', async () => {
    const state = holdState();
    try {
      const running = new AbortController();
      const runningTask = pool.run<string>(state, { name: 'hold', signal: running.signal });
      await holdStarted(state);
      const queued = new AbortController();
      const queuedTask = pool.run<number>(1, { signal: queued.signal });
      await assert.rejects(pool.run(2), LimitExceededError, 'one thread busy and queueMax 1 waiting');
      assert.equal(pool.tasksInFlight, 2);
      queued.abort('not needed');
      await assert.rejects(
        queuedTask,
        (error: unknown) => error instanceof CancelledError && error.cause === 'not needed',
      );
      running.abort('too slow');
      await assert.rejects(
        runningTask,
        (error: unknown) => error instanceof CancelledError && error.cause === 'too slow',
      );
      assert.equal(pool.tasksInFlight, 0);
    } finally {
      holdRelease(state);
    }
    assert.equal(await pool.run<number>(5), 10, 'the pool replaced the terminated thread');
  });

  it('WorkerPool run resolves a held task once released', async () => {
    const state = holdState();
    const task = pool.run<string>(state, { name: 'hold' });
    await holdStarted(state);
    holdRelease(state);
    assert.equal(await task, 'released');
  });
});

describe('WorkerPool lifecycle and options', () => {
  it('WorkerPool destroy makes later runs reject with CancelledError', async () => {
    const pool = new WorkerPool({ filename: WORKER_URL, threadsMax: 1, threadsMin: 0 });
    await pool.destroy();
    await assert.rejects(pool.run(1), CancelledError);
  });

  it('WorkerPool constructor validates its options', () => {
    assert.throws(() => new WorkerPool({ filename: '' }), TypeError);
    assert.throws(() => new WorkerPool({ filename: WORKER_URL, threadsMax: 0 }), RangeError);
    assert.throws(() => new WorkerPool({ filename: WORKER_URL, threadsMax: 1, threadsMin: 2 }), /threadsMin/);
    assert.throws(() => new WorkerPool({ filename: WORKER_URL, queueMax: -1 }), RangeError);
  });

  it('workerExecArgv adds the tsx loader for TypeScript workers only when missing', () => {
    const added = workerExecArgv('/w/task.ts', ['--enable-source-maps']);
    assert.equal(added[0], '--enable-source-maps');
    assert.equal(added[1], '--import');
    assert.match(added[2] ?? '', /^file:.*tsx/);
    assert.deepEqual(workerExecArgv('/w/task.mts', ['--import', 'tsx']), ['--import', 'tsx']);
    assert.deepEqual(workerExecArgv('/w/task.js', []), []);
  });
});
