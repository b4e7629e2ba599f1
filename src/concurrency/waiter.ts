/**
 * The waiter that the sync primitives (`Mutex`, `RWMutex`, `Semaphore`,
 * `WaitGroup`, `ErrGroup`) queue, plus the small helpers they share: the
 * pre-resolved promise, argument checks and the cancellation error.
 *
 * Internal: nothing here is exported from the package.
 *
 * @module
 */

import { CancelledError, LimitExceededError } from '../base/errors.ts';
import type { WaiterLink, WaiterList } from './waiter-list.ts';

/**
 * The default bound on how many callers may wait on one primitive at once.
 * A queue that grows past it is a leak or a missing backpressure, not load.
 */
export const WAITERS_MAX_DEFAULT = 1_048_576;

/**
 * The one promise every synchronously completed operation returns, so that
 * the fast paths allocate nothing.
 */
export const RESOLVED: Promise<void> = Promise.resolve();

/** Shared listener options: every abort listener here fires at most once. */
export const ONCE: { readonly once: true } = Object.freeze({ once: true });

/** Options accepted by every blocking call. */
export interface WaitOptions {
  /** Aborting it gives up the wait: the call rejects with `CancelledError` and leaves no trace. */
  signal?: AbortSignal | undefined;
}

// A promise executor that closes over nothing: it parks resolve/reject here and
// the caller picks them up right after `new Promise(captureResolvers)`. This
// saves one closure per blocked call compared with an inline executor.
let capturedResolve: ((value: never) => void) | undefined;
let capturedReject: ((reason: unknown) => void) | undefined;
function captureResolvers(resolve: (value: never) => void, reject: (reason: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/** A new pending promise and its settle functions, without allocating a closure. */
export function newPromise<T>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
} {
  const promise = new Promise<T>(captureResolvers);
  const resolve = capturedResolve as unknown as (value: T) => void;
  const reject = capturedReject as (reason: unknown) => void;
  capturedResolve = undefined;
  capturedReject = undefined;
  return { promise, resolve, reject };
}

/** Parks resolve/reject of a new promise on `target` and returns the promise. */
export function newPromiseInto<T>(target: {
  resolve: ((value: T) => void) | undefined;
  reject: ((reason: unknown) => void) | undefined;
}): Promise<T> {
  const promise = new Promise<T>(captureResolvers);
  target.resolve = capturedResolve as unknown as (value: T) => void;
  target.reject = capturedReject;
  capturedResolve = undefined;
  capturedReject = undefined;
  return promise;
}

/** The error a wait rejects with when its signal aborts; `cause` is the signal's reason. */
export function cancelledError(operation: string, signal: AbortSignal): CancelledError {
  return new CancelledError(`${operation}: the signal was aborted`, { cause: signal.reason });
}

/** The error a wait rejects with when its queue already holds `waitersMax` waiters. */
export function waitersLimitError(operation: string, waitersMax: number): LimitExceededError {
  return new LimitExceededError(`${operation}: ${waitersMax} callers are already waiting (waitersMax)`, {
    details: { waitersMax },
  });
}

/**
 * Checks that `value` is a safe integer in [min, max].
 *
 * @throws RangeError naming `what` and the value.
 */
export function assertInteger(what: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${what} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
}

/** What a primitive does when one of its queued waiters is aborted. */
export interface WaiterOwner {
  /** Called after the waiter's signal aborted, before its promise rejects; the owner unlinks it. */
  waiterAborted(waiter: Waiter): void;
}

/**
 * A caller blocked on a sync primitive. It is its own abort listener
 * (`handleEvent`), so waiting with a signal allocates no closure.
 */
export class Waiter implements WaiterLink<Waiter> {
  linkPrevious: Waiter | undefined = undefined;
  linkNext: Waiter | undefined = undefined;
  linkList: WaiterList<Waiter> | undefined = undefined;
  resolve: ((value: undefined) => void) | undefined = undefined;
  reject: ((reason: unknown) => void) | undefined = undefined;
  readonly owner: WaiterOwner;
  readonly signal: AbortSignal | undefined;
  /** Permits wanted (Semaphore) or 1 for a writer / 0 for a reader (RWMutex); 0 elsewhere. */
  readonly weight: number;
  /** Names the blocked call in error messages, e.g. "Cannot lock Mutex". */
  readonly operation: string;

  constructor(owner: WaiterOwner, signal: AbortSignal | undefined, weight: number, operation: string) {
    this.owner = owner;
    this.signal = signal;
    this.weight = weight;
    this.operation = operation;
  }

  /**
   * Queues a new waiter on `list` and returns the promise it settles.
   * The caller has already checked the signal is not aborted and the limit.
   */
  static enqueue(
    list: WaiterList<Waiter>,
    owner: WaiterOwner,
    options: WaitOptions | undefined,
    weight: number,
    operation: string,
  ): Promise<void> {
    const signal = options?.signal;
    const waiter = new Waiter(owner, signal, weight, operation);
    const promise = newPromiseInto<undefined>(waiter);
    list.push(waiter);
    signal?.addEventListener('abort', waiter, ONCE);
    return promise;
  }

  /** Wakes the waiter: what it waited for is now its own. The owner has already unlinked it. */
  grant(): void {
    if (this.linkList !== undefined) throw new Error(`${this.operation}: granted a waiter still in a queue`);
    this.signal?.removeEventListener('abort', this);
    const resolve = this.resolve;
    this.resolve = undefined;
    this.reject = undefined;
    resolve?.(undefined);
  }

  /** Abort listener: the owner unlinks the waiter, then its promise rejects. */
  handleEvent(): void {
    const reject = this.reject;
    // A granted waiter has cleared its resolvers and removed this listener; nothing to undo.
    if (reject === undefined || this.signal === undefined) return;
    this.owner.waiterAborted(this);
    this.resolve = undefined;
    this.reject = undefined;
    reject(cancelledError(this.operation, this.signal));
  }
}

/**
 * A constructor's `waitersMax` option, validated, or the default.
 *
 * @throws RangeError when it is not a positive safe integer.
 */
export function waitersMaxOption(owner: string, waitersMax: number | undefined): number {
  const value = waitersMax ?? WAITERS_MAX_DEFAULT;
  assertInteger(`Cannot create ${owner}: waitersMax`, value, 1);
  return value;
}
