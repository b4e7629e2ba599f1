/**
 * Worker fixture for `worker-pool.test.ts`: a TypeScript module loaded in
 * worker threads by piscina.
 *
 * @module
 */

/** Doubles a number: the default export. */
export default function double(n: number): number {
  return n * 2;
}

/** Throws a `TypeError` with `message`, to check error wrapping. */
export function fail(message: string): never {
  throw new TypeError(message);
}

/** Slot of a {@link hold} task's state that the worker sets to 1 once the task runs. */
export const HOLD_STARTED = 0;
/** Slot of a {@link hold} task's state that the test sets to 1 to let the task return. */
export const HOLD_RELEASED = 1;
// A safety net only: the tests always release or abort the task long before this.
const HOLD_TIMEOUT_MS = 30_000;

/**
 * Signals `started`, then blocks the thread until the test sets `released`:
 * a task that is provably running for as long as the test needs.
 */
export function hold(state: Int32Array): string {
  Atomics.store(state, HOLD_STARTED, 1);
  Atomics.notify(state, HOLD_STARTED);
  Atomics.wait(state, HOLD_RELEASED, 0, HOLD_TIMEOUT_MS);
  return 'released';
}
