/**
 * The lessor's clock: the caller's monotonic clock less the stalls seen
 * while leading. Deadlines kept on it move forward together when a stall is
 * found, in O(1), without touching the queues that order them.
 *
 * @module
 */
import { InvalidArgumentError } from '../base/errors.ts';
import { checkMs } from './lessor-checks.ts';

/**
 * A clock that stands still through stalls. A stall is a gap between two
 * consecutive readings longer than `stallThresholdMs`, while `stalls` is
 * true (only a leader counts them: a follower has no deadline to protect).
 *
 * @example
 * ```ts
 * const clock = new LeaseClock(5000);
 * clock.advance('tick', 100, true);    // 100
 * clock.advance('tick', 60_100, true); // 100: a 60 s stall
 * clock.stallsMs;                      // 60_000
 * ```
 */
export class LeaseClock {
  readonly #stallThresholdMs: number;
  // Invariant: the largest time read, or undefined before the first.
  #lastNowMs: number | undefined;
  #stallsMs = 0;

  /** @param stallThresholdMs the longest gap between readings that is not a stall. */
  constructor(stallThresholdMs: number) {
    this.#stallThresholdMs = stallThresholdMs;
  }

  /** The total of the stalls seen, in milliseconds: lease time is the caller's time less this. */
  get stallsMs(): number {
    return this.#stallsMs;
  }

  /**
   * Reads the caller's time `nowMs`, counting the gap since the last reading
   * as a stall when it passes the threshold and `stalls` is set.
   *
   * @returns the lease time now.
   * @throws {InvalidArgumentError} naming `action` when `nowMs` is not a
   * finite number >= 0 or is before the last reading.
   */
  advance(action: string, nowMs: number, stalls: boolean): number {
    checkMs(action, 'nowMs', nowMs);
    const lastNowMs = this.#lastNowMs;
    if (lastNowMs !== undefined && nowMs < lastNowMs) {
      throw new InvalidArgumentError(
        `Cannot ${action}: nowMs ${nowMs} is before the last time seen, ${lastNowMs}`,
      );
    }
    if (stalls && lastNowMs !== undefined && nowMs - lastNowMs > this.#stallThresholdMs) {
      this.#stallsMs += nowMs - lastNowMs;
    }
    this.#lastNowMs = nowMs;
    return nowMs - this.#stallsMs;
  }
}
