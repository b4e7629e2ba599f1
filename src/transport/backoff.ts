/**
 * Exponential backoff with jitter, for reconnects.
 *
 * @module
 */
import type { Random } from '../base/random.ts';

/** Backoff settings. gRPC uses 1 s / 1.6 / 0.2 / 120 s; ours start sooner and cap lower so a cluster heals fast. */
export interface BackoffOptions {
  /** Delay before the first retry. */
  initialMs?: number;
  /** Each failure multiplies the delay by this. */
  multiplier?: number;
  /** The delay is spread uniformly over ±jitter of itself, so clients do not retry in lockstep. */
  jitter?: number;
  /** The delay never exceeds this. */
  maxMs?: number;
}

/** Defaults for {@link BackoffOptions}. */
export const BACKOFF_DEFAULTS: Required<BackoffOptions> = {
  initialMs: 50,
  multiplier: 1.6,
  jitter: 0.2,
  maxMs: 5000,
};

/**
 * The delay before retry number `attempt` (0 for the first retry).
 *
 * @throws {RangeError} on settings out of range.
 */
export function backoffDelayMs(attempt: number, random: Random, options: BackoffOptions = {}): number {
  const { initialMs, multiplier, jitter, maxMs } = { ...BACKOFF_DEFAULTS, ...options };
  if (!(initialMs > 0 && multiplier >= 1 && jitter >= 0 && jitter < 1 && maxMs >= initialMs)) {
    throw new RangeError(
      `Cannot compute backoff: need initialMs > 0, multiplier >= 1, 0 <= jitter < 1, maxMs >= initialMs; got ${JSON.stringify(options)}`,
    );
  }
  const base = Math.min(maxMs, initialMs * multiplier ** Math.min(attempt, 64));
  return base * (1 - jitter + 2 * jitter * random.next());
}
