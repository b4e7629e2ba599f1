/**
 * Channel-based timers: Go's `time.After` and `time.Ticker`, driven by the
 * injected {@link Clock} so that tests move time by hand.
 *
 * @module
 */

import { type Clock, systemClock, type TimerHandle } from '../base/clock.ts';
import { Channel } from './channel.ts';
import { ONCE } from './waiter.ts';

/** Options for {@link after}. */
export interface AfterOptions {
  /** The time source (default `systemClock`); tests pass a `ManualClock`. */
  clock?: Clock;
  /** Aborting it cancels the timer; the channel then never receives (it is not closed). */
  signal?: AbortSignal | undefined;
}

/** Options for {@link tick}. */
export interface TickOptions {
  /** The time source (default `systemClock`); tests pass a `ManualClock`. */
  clock?: Clock;
  /** Aborting it stops the ticker, as {@link Ticker.stop} does. */
  signal?: AbortSignal | undefined;
}

function assertDelay(what: string, ms: number, allowZero: boolean): void {
  if (!(Number.isFinite(ms) && (allowZero ? ms >= 0 : ms > 0))) {
    throw new RangeError(`${what} must be a finite number ${allowZero ? '>= 0' : '> 0'}, got ${String(ms)}`);
  }
}

/**
 * A channel that receives `clock.now()` once, `ms` after the call (Go's
 * `time.After`). Its capacity is 1, so the timer never blocks on a slow reader.
 *
 * @param ms delay in milliseconds; a finite number >= 0.
 * @param options `clock` and `signal`; see {@link AfterOptions}.
 * @returns the channel; it is never closed.
 * @throws RangeError when `ms` is negative, NaN or infinite.
 *
 * @example
 * ```ts
 * const timeout = after(100);
 * const chosen = await select([recvCase(replies), recvCase(timeout)]);
 * if (chosen.index === 1) console.log('timed out');
 * ```
 */
export function after(ms: number, options: AfterOptions = {}): Channel<number> {
  assertDelay('Cannot start timer: ms', ms, true);
  const clock = options.clock ?? systemClock;
  const signal = options.signal;
  const channel = new Channel<number>(1);
  if (signal?.aborted) return channel;
  const onAbort = (): void => clock.clearTimer(handle);
  const handle = clock.setTimer(() => {
    signal?.removeEventListener('abort', onAbort);
    // Capacity 1 and a single send: this always fits.
    if (!channel.trySend(clock.now())) throw new Error('after invariant broken: its channel was full');
  }, ms);
  signal?.addEventListener('abort', onAbort, ONCE);
  return channel;
}

/**
 * A periodic timer (Go's `time.Ticker`): `channel` receives `clock.now()` every
 * `intervalMs`. The channel holds one tick; when the reader is slow, later ticks
 * are dropped rather than queued, and the schedule stays on the original grid
 * (no drift, no burst of catch-up ticks).
 */
export class Ticker {
  /** Receives the tick times. Never closed, even by {@link stop}, as in Go. */
  readonly channel: Channel<number>;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #signal: AbortSignal | undefined;
  #dueMs: number;
  #handle: TimerHandle | undefined;

  /**
   * @param intervalMs time between ticks in milliseconds; a finite number > 0.
   * @param options `clock` and `signal`; see {@link TickOptions}.
   * @throws RangeError when `intervalMs` is not a finite positive number.
   */
  constructor(intervalMs: number, options: TickOptions = {}) {
    assertDelay('Cannot start ticker: intervalMs', intervalMs, false);
    this.channel = new Channel<number>(1);
    this.#clock = options.clock ?? systemClock;
    this.#intervalMs = intervalMs;
    this.#signal = options.signal;
    this.#dueMs = this.#clock.now() + intervalMs;
    if (this.#signal?.aborted) return;
    this.#handle = this.#clock.setTimer(this.#fire, intervalMs);
    this.#signal?.addEventListener('abort', this.#stopOnAbort, ONCE);
  }

  /** Whether the ticker still runs. */
  get running(): boolean {
    return this.#handle !== undefined;
  }

  /** Stops the ticker; no tick is sent after this returns. Idempotent. */
  stop(): void {
    if (this.#handle === undefined) return;
    this.#clock.clearTimer(this.#handle);
    this.#handle = undefined;
    this.#signal?.removeEventListener('abort', this.#stopOnAbort);
  }

  readonly #stopOnAbort = (): void => this.stop();

  readonly #fire = (): void => {
    if (this.#handle === undefined) return;
    const nowMs = this.#clock.now();
    // A full channel means the reader has not taken the last tick: drop this one, as Go does.
    this.channel.trySend(nowMs);
    // Skip the grid points that already passed (the process was busy), keeping the phase.
    while (this.#dueMs <= nowMs) this.#dueMs += this.#intervalMs;
    this.#handle = this.#clock.setTimer(this.#fire, this.#dueMs - nowMs);
  };
}

/**
 * Starts a {@link Ticker} that sends `clock.now()` on its channel every `intervalMs`.
 *
 * @param intervalMs time between ticks in milliseconds; a finite number > 0.
 * @param options `clock` and `signal`; see {@link TickOptions}.
 * @returns the ticker: read `ticker.channel`, call `ticker.stop()` when done.
 * @throws RangeError when `intervalMs` is not a finite positive number.
 *
 * @example
 * ```ts
 * const ticker = tick(1000);
 * for (let i = 0; i < 3; i++) {
 *   const { value: atMs } = await ticker.channel.recv();
 *   console.log('tick at', atMs);
 * }
 * ticker.stop();
 * ```
 */
export function tick(intervalMs: number, options: TickOptions = {}): Ticker {
  return new Ticker(intervalMs, options);
}
