/**
 * `RWMutex`: a readers-writer lock for async tasks (Go's `sync.RWMutex`).
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

/** Options for {@link RWMutex}. */
export interface RWMutexOptions {
  /**
   * The most `lock()` plus `rLock()` calls blocked at once (default 1_048_576); more reject with
   * `LimitExceededError`.
   */
  waitersMax?: number;
}

const LOCK_OPERATION = 'Cannot lock RWMutex';
const READ_LOCK_OPERATION = 'Cannot read-lock RWMutex';

/**
 * A readers-writer lock: many readers or one writer.
 *
 * Policy (Go's): writer-preferring, with reader and writer batches alternating.
 * - While a writer holds the lock or waits for it, new `rLock()` calls queue.
 * - Writers are served one at a time in FIFO order; a writer gets the lock when
 *   the last active reader unlocks.
 * - When a writer unlocks, every queued reader is admitted at once as one batch,
 *   even if more writers are queued; the next writer goes when that batch drains.
 *
 * So a reader waits for at most the writers queued before it, and a writer waits
 * for at most the readers admitted before it plus the earlier writers: neither
 * side starves. If the only queued writer gives up (its signal aborts), the
 * readers queued behind it are admitted at once.
 *
 * @example
 * ```ts
 * const lock = new RWMutex();
 * const value = await lock.withRLock(() => cache.get(key));
 * await lock.withLock(() => cache.set(key, fresh));
 * ```
 */
export class RWMutex implements WaiterOwner {
  // Invariants: not (#writer and #readers > 0); #writersWaiting non-empty only while #writer or
  // #readers > 0; #readersWaiting non-empty only while #writer or #writersWaiting is non-empty.
  #readers = 0;
  #writer = false;
  readonly #readersWaiting = new WaiterList<Waiter>();
  readonly #writersWaiting = new WaiterList<Waiter>();
  readonly #waitersMax: number;

  /**
   * @param options see {@link RWMutexOptions}.
   * @throws RangeError when `waitersMax` is not a positive safe integer.
   */
  constructor(options: RWMutexOptions = {}) {
    this.#waitersMax = waitersMaxOption('RWMutex', options.waitersMax);
  }

  /** How many read locks are held. */
  get readers(): number {
    return this.#readers;
  }

  /** Whether the write lock is held. */
  get writeLocked(): boolean {
    return this.#writer;
  }

  /**
   * Acquires a read lock; waits while a writer holds or waits for the lock.
   *
   * @throws (rejects) `CancelledError` when `signal` aborts first; `LimitExceededError` when
   *   `waitersMax` calls already wait.
   */
  rLock(options?: WaitOptions): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(cancelledError(READ_LOCK_OPERATION, signal));
    if (this.tryRLock()) return RESOLVED;
    if (this.#waitingCount() >= this.#waitersMax) {
      return Promise.reject(waitersLimitError(READ_LOCK_OPERATION, this.#waitersMax));
    }
    return Waiter.enqueue(this.#readersWaiting, this, options, 0, READ_LOCK_OPERATION);
  }

  /**
   * Acquires a read lock only if that needs no wait.
   *
   * @returns whether the read lock was acquired.
   */
  tryRLock(): boolean {
    if (this.#writer || this.#writersWaiting.length > 0) return false;
    this.#readers++;
    return true;
  }

  /**
   * Releases a read lock; the last reader out lets the oldest queued writer in.
   *
   * @throws Error when no read lock is held.
   */
  rUnlock(): void {
    if (this.#readers === 0) throw new Error('Cannot read-unlock RWMutex: no read lock is held');
    this.#readers--;
    if (this.#readers === 0) this.#admitWriter();
  }

  /**
   * Acquires the write lock, waiting for active readers and earlier writers.
   *
   * @throws (rejects) `CancelledError` when `signal` aborts first; `LimitExceededError` when
   *   `waitersMax` calls already wait.
   */
  lock(options?: WaitOptions): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(cancelledError(LOCK_OPERATION, signal));
    if (this.tryLock()) return RESOLVED;
    if (this.#waitingCount() >= this.#waitersMax) {
      return Promise.reject(waitersLimitError(LOCK_OPERATION, this.#waitersMax));
    }
    return Waiter.enqueue(this.#writersWaiting, this, options, 1, LOCK_OPERATION);
  }

  /**
   * Acquires the write lock only if it is free now.
   *
   * @returns whether the write lock was acquired.
   */
  tryLock(): boolean {
    if (this.#writer || this.#readers > 0) return false;
    if (this.#writersWaiting.length > 0 || this.#readersWaiting.length > 0) {
      throw new Error('RWMutex invariant broken: callers wait on a free lock');
    }
    this.#writer = true;
    return true;
  }

  /**
   * Releases the write lock: admits every queued reader, or else the oldest queued writer.
   *
   * @throws Error when the write lock is not held.
   */
  unlock(): void {
    if (!this.#writer) throw new Error('Cannot unlock RWMutex: the write lock is not held');
    this.#writer = false;
    if (this.#readersWaiting.length > 0) this.#admitReaders();
    else this.#admitWriter();
  }

  /**
   * Runs `fn` under a read lock, released afterwards even when `fn` throws.
   *
   * @returns what `fn` returns.
   * @throws (rejects) what `fn` throws, or what {@link rLock} rejects with (then `fn` is not run).
   */
  async withRLock<R>(fn: () => R | PromiseLike<R>, options?: WaitOptions): Promise<R> {
    await this.rLock(options);
    try {
      return await fn();
    } finally {
      this.rUnlock();
    }
  }

  /**
   * Runs `fn` under the write lock, released afterwards even when `fn` throws.
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
    if (this.#readersWaiting.remove(waiter)) return;
    if (!this.#writersWaiting.remove(waiter))
      throw new Error('RWMutex invariant broken: unknown waiter aborted');
    // The readers queued behind the last waiting writer wait for nothing now, unless a writer holds the lock.
    if (!this.#writer && this.#writersWaiting.length === 0) this.#admitReaders();
  }

  #waitingCount(): number {
    return this.#readersWaiting.length + this.#writersWaiting.length;
  }

  #admitReaders(): void {
    for (
      let reader = this.#readersWaiting.shift();
      reader !== undefined;
      reader = this.#readersWaiting.shift()
    ) {
      this.#readers++;
      reader.grant();
    }
  }

  #admitWriter(): void {
    if (this.#writer || this.#readers > 0)
      throw new Error('RWMutex invariant broken: admitting a writer while held');
    const writer = this.#writersWaiting.shift();
    if (writer === undefined) return;
    this.#writer = true;
    writer.grant();
  }
}
