/**
 * Callers waiting for an outcome by key (a proposal's id, a read's
 * context), each with a deadline, so nothing waits forever and nothing
 * leaks when a member shuts down.
 *
 * @module
 */

interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** Most callers waiting at once; past it, new waits are refused. */
export const WAITERS_MAX = 100_000;

/** Keyed one-shot waiters with timeouts. */
export class Waiters<T> {
  readonly #waiting = new Map<string, Waiter<T>>();

  get size(): number {
    return this.#waiting.size;
  }

  /**
   * Waits for {@link resolve} of `key`; rejects with `onTimeout()` after
   * `timeoutMs`.
   *
   * @throws {RangeError} when {@link WAITERS_MAX} callers already wait or `key` is taken.
   */
  wait(key: string, timeoutMs: number, onTimeout: () => Error): Promise<T> {
    if (this.#waiting.size >= WAITERS_MAX) {
      return Promise.reject(new RangeError(`Cannot wait: ${WAITERS_MAX} requests already wait`));
    }
    if (this.#waiting.has(key)) return Promise.reject(new RangeError(`Cannot wait: ${key} already waits`));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(key);
        reject(onTimeout());
      }, timeoutMs);
      this.#waiting.set(key, { resolve, reject, timer });
    });
  }

  resolve(key: string, value: T): void {
    const waiter = this.#waiting.get(key);
    if (waiter === undefined) return;
    this.#waiting.delete(key);
    clearTimeout(waiter.timer);
    waiter.resolve(value);
  }

  reject(key: string, error: Error): void {
    const waiter = this.#waiting.get(key);
    if (waiter === undefined) return;
    this.#waiting.delete(key);
    clearTimeout(waiter.timer);
    waiter.reject(error);
  }

  rejectAll(error: Error): void {
    for (const key of [...this.#waiting.keys()]) this.reject(key, error);
  }
}
