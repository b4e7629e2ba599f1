/**
 * How the storage conformance checks run: named checks that throw
 * {@link ConformanceFailure}, registered as `node:test` tests or run one by
 * one, against stores from a {@link StoreFactory}. The checks themselves
 * live in `log-store-conformance.ts`, `stable-store-conformance.ts` and
 * `snapshot-store-conformance.ts`; `store-conformance.ts` gathers them.
 *
 * @module
 */

/** A store's behaviour broke its seam's contract. */
export class ConformanceFailure extends Error {
  override readonly name = 'ConformanceFailure';
}

/** How the suite gets stores. */
export interface StoreFactory<S> {
  /** A new, empty store. */
  open(): S | Promise<S>;
  /**
   * Simulates a power loss and reopens: the store returned (the same object
   * or a new one) must hold exactly what was durable, dropping every write
   * since the last completed sync. A disk harness drops the bytes written
   * since the last fsync. Called at most once at a time per store.
   */
  crashAndReopen(store: S): S | Promise<S>;
  /** Releases a store at the end of a check (optional). */
  close?(store: S): void | Promise<void>;
}

/** One named check of a seam's contract. */
export interface ConformanceCheck<F> {
  readonly name: string;
  run(factory: F): Promise<void>;
}

/** The `describe` and `it` of `node:test` (or anything shaped like them). */
export interface TestRegistrar {
  describe(name: string, body: () => void): unknown;
  it(name: string, body: () => Promise<void>): unknown;
}

/** Registers every check as a test under `describe(name)`. */
export function registerConformance<F>(
  name: string,
  checks: readonly ConformanceCheck<F>[],
  factory: F,
  test: TestRegistrar,
): void {
  test.describe(name, () => {
    for (const check of checks) test.it(check.name, () => check.run(factory));
  });
}

/**
 * Runs the check called `name` once.
 *
 * @throws {ConformanceFailure} (rejects) when the store fails it.
 * @throws {RangeError} when there is no such check.
 */
export function runConformanceCheck<F>(
  checks: readonly ConformanceCheck<F>[],
  name: string,
  factory: F,
): Promise<void> {
  const check = checks.find((candidate) => candidate.name === name);
  if (check === undefined) throw new RangeError(`Cannot run conformance check "${name}": there is none`);
  return check.run(factory);
}

/** A store under test, replaced on each simulated crash. */
export interface StoreSession<S> {
  store: S;
  /** Crashes and reopens the store; `store` is the reopened one afterwards. */
  crash(): Promise<S>;
}

/** Opens a store, runs `body`, and closes whatever store is current at the end. */
export async function withStore<S>(
  factory: StoreFactory<S>,
  body: (session: StoreSession<S>) => Promise<void>,
): Promise<void> {
  const session: StoreSession<S> = {
    store: await factory.open(),
    async crash() {
      session.store = await factory.crashAndReopen(session.store);
      return session.store;
    },
  };
  try {
    await body(session);
  } finally {
    await factory.close?.(session.store);
  }
}

function plain(value: unknown): unknown {
  if (value instanceof Uint8Array)
    return { hex: Array.from(value, (byte) => byte.toString(16).padStart(2, '0')).join('') };
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value !== 'object' || value === null) return value;
  const fields = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(fields.map(([key, field]) => [key, plain(field)]));
}

/**
 * `value` as a string that is equal for equal plain data: keys sorted, any
 * `Uint8Array` (a `Buffer` too) by its bytes.
 */
export function canonical(value: unknown): string {
  return JSON.stringify(plain(value)) ?? 'undefined';
}

/** @throws {ConformanceFailure} unless `actual` and `expected` are equal as plain data. */
export function expectEqual(actual: unknown, expected: unknown, what: string): void {
  const got = canonical(actual);
  const want = canonical(expected);
  if (got !== want) throw new ConformanceFailure(`${what}: expected ${want}, got ${got}`);
}

/** @throws {ConformanceFailure} unless `condition` holds. */
export function expectTrue(condition: boolean, what: string): void {
  if (!condition) throw new ConformanceFailure(what);
}

type ErrorClass = abstract new (...args: never[]) => Error;

function expectErrorOf(error: unknown, errorClass: ErrorClass, what: string): Error {
  if (error instanceof errorClass) return error;
  const got = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  throw new ConformanceFailure(`${what}: expected ${errorClass.name}, got ${got}`);
}

/** @throws {ConformanceFailure} unless `work` throws an `errorClass`; returns the error. */
export function expectThrows(work: () => unknown, errorClass: ErrorClass, what: string): Error {
  let outcome: unknown;
  try {
    outcome = work();
  } catch (error) {
    return expectErrorOf(error, errorClass, what);
  }
  throw new ConformanceFailure(`${what}: expected ${errorClass.name}, got ${canonical(outcome)}`);
}

/** @throws {ConformanceFailure} (rejects) unless `promise` rejects with an `errorClass`; returns the error. */
export async function expectRejects(
  promise: Promise<unknown>,
  errorClass: ErrorClass,
  what: string,
): Promise<Error> {
  let outcome: unknown;
  try {
    outcome = await promise;
  } catch (error) {
    return expectErrorOf(error, errorClass, what);
  }
  throw new ConformanceFailure(`${what}: expected ${errorClass.name}, got ${canonical(outcome)}`);
}
