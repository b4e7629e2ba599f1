/**
 * `WaitGroup`: wait for a collection of tasks to finish (Go's `sync.WaitGroup`).
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

/** Options for {@link WaitGroup}. */
export interface WaitGroupOptions {
  /** The most `wait()` calls blocked at once (default 1_048_576); more reject with `LimitExceededError`. */
  waitersMax?: number;
}

const WAIT_OPERATION = 'Cannot wait on WaitGroup';

/**
 * A counter of outstanding tasks. `add` before starting a task, `done` when it
 * finishes, and `wait` resolves once the counter is back at zero.
 *
 * Every waiter blocked when the counter reaches zero is released together; a
 * `wait()` called while the counter is zero resolves at once.
 *
 * @example
 * ```ts
 * const group = new WaitGroup();
 * for (const url of urls) {
 *   group.add();
 *   fetch(url).finally(() => group.done());
 * }
 * await group.wait();
 * ```
 */
export class WaitGroup implements WaiterOwner {
  // Invariant: #count >= 0, and #waiters is empty whenever #count === 0.
  #count = 0;
  readonly #waiters = new WaiterList<Waiter>();
  readonly #waitersMax: number;

  /**
   * @param options see {@link WaitGroupOptions}.
   * @throws RangeError when `waitersMax` is not a positive safe integer.
   */
  constructor(options: WaitGroupOptions = {}) {
    this.#waitersMax = waitersMaxOption('WaitGroup', options.waitersMax);
  }

  /** The number of outstanding tasks. */
  get count(): number {
    return this.#count;
  }

  /**
   * Adds `delta` (which may be negative, as in Go) to the counter; when it reaches zero, every
   * waiter is released.
   *
   * @throws RangeError when `delta` is not a safe integer or the counter would go negative (the
   *   counter is then unchanged).
   */
  add(delta = 1): void {
    assertInteger('Cannot add to WaitGroup: delta', delta, Number.MIN_SAFE_INTEGER);
    const count = this.#count + delta;
    if (count < 0) {
      throw new RangeError(
        `Cannot add ${delta} to WaitGroup: the counter would go negative (it is ${this.#count})`,
      );
    }
    if (!Number.isSafeInteger(count))
      throw new RangeError(`Cannot add ${delta} to WaitGroup: the counter overflows`);
    this.#count = count;
    if (count > 0) return;
    for (let waiter = this.#waiters.shift(); waiter !== undefined; waiter = this.#waiters.shift())
      waiter.grant();
  }

  /**
   * Marks one task finished: `add(-1)`.
   *
   * @throws RangeError when the counter is already zero.
   */
  done(): void {
    this.add(-1);
  }

  /**
   * Waits until the counter is zero.
   *
   * @throws (rejects) `CancelledError` when `signal` aborts first; `LimitExceededError` when
   *   `waitersMax` calls are already waiting.
   */
  wait(options?: WaitOptions): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(cancelledError(WAIT_OPERATION, signal));
    if (this.#count === 0) return RESOLVED;
    if (this.#waiters.length >= this.#waitersMax) {
      return Promise.reject(waitersLimitError(WAIT_OPERATION, this.#waitersMax));
    }
    return Waiter.enqueue(this.#waiters, this, options, 0, WAIT_OPERATION);
  }

  /** @internal Called by an aborted waiter. */
  waiterAborted(waiter: Waiter): void {
    this.#waiters.remove(waiter);
  }
}
