/**
 * The `Clock` seam: everything that needs the time or a timer gets it here,
 * so tests and the simulator can drive time by hand.
 *
 * @module
 */

/** An opaque handle for a timer set through a {@link Clock}. */
export type TimerHandle = { readonly __timer: unique symbol } | object;

/**
 * Time and timers. Implementations must call timer callbacks in due-time
 * order, each at most once, never synchronously from `setTimer`.
 */
export interface Clock {
  /** Milliseconds on a monotonic clock (only differences are meaningful). */
  now(): number;
  /** Calls `callback` once, `delayMs` from now. */
  setTimer(callback: () => void, delayMs: number): TimerHandle;
  /** Cancels a timer; a no-op when it already fired or was cleared. */
  clearTimer(handle: TimerHandle): void;
}

/**
 * The real clock: `performance.now()` and Node timers. Timers keep the
 * process alive, as a pending call or an open client should; close what you
 * open.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(callback, delayMs) {
    return setTimeout(callback, delayMs);
  },
  clearTimer(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

interface ManualTimer {
  readonly dueMs: number;
  readonly sequence: number;
  readonly callback: () => void;
  cleared: boolean;
}

/**
 * A clock that moves only when told to. Timers fire from {@link advance}, in
 * due-time order (ties in the order they were set).
 *
 * @example
 * ```ts
 * const clock = new ManualClock();
 * const fired: number[] = [];
 * clock.setTimer(() => fired.push(clock.now()), 10);
 * clock.advance(15); // fired == [10]
 * ```
 */
export class ManualClock implements Clock {
  #nowMs: number;
  #sequence = 0;
  #timers: ManualTimer[] = [];

  constructor(startMs = 0) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    if (!(delayMs >= 0)) throw new RangeError(`Cannot set timer: delayMs must be >= 0, got ${delayMs}`);
    const timer: ManualTimer = {
      dueMs: this.#nowMs + delayMs,
      sequence: this.#sequence++,
      callback,
      cleared: false,
    };
    this.#timers.push(timer);
    return timer;
  }

  clearTimer(handle: TimerHandle): void {
    (handle as ManualTimer).cleared = true;
  }

  /** Timers set and not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.filter((timer) => !timer.cleared).length;
  }

  /** Moves time forward by `deltaMs`, firing every timer that falls due, in order. */
  advance(deltaMs: number): void {
    if (!(deltaMs >= 0)) throw new RangeError(`Cannot advance clock: deltaMs must be >= 0, got ${deltaMs}`);
    const targetMs = this.#nowMs + deltaMs;
    for (;;) {
      const next = this.#nextDue(targetMs);
      if (next === undefined) break;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#nowMs = next.dueMs;
      next.callback();
    }
    this.#nowMs = targetMs;
  }

  #nextDue(targetMs: number): ManualTimer | undefined {
    this.#timers = this.#timers.filter((timer) => !timer.cleared);
    let best: ManualTimer | undefined;
    for (const timer of this.#timers) {
      if (timer.dueMs > targetMs) continue;
      if (
        best === undefined ||
        timer.dueMs < best.dueMs ||
        (timer.dueMs === best.dueMs && timer.sequence < best.sequence)
      ) {
        best = timer;
      }
    }
    return best;
  }
}
