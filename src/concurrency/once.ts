/**
 * `Once`: run an initialisation exactly once (Go's `sync.Once`).
 *
 * @module
 */

import { newPromise } from './waiter.ts';

/**
 * Runs a function at most once; every caller, concurrent or later, gets the
 * same promise for its result (or its error).
 *
 * As in Go, a failure counts as the one run: the function is not retried, and
 * every later `do` rejects with the same error. A `do` called from inside the
 * function itself gets the same, still-pending promise (awaiting it there would
 * deadlock, as in Go).
 *
 * @example
 * ```ts
 * const connect = new Once<Connection>();
 * const connection = await connect.do(() => openConnection(url));
 * ```
 */
export class Once<T = void> {
  #promise: Promise<T> | undefined = undefined;
  #done = false;

  /** Whether the function has run to completion (returned, resolved, threw or rejected). */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Calls `fn` if no `do` on this `Once` has called it yet; otherwise ignores `fn`.
   *
   * @param fn the function; it runs synchronously inside the first `do` call.
   * @returns the promise of the first call's result, shared by every call.
   * @throws (rejects) whatever the first `fn` threw or rejected with.
   */
  do(fn: () => T | PromiseLike<T>): Promise<T> {
    if (this.#promise !== undefined) return this.#promise;
    // The promise exists before fn runs, so a re-entrant do() cannot run fn twice.
    const { promise, resolve, reject } = newPromise<T>();
    this.#promise = promise;
    let result: T | PromiseLike<T>;
    try {
      result = fn();
    } catch (error) {
      this.#done = true;
      reject(error);
      return promise;
    }
    if (isThenable(result)) {
      const markDone = (): void => {
        this.#done = true;
      };
      Promise.resolve(result).then(markDone, markDone);
      resolve(result as T);
    } else {
      this.#done = true;
      resolve(result);
    }
    return promise;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
