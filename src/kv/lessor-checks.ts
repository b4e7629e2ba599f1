/**
 * Argument checks of the lessor: each throws an {@link InvalidArgumentError}
 * reading "Cannot <action>: <what is wrong>".
 *
 * @module
 */
import { InvalidArgumentError } from '../base/errors.ts';
import { LEASE_TTL_SECONDS_MAX } from './limits.ts';

/** Checks a lease id: a safe integer >= 1, as the store's. */
export function checkId(action: string, id: number): void {
  if (!Number.isSafeInteger(id) || id < 1) {
    throw new InvalidArgumentError(`Cannot ${action}: the lease id must be an integer >= 1, got ${id}`);
  }
}

/** Checks a number of seconds: an integer in [min, {@link LEASE_TTL_SECONDS_MAX}]. */
export function checkSeconds(action: string, field: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > LEASE_TTL_SECONDS_MAX) {
    throw new InvalidArgumentError(
      `Cannot ${action}: ${field} must be an integer in [${min}, ${LEASE_TTL_SECONDS_MAX}], got ${value}`,
    );
  }
}

/** Checks a lease: its id, a TTL of at least 1 s and a remaining TTL of at least 0, as the store allows. */
export function checkLease(
  action: string,
  id: number,
  ttlSeconds: number,
  remainingTtlSeconds: number,
): void {
  checkId(action, id);
  checkSeconds(`${action} ${id}`, 'the TTL', ttlSeconds, 1);
  checkSeconds(`${action} ${id}`, 'the remaining TTL', remainingTtlSeconds, 0);
}

/** Checks a time or a duration in milliseconds: finite and >= 0 (fractions allowed). */
export function checkMs(action: string, field: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(`Cannot ${action}: ${field} must be a finite number >= 0, got ${value}`);
  }
}

/** Checks a `max` argument against the limit it may not pass. */
export function checkCount(action: string, max: number, limit: number, limitName: string): void {
  if (!Number.isSafeInteger(max) || max < 0 || max > limit) {
    throw new InvalidArgumentError(
      `Cannot ${action}: max must be an integer in [0, ${limitName} = ${limit}], got ${max}`,
    );
  }
}
