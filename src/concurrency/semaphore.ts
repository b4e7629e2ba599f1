/**
 * `Semaphore`: a weighted counting semaphore (golang.org/x/sync/semaphore).
 *
 * @module
 */

import {
  assertInteger,
  cancelledError,
  RESOLVED,
  Waiter,
  type WaiterOwner,
  type WaitOptions,
  waitersLimitError,
  waitersMaxOption,
} from './waiter.ts';
import { WaiterList } from './waiter-list.ts';

/** Options for {@link Semaphore}. */
export interface SemaphoreOptions {
  /** The most `acquire()` calls blocked at once (default 1_048_576); more reject with `LimitExceededError`. */
  waitersMax?: number;
}

const ACQUIRE_OPERATION = 'Cannot acquire Semaphore';

/**
 * A weighted semaphore: `capacity` permits, taken and returned `n` at a time.
 *
 * Strictly FIFO, as in golang.org/x/sync/semaphore: a waiter that asks for more
 * than is free blocks every later waiter, even smaller ones that would fit, so a
 * large request is never starved by a stream of small ones.
 *
 * @example
 * ```ts
 * const memory = new Semaphore(64); // megabytes
 * await memory.acquire(job.sizeMb);
 * try { await run(job); } finally { memory.release(job.sizeMb); }
 * ```
 */
export class Semaphore implements WaiterOwner {
  /** The total number of permits. */
  readonly capacity: number;
  // Invariant: 0 <= #used <= capacity; when #waiters is non-empty its head wants more than is free.
  #used = 0;
  readonly #waiters = new WaiterList<Waiter>();
  readonly #waitersMax: number;

  /**
   * @param capacity the number of permits; a positive safe integer.
   * @param options see {@link SemaphoreOptions}.
   * @throws RangeError when `capacity` or `waitersMax` is not a positive safe integer.
   */
  constructor(capacity: number, options: SemaphoreOptions = {}) {
    assertInteger('Cannot create Semaphore: capacity', capacity, 1);
    this.capacity = capacity;
    this.#waitersMax = waitersMaxOption('Semaphore', options.waitersMax);
  }

  /** Permits free now. */
  get available(): number {
    return this.capacity - this.#used;
  }

  /** How many `acquire()` calls are waiting. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Takes `n` permits, waiting in FIFO order until they are free.
   *
   * @param n permits to take; an integer in [0, capacity].
   * @throws (rejects) `RangeError` when `n` is out of range (more than `capacity` could never be
   *   granted); `CancelledError` when `signal` aborts first (nothing is held then);
   *   `LimitExceededError` when `waitersMax` calls already wait.
   */
  acquire(n = 1, options?: WaitOptions): Promise<void> {
    try {
      assertInteger('Cannot acquire Semaphore: n', n, 0, this.capacity);
    } catch (error) {
      return Promise.reject(error);
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(cancelledError(ACQUIRE_OPERATION, signal));
    if (this.#fits(n)) {
      this.#used += n;
      return RESOLVED;
    }
    if (this.#waiters.length >= this.#waitersMax) {
      return Promise.reject(waitersLimitError(ACQUIRE_OPERATION, this.#waitersMax));
    }
    return Waiter.enqueue(this.#waiters, this, options, n, ACQUIRE_OPERATION);
  }

  /**
   * Takes `n` permits only if they are free now and nobody is queued ahead.
   *
   * @param n permits to take; an integer in [0, capacity].
   * @returns whether the permits were taken.
   * @throws RangeError when `n` is out of range.
   */
  tryAcquire(n = 1): boolean {
    assertInteger('Cannot acquire Semaphore: n', n, 0, this.capacity);
    if (!this.#fits(n)) return false;
    this.#used += n;
    return true;
  }

  /**
   * Returns `n` permits and wakes the queued waiters that now fit, in order.
   *
   * @param n permits to return; a non-negative safe integer.
   * @throws RangeError when `n` is more than is held (nothing is released then).
   */
  release(n = 1): void {
    assertInteger('Cannot release Semaphore: n', n, 0);
    if (n > this.#used)
      throw new RangeError(`Cannot release ${n} permits of Semaphore: only ${this.#used} are held`);
    this.#used -= n;
    this.#grantWaiters();
  }

  /** @internal Called by an aborted waiter. */
  waiterAborted(waiter: Waiter): void {
    const wasHead = this.#waiters.head === waiter;
    this.#waiters.remove(waiter);
    // The head may have been what held back smaller waiters behind it.
    if (wasHead) this.#grantWaiters();
  }

  #fits(n: number): boolean {
    return this.#waiters.length === 0 && this.capacity - this.#used >= n;
  }

  #grantWaiters(): void {
    for (let head = this.#waiters.head; head !== undefined; head = this.#waiters.head) {
      if (this.capacity - this.#used < head.weight) break;
      this.#waiters.shift();
      this.#used += head.weight;
      head.grant();
    }
    if (this.#used < 0 || this.#used > this.capacity) {
      throw new Error(`Semaphore invariant broken: ${this.#used} of ${this.capacity} permits used`);
    }
  }
}
