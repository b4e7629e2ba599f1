/**
 * What every client call takes (a deadline and a signal), the default
 * deadline, and the checks on the settings and addresses a caller gives.
 *
 * @module
 */
import { TIMEOUT_MS_MAX } from '../transport/rpc-protocol.ts';

/** How long a call may take, retries included, unless the call or the client says otherwise. */
export const REQUEST_TIMEOUT_MS_DEFAULT = 10_000;

/** The longest `host:port` accepted, as an endpoint or from a leader hint (as the server's limit). */
export const ADDRESS_LENGTH_MAX = 255;

/** Options every client call takes. */
export interface RequestOptions {
  /**
   * The call's deadline in milliseconds, retries and pauses included
   * (default: the client's `timeoutMs`). When it passes, the call rejects
   * with `DeadlineExceededError`, or `OutcomeUnknownError` for a write in
   * flight.
   */
  readonly timeoutMs?: number;
  /**
   * Aborting rejects the call at once with `CancelledError` and stops its
   * retries. A write aborted after it was sent may still take effect.
   */
  readonly signal?: AbortSignal;
}

/**
 * Checks a `host:port` address.
 *
 * @throws {TypeError} when it is not one.
 */
export function checkAddress(address: unknown, what: string): string {
  if (typeof address !== 'string' || address.length > ADDRESS_LENGTH_MAX || !/^.+:\d{1,5}$/.test(address)) {
    throw new TypeError(`Cannot use ${what} ${JSON.stringify(address)}: expected host:port`);
  }
  return address;
}

/**
 * Checks a deadline in milliseconds.
 *
 * @throws {RangeError} unless it is a number in (0, 2^31 - 1].
 */
export function checkTimeoutMs(timeoutMs: unknown, what: string): number {
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0 && timeoutMs <= TIMEOUT_MS_MAX)) {
    throw new RangeError(`Cannot ${what}: timeoutMs must be in (0, ${TIMEOUT_MS_MAX}], got ${timeoutMs}`);
  }
  return timeoutMs;
}
