/**
 * Test helpers: observe a promise's state without timing assumptions.
 *
 * @module
 */

import { setImmediate as macrotask } from 'node:timers/promises';

/** The state of an observed promise, updated as it settles. */
export interface Observed<T> {
  state: 'pending' | 'fulfilled' | 'rejected';
  value: T | undefined;
  error: unknown;
}

/** Starts observing `promise`; read `.state` after {@link flush}. */
export function observe<T>(promise: Promise<T>): Observed<T> {
  const observed: Observed<T> = { state: 'pending', value: undefined, error: undefined };
  promise.then(
    (value) => {
      observed.state = 'fulfilled';
      observed.value = value;
    },
    (error: unknown) => {
      observed.state = 'rejected';
      observed.error = error;
    },
  );
  return observed;
}

/** Lets every queued microtask (and everything they queue) run: one macrotask turn, no sleep. */
export async function flush(): Promise<void> {
  await macrotask();
}
