/**
 * `ErrGroup`: run a group of async tasks, stop them all on the first error
 * (golang.org/x/sync/errgroup).
 *
 * @module
 */

import {
  assertInteger,
  newPromise,
  newPromiseInto,
  RESOLVED,
  WAITERS_MAX_DEFAULT,
  waitersLimitError,
} from './waiter.ts';
import { type WaiterLink, WaiterList } from './waiter-list.ts';

/** A task run by an {@link ErrGroup}: it gets the group's signal and should stop when it aborts. */
export type ErrGroupTask = (signal: AbortSignal) => unknown;

/** Options for {@link ErrGroup}. */
export interface ErrGroupOptions {
  /** A parent signal: when it aborts, so does the group's signal. */
  signal?: AbortSignal | undefined;
  /** The most tasks running at once (default: no limit); a positive safe integer. */
  limit?: number;
  /**
   * The most `go()` calls waiting for a free slot (default 1_048_576). Together with `limit`, this
   * bounds the group: at most `limit` tasks run and at most `waitersMax` wait; a `go()` beyond that
   * rejects with `LimitExceededError` instead of queueing without end.
   */
  waitersMax?: number;
}

const GO_OPERATION = 'Cannot start task in ErrGroup';

// A go() call waiting for a free slot.
class QueuedTask implements WaiterLink<QueuedTask> {
  linkPrevious: QueuedTask | undefined = undefined;
  linkNext: QueuedTask | undefined = undefined;
  linkList: WaiterList<QueuedTask> | undefined = undefined;
  resolve: ((value: undefined) => void) | undefined = undefined;
  reject: ((reason: unknown) => void) | undefined = undefined;
  readonly task: ErrGroupTask;

  constructor(task: ErrGroupTask) {
    this.task = task;
  }
}

/**
 * A group of tasks that fail together. `go(task)` starts a task; the first task
 * to throw (or reject) aborts `group.signal`, so the others can stop early, and
 * `wait()` rejects with that first error once every task has finished.
 *
 * With a `limit`, at most `limit` tasks run at once and `go()` waits (its
 * promise resolves when the task starts), like Go's blocking `g.Go`; await it
 * for backpressure. Once the group's signal has aborted (first error, or the
 * parent signal), tasks not yet started are skipped: `go()` resolves without
 * running them and `tryGo()` returns false (a `go()` already queued learns of the
 * abort when the next running task finishes). Unlike Go, `wait()` does not abort
 * the signal when every task succeeded.
 *
 * @example
 * ```ts
 * const group = new ErrGroup({ limit: 4 });
 * for (const url of urls) {
 *   await group.go(async (signal) => {
 *     const response = await fetch(url, { signal });
 *     if (!response.ok) throw new Error(`Cannot fetch ${url}: status ${response.status}`);
 *   });
 * }
 * await group.wait(); // rejects with the first failure
 * ```
 */
export class ErrGroup {
  /** Aborted (with the error as reason) on the first task failure, or when the parent signal aborts. */
  readonly signal: AbortSignal;
  /** The most tasks running at once; `Infinity` when unlimited. */
  readonly limit: number;
  readonly #controller = new AbortController();
  readonly #waitersMax: number;
  // Invariant: 0 <= #running <= limit; #queued is non-empty only while #running === limit.
  #running = 0;
  readonly #queued = new WaiterList<QueuedTask>();
  #failed = false;
  #error: unknown = undefined;
  #idle:
    | { promise: Promise<void>; resolve: (value: undefined) => void; reject: (reason: unknown) => void }
    | undefined = undefined;

  /**
   * @param options see {@link ErrGroupOptions}.
   * @throws RangeError when `limit` or `waitersMax` is not a positive safe integer.
   */
  constructor(options: ErrGroupOptions = {}) {
    if (options.limit !== undefined) assertInteger('Cannot create ErrGroup: limit', options.limit, 1);
    const waitersMax = options.waitersMax ?? WAITERS_MAX_DEFAULT;
    assertInteger('Cannot create ErrGroup: waitersMax', waitersMax, 1);
    this.limit = options.limit ?? Number.POSITIVE_INFINITY;
    this.#waitersMax = waitersMax;
    // AbortSignal.any holds the parent only weakly, so a long-lived parent does not pin every group.
    this.signal =
      options.signal === undefined
        ? this.#controller.signal
        : AbortSignal.any([options.signal, this.#controller.signal]);
  }

  /** How many tasks are running. */
  get running(): number {
    return this.#running;
  }

  /** How many `go()` calls wait for a free slot. */
  get queued(): number {
    return this.#queued.length;
  }

  /**
   * Starts `task`, or, at the limit, waits for a free slot and then starts it. The task's first
   * synchronous part runs inside this call (or inside the call that frees the slot).
   *
   * @returns a promise that resolves once the task has started, or has been skipped because the
   *   group's signal already aborted.
   * @throws (rejects) `TypeError` when `task` is not a function; `LimitExceededError` when
   *   `waitersMax` calls already wait for a slot.
   */
  go(task: ErrGroupTask): Promise<void> {
    if (typeof task !== 'function') {
      return Promise.reject(new TypeError(`${GO_OPERATION}: task must be a function, got ${typeof task}`));
    }
    if (this.signal.aborted) {
      this.#skipQueued();
      return RESOLVED;
    }
    if (this.#running < this.limit) {
      this.#start(task);
      return RESOLVED;
    }
    if (this.#queued.length >= this.#waitersMax) {
      return Promise.reject(waitersLimitError(GO_OPERATION, this.#waitersMax));
    }
    const queued = new QueuedTask(task);
    const promise = newPromiseInto<undefined>(queued);
    this.#queued.push(queued);
    return promise;
  }

  /**
   * Starts `task` only if a slot is free now and the group has not been aborted.
   *
   * @returns whether the task was started.
   * @throws TypeError when `task` is not a function.
   */
  tryGo(task: ErrGroupTask): boolean {
    if (typeof task !== 'function')
      throw new TypeError(`${GO_OPERATION}: task must be a function, got ${typeof task}`);
    if (this.signal.aborted || this.#running >= this.limit) return false;
    this.#start(task);
    return true;
  }

  /**
   * Waits until every started and queued task has finished.
   *
   * @throws (rejects) with the first error a task threw or rejected with.
   */
  wait(): Promise<void> {
    if (this.#running === 0 && this.#queued.length === 0) {
      return this.#failed ? Promise.reject(this.#error) : RESOLVED;
    }
    this.#idle ??= newPromise<undefined>();
    return this.#idle.promise;
  }

  #start(task: ErrGroupTask): void {
    this.#running++;
    if (this.#running > this.limit)
      throw new Error('ErrGroup invariant broken: more tasks running than the limit');
    let completion: Promise<unknown>;
    try {
      completion = Promise.resolve(task(this.signal));
    } catch (error) {
      completion = Promise.reject(error);
    }
    // Always settle through a promise so that a synchronous task never recurses into the next one.
    completion.then(this.#taskDone, this.#taskFailed);
  }

  readonly #taskFailed = (error: unknown): void => {
    if (!this.#failed) {
      this.#failed = true;
      this.#error = error;
      this.#controller.abort(error);
    }
    this.#taskDone();
  };

  readonly #taskDone = (): void => {
    this.#running--;
    if (this.signal.aborted) this.#skipQueued();
    else this.#startQueued();
    if (this.#running > 0 || this.#queued.length > 0) return;
    const idle = this.#idle;
    this.#idle = undefined;
    if (idle === undefined) return;
    if (this.#failed) idle.reject(this.#error);
    else idle.resolve(undefined);
  };

  #startQueued(): void {
    while (this.#running < this.limit) {
      const queued = this.#queued.shift();
      if (queued === undefined) return;
      this.#start(queued.task);
      queued.resolve?.(undefined);
    }
  }

  #skipQueued(): void {
    for (let queued = this.#queued.shift(); queued !== undefined; queued = this.#queued.shift()) {
      queued.resolve?.(undefined);
    }
  }
}
