/**
 * `WorkerPool`: run CPU-bound tasks on worker threads, through piscina.
 *
 * Piscina does the pooling (thread lifecycle, queueing, transfer lists, abort);
 * this wrapper gives it Tessera's shape: typed errors, named limits, `signal`
 * cancellation, and TypeScript worker files that load without extra setup.
 *
 * @module
 */

import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { TransferListItem } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { CancelledError, LimitExceededError, WorkerTaskError } from '../base/errors.ts';
import { assertInteger, cancelledError } from './waiter.ts';

/** Default bound on tasks waiting for a free thread; past it `run` rejects with `LimitExceededError`. */
export const WORKER_POOL_QUEUE_MAX_DEFAULT = 65_536;

/** Default time an idle thread above `threadsMin` lingers before it exits. */
export const WORKER_POOL_IDLE_TIMEOUT_MS_DEFAULT = 10_000;

/** Options for {@link WorkerPool}. */
export interface WorkerPoolOptions {
  /**
   * The worker module (absolute path or `file:` URL). It exports the task functions: `default`,
   * and any named ones selected with `run(task, { name })`. Each takes the task and returns (or
   * resolves to) the result. `.ts` files work: see {@link workerExecArgv}.
   */
  filename: string | URL;
  /** The most threads (default: `os.availableParallelism()`). */
  threadsMax?: number;
  /** Threads kept alive while idle (default 1); at most `threadsMax`. */
  threadsMin?: number;
  /** The most tasks waiting for a thread (default {@link WORKER_POOL_QUEUE_MAX_DEFAULT}); 0 means none wait. */
  queueMax?: number;
  /** How long an idle thread above `threadsMin` lingers (default {@link WORKER_POOL_IDLE_TIMEOUT_MS_DEFAULT}). */
  idleTimeoutMs?: number;
  /** Node flags for the worker threads (default: see {@link workerExecArgv}). */
  execArgv?: string[];
}

/** Options for {@link WorkerPool.run}. */
export interface WorkerRunOptions {
  /** Aborting it removes a queued task, or terminates the thread running it; `run` rejects with `CancelledError`. */
  signal?: AbortSignal | undefined;
  /** The worker module's export to call (default `'default'`); it also names the task in errors. */
  name?: string;
  /** Objects to transfer rather than copy (for example `ArrayBuffer`s in the task). */
  transferList?: readonly TransferListItem[];
}

// Piscina reports these conditions only through the message of a plain Error; the version is pinned.
const PISCINA_QUEUE_FULL_MESSAGES = new Set([
  'Task queue is at limit',
  'No task queue available and all Workers are busy',
]);

/**
 * The Node flags a worker thread needs to load `filename`.
 *
 * Worker threads inherit `process.execArgv`, so under `node --import tsx` a `.ts` worker
 * already loads. When the parent was started without tsx (for example the compiled package
 * running a user's `.ts` worker), this adds `--import <tsx loader>` for TypeScript files, so the
 * worker gets the same loader the tests use; JavaScript files get the parent's flags unchanged.
 *
 * @param filename the worker module's path.
 * @param parentExecArgv the parent's flags (default `process.execArgv`).
 * @returns the flags to start the worker with.
 */
export function workerExecArgv(
  filename: string,
  parentExecArgv: readonly string[] = process.execArgv,
): string[] {
  const execArgv = [...parentExecArgv];
  const isTypeScript = /\.[cm]?ts$/.test(filename);
  if (isTypeScript && !execArgv.some((flag) => flag.includes('tsx'))) {
    execArgv.push('--import', import.meta.resolve('tsx'));
  }
  return execArgv;
}

/**
 * A pool of worker threads running tasks from one module.
 *
 * @example
 * ```ts
 * // hash-worker.ts: export default function (data: Uint8Array): string { ... }
 * const pool = new WorkerPool({ filename: new URL('./hash-worker.ts', import.meta.url), threadsMax: 2 });
 * try {
 *   const digest = await pool.run<string>(bytes, { signal: AbortSignal.timeout(1000) });
 * } finally {
 *   await pool.destroy();
 * }
 * ```
 */
export class WorkerPool {
  /** The most threads. */
  readonly threadsMax: number;
  /** Threads kept alive while idle. */
  readonly threadsMin: number;
  /** The most tasks waiting for a thread. */
  readonly queueMax: number;
  readonly #piscina: Piscina;
  // Invariant: 0 <= #tasksInFlight <= threadsMax + queueMax. Counted here because piscina does not
  // count a task that carries a signal against its own maxQueue (it parks such tasks elsewhere).
  #tasksInFlight = 0;
  #destroyed = false;

  /**
   * @param options see {@link WorkerPoolOptions}.
   * @throws TypeError when `filename` is missing; RangeError when a limit is out of range or
   *   `threadsMin > threadsMax`.
   */
  constructor(options: WorkerPoolOptions) {
    const filename = options.filename instanceof URL ? fileURLToPath(options.filename) : options.filename;
    if (typeof filename !== 'string' || filename === '') {
      throw new TypeError(
        `Cannot create WorkerPool: filename must be a path or file URL, got ${String(filename)}`,
      );
    }
    const threadsMax = options.threadsMax ?? availableParallelism();
    assertInteger('Cannot create WorkerPool: threadsMax', threadsMax, 1);
    const threadsMin = options.threadsMin ?? 1;
    assertInteger('Cannot create WorkerPool: threadsMin', threadsMin, 0, threadsMax);
    const queueMax = options.queueMax ?? WORKER_POOL_QUEUE_MAX_DEFAULT;
    assertInteger('Cannot create WorkerPool: queueMax', queueMax, 0);
    const idleTimeoutMs = options.idleTimeoutMs ?? WORKER_POOL_IDLE_TIMEOUT_MS_DEFAULT;
    assertInteger('Cannot create WorkerPool: idleTimeoutMs', idleTimeoutMs, 0);
    this.threadsMax = threadsMax;
    this.threadsMin = threadsMin;
    this.queueMax = queueMax;
    this.#piscina = new Piscina({
      filename,
      maxThreads: threadsMax,
      minThreads: threadsMin,
      maxQueue: queueMax,
      idleTimeout: idleTimeoutMs,
      execArgv: options.execArgv ?? workerExecArgv(filename),
    });
  }

  /** Tasks waiting for a free thread. */
  get queueSize(): number {
    return this.#piscina.queueSize;
  }

  /** Tasks submitted through {@link run} and not yet settled (running or waiting). */
  get tasksInFlight(): number {
    return this.#tasksInFlight;
  }

  /** Live worker threads. */
  get threads(): number {
    return this.#piscina.threads.length;
  }

  /**
   * Runs `task` on a worker thread: calls the module's export `name` with it.
   *
   * @typeParam T what the worker function returns; not checked at run time.
   * @param task the argument, copied with the structured-clone algorithm (or transferred).
   * @returns the worker function's result.
   * @throws (rejects) `WorkerTaskError` when the worker function throws (its message names the task,
   *   its `cause` is what was thrown); `CancelledError` when `signal` aborts or the pool is destroyed
   *   first; `LimitExceededError` when `threadsMax + queueMax` tasks are already in flight (so
   *   `queueMax` of them wait).
   */
  async run<T>(task: unknown, options: WorkerRunOptions = {}): Promise<T> {
    const name = options.name ?? 'default';
    const operation = `Cannot run worker task '${name}'`;
    const signal = options.signal;
    if (signal?.aborted) throw cancelledError(operation, signal);
    if (this.#destroyed) throw new CancelledError(`${operation}: the pool is destroyed`);
    if (this.#tasksInFlight >= this.threadsMax + this.queueMax) {
      throw new LimitExceededError(`${operation}: ${this.queueMax} tasks already wait (queueMax)`, {
        details: { queueMax: this.queueMax },
      });
    }
    this.#tasksInFlight++;
    try {
      return (await this.#piscina.run(task, {
        name,
        signal: signal ?? null,
        ...(options.transferList === undefined ? {} : { transferList: [...options.transferList] }),
      })) as T;
    } catch (error) {
      throw this.#runError(operation, error, signal);
    } finally {
      this.#tasksInFlight--;
    }
  }

  /** Waits for queued and running tasks to finish, then stops the threads. */
  async close(): Promise<void> {
    this.#destroyed = true;
    await this.#piscina.close();
  }

  /** Stops every thread now; queued and running tasks reject with `CancelledError`. */
  async destroy(): Promise<void> {
    this.#destroyed = true;
    await this.#piscina.destroy();
  }

  #runError(operation: string, error: unknown, signal: AbortSignal | undefined): Error {
    if (signal?.aborted) return cancelledError(operation, signal);
    if (error instanceof Error && PISCINA_QUEUE_FULL_MESSAGES.has(error.message)) {
      return new LimitExceededError(`${operation}: ${this.queueMax} tasks already wait (queueMax)`, {
        cause: error,
        details: { queueMax: this.queueMax },
      });
    }
    if (this.#destroyed) return new CancelledError(`${operation}: the pool was destroyed`, { cause: error });
    const thrown = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return new WorkerTaskError(`${operation}: it threw ${thrown}`, { cause: error });
  }
}
