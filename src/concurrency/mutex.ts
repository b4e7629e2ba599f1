/**
 * `Mutex`: mutual exclusion between async tasks (Go's `sync.Mutex`).
 *
 * @module
 */

import {
  cancelledError,
  RESOLVED,
  Waiter,
  type WaiterOwner,
  type WaitOptions,
  waitersLimitError,
  waitersMaxOption,
} from './waiter.ts';
import { WaiterList } from './waiter-list.ts';

/** Options for {@link Mutex}. */
export interface MutexOptions {
  /** The most `lock()` calls blocked at once (default 1_048_576); more reject with `LimitExceededError`. */
  waitersMax?: number;
}

const LOCK_OPERATION = 'Cannot lock Mutex';

/**
 * An async mutual-exclusion lock with FIFO hand-off: `unlock()` passes the lock
 * straight to the oldest waiting `lock()` call, so a `tryLock()` (or a new
 * `lock()`) arriving in between cannot barge ahead and no waiter starves.
 *
 * The lock is not owned by a task (JavaScript has no goroutine identity), so,
 * as in Go, any code may unlock it; `withLock` is the safe way to pair them.
 *
 * @example
 * ```ts
 * const mutex = new Mutex();
 * await mutex.withLock(async () => {
 *   balance = await read();
 *   await write(balance + 1);
 * });
 * ```
 */
export class Mutex implements WaiterOwner {
  // Invariant: #waiters is non-empty only while #locked.
  #locked = false;
  readonly #waiters = new WaiterList<Waiter>();
  readonly #waitersMax: number;

  /**
   * @param options see {@link MutexOptions}.
   * @throws RangeError when `waitersMax` is not a positive safe integer.
   */
  constructor(options: MutexOptions = {}) {
    this.#waitersMax = waitersMaxOption('Mutex', options.waitersMax);
  }

  /** Whether the mutex is held (including while it is being handed to a waiter). */
  get locked(): boolean {
    return this.#locked;
  }

  /** How many `lock()` calls are waiting. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Acquires the lock, waiting in FIFO order behind earlier callers.
   *
   * @throws (rejects) `CancelledError` when `signal` aborts before the lock was granted (the lock
   *   is then not held by this call); `LimitExceededError` when `waitersMax` calls already wait.
   */
  lock(options?: WaitOptions): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(cancelledError(LOCK_OPERATION, signal));
    if (!this.#locked) {
      this.#locked = true;
      return RESOLVED;
    }
    if (this.#waiters.length >= this.#waitersMax) {
      return Promise.reject(waitersLimitError(LOCK_OPERATION, this.#waitersMax));
    }
    return Waiter.enqueue(this.#waiters, this, options, 0, LOCK_OPERATION);
  }

  /**
   * Acquires the lock only if it is free now (and nobody waits for it).
   *
   * @returns whether the lock was acquired.
   */
  tryLock(): boolean {
    if (this.#locked) return false;
    this.#locked = true;
    return true;
  }

  /**
   * Releases the lock, handing it to the oldest waiter if there is one.
   *
   * @throws Error when the mutex is not locked (a programmer error: the pairing is broken).
   */
  unlock(): void {
    if (!this.#locked) throw new Error('Cannot unlock Mutex: it is not locked');
    const next = this.#waiters.shift();
    // Hand-off: #locked stays true and ownership passes to `next`.
    if (next !== undefined) next.grant();
    else this.#locked = false;
  }

  /**
   * Runs `fn` while holding the lock and releases it afterwards, even when `fn` throws.
   *
   * @returns what `fn` returns.
   * @throws (rejects) what `fn` throws, or what {@link lock} rejects with (then `fn` is not run).
   */
  async withLock<R>(fn: () => R | PromiseLike<R>, options?: WaitOptions): Promise<R> {
    await this.lock(options);
    try {
      return await fn();
    } finally {
      this.unlock();
    }
  }

  /** @internal Called by an aborted waiter. */
  waiterAborted(waiter: Waiter): void {
    this.#waiters.remove(waiter);
  }
}
