/**
 * `select`: wait on several channel operations and complete exactly one, as
 * Go's `select` statement does.
 *
 * @module
 */

import { ChannelClosedError } from '../base/errors.ts';
import { type Random, systemRandom } from '../base/random.ts';
import { Channel, channelInternals } from './channel.ts';
import { ChannelWaiter, type ChannelWaiterGroup, MODE_RECV, MODE_SEND } from './channel-waiter.ts';
import { assertInteger, cancelledError, newPromiseInto, ONCE, waitersLimitError } from './waiter.ts';

/** The most cases one `select` accepts (Go's limit too); more is a bug, not a workload. */
export const SELECT_CASES_MAX = 65_536;

/** A receive case: ready when `channel` has a value, a waiting sender, or is closed. */
export interface RecvCase<T> {
  readonly kind: 'recv';
  readonly channel: Channel<T>;
}

/** A send case: ready when `channel` has a waiting receiver or buffer room. */
export interface SendCase<T> {
  readonly kind: 'send';
  readonly channel: Channel<T>;
  readonly value: T;
}

/** Any case `select` accepts. */
export type SelectCase = RecvCase<unknown> | SendCase<unknown>;

/** The result of a winning receive case `I`: like {@link RecvResult}, tagged with the case index. */
export type SelectRecvResult<T, I extends number = number> =
  | { index: I; value: T; ok: true }
  | { index: I; value: undefined; ok: false };

/** The result of a winning send case `I`. */
export interface SelectSendResult<I extends number = number> {
  index: I;
}

/** What `select` with `default: true` returns when no case was ready. */
export interface SelectDefaultResult {
  index: -1;
}

type SelectCaseResult<C, I extends number> =
  C extends RecvCase<infer T>
    ? SelectRecvResult<T, I>
    : C extends SendCase<unknown>
      ? SelectSendResult<I>
      : never;

/**
 * The result of `select(cases)`: a union over the cases, discriminated by `index`, so that
 * `if (result.index === 0)` narrows `result.value` to case 0's channel type.
 */
export type SelectResult<Cases extends readonly SelectCase[]> = number extends Cases['length']
  ? SelectCaseResult<Cases[number], number>
  : {
      [K in keyof Cases]: K extends `${infer I extends number}` ? SelectCaseResult<Cases[K], I> : never;
    }[number];

/** Options for {@link select} and {@link trySelect}. */
export interface SelectOptions {
  /** When true, never wait: resolve `{ index: -1 }` if no case is ready now (Go's `default:`). */
  default?: boolean;
  /** Aborting it gives up the wait: the select rejects with `CancelledError` and leaves no trace. */
  signal?: AbortSignal | undefined;
  /** Breaks ties among ready cases (default `systemRandom`); inject a `SeededRandom` to replay. */
  random?: Random;
}

const DEFAULT_RESULT: SelectDefaultResult = Object.freeze({ index: -1 as const });
const SELECT_OPERATION = 'Cannot select';

/** A receive case on `channel`. */
export function recvCase<T>(channel: Channel<T>): RecvCase<T> {
  return { kind: 'recv', channel };
}

/** A send case offering `value` on `channel`. */
export function sendCase<T>(channel: Channel<T>, value: T): SendCase<T> {
  return { kind: 'send', channel, value };
}

/**
 * Completes one ready case now, or returns `{ index: -1 }` when none is ready.
 * The synchronous core of {@link select}; useful in loops that must not yield.
 *
 * @param cases the candidate operations.
 * @param options `random` picks among several ready cases.
 * @throws ChannelClosedError when any send case's channel is closed (Go would panic).
 * @throws TypeError / RangeError for malformed cases.
 */
export function trySelect<const Cases extends readonly SelectCase[]>(
  cases: Cases,
  options: Pick<SelectOptions, 'random'> = {},
): SelectResult<Cases> | SelectDefaultResult {
  selectValidate(cases);
  return (selectPoll(cases, options.random ?? systemRandom) ?? DEFAULT_RESULT) as SelectResult<Cases>;
}

/**
 * Waits until one of `cases` can proceed, completes exactly that one, and
 * resolves with its index (and, for a receive, `value`/`ok`).
 *
 * - Several ready cases: one is picked uniformly at random with `options.random`.
 * - Losing cases leave no trace: nothing is consumed or sent on them, and their
 *   waiters are unlinked from the other channels the moment one case wins.
 * - A receive case on a closed channel is ready with `ok: false`.
 * - A send case on a closed channel makes the select reject with
 *   `ChannelClosedError`, whether it is closed on entry or while waiting. This is
 *   deterministic, unlike Go, which panics only when that case is the one picked.
 * - A select never matches its own send and receive cases on the same channel.
 * - With `default: true` it never waits: the choice (or `{ index: -1 }`) and its
 *   effect on the channels happen before `select` returns, and the returned
 *   promise is already settled. Use {@link trySelect} to get the result synchronously.
 *
 * @param cases the candidate operations, built with {@link recvCase} and {@link sendCase}.
 * @param options `default`, `signal`, `random`; see {@link SelectOptions}.
 * @returns the winning case, discriminated by `index`.
 * @throws (rejects) `ChannelClosedError` (send case on a closed channel), `CancelledError` (signal),
 *   `LimitExceededError` (a channel's `waitersMax`), `TypeError`/`RangeError` (malformed cases, or
 *   no cases with neither `default` nor `signal`, which could never complete).
 *
 * @example
 * ```ts
 * const results = new Channel<string>();
 * const quit = new Channel<void>();
 * const chosen = await select([recvCase(results), recvCase(quit)]);
 * if (chosen.index === 0 && chosen.ok) console.log('result', chosen.value);
 * else console.log('quit');
 * ```
 */
export function select<const Cases extends readonly SelectCase[]>(
  cases: Cases,
  options: SelectOptions & { default: true },
): Promise<SelectResult<Cases> | SelectDefaultResult>;
export function select<const Cases extends readonly SelectCase[]>(
  cases: Cases,
  options?: SelectOptions,
): Promise<SelectResult<Cases>>;
export function select<const Cases extends readonly SelectCase[]>(
  cases: Cases,
  options: SelectOptions = {},
): Promise<SelectResult<Cases> | SelectDefaultResult> {
  const signal = options.signal;
  let polled: SelectResult<Cases> | undefined;
  try {
    selectValidate(cases);
    if (signal?.aborted) return Promise.reject(cancelledError(SELECT_OPERATION, signal));
    polled = selectPoll(cases, options.random ?? systemRandom) as SelectResult<Cases> | undefined;
  } catch (error) {
    return Promise.reject(error);
  }
  if (polled !== undefined) return Promise.resolve(polled);
  if (options.default === true) return Promise.resolve(DEFAULT_RESULT);
  if (cases.length === 0 && signal === undefined) {
    return Promise.reject(
      new RangeError('Cannot select: no cases, no default and no signal would wait forever'),
    );
  }
  return new SelectGroup(signal).wait(cases) as Promise<SelectResult<Cases>>;
}

function selectValidate(cases: readonly SelectCase[]): void {
  if (!Array.isArray(cases))
    throw new TypeError(`Cannot select: cases must be an array, got ${typeof cases}`);
  assertInteger('Cannot select: the number of cases', cases.length, 0, SELECT_CASES_MAX);
  for (let i = 0; i < cases.length; i++) {
    const selectCase = cases[i] as SelectCase | undefined;
    const kind = selectCase?.kind;
    if ((kind !== 'recv' && kind !== 'send') || !(selectCase?.channel instanceof Channel)) {
      throw new TypeError(`Cannot select: case ${i} must be recvCase(channel) or sendCase(channel, value)`);
    }
  }
}

function selectCaseReady(selectCase: SelectCase): boolean {
  return selectCase.kind === 'recv'
    ? channelInternals.recvReady(selectCase.channel)
    : channelInternals.sendReady(selectCase.channel);
}

// Completes one ready case, chosen uniformly among the ready ones, or returns undefined.
function selectPoll(
  cases: readonly SelectCase[],
  random: Random,
): SelectRecvResult<unknown> | SelectSendResult | undefined {
  // Checked before anything else so that the failure leaves every channel untouched.
  for (let i = 0; i < cases.length; i++) {
    const selectCase = cases[i] as SelectCase;
    if (selectCase.kind === 'send' && selectCase.channel.closed) {
      throw new ChannelClosedError(`Cannot select: send case ${i} is on a closed channel`);
    }
  }
  let readyCount = 0;
  for (const selectCase of cases) if (selectCaseReady(selectCase)) readyCount++;
  if (readyCount === 0) return undefined;
  let pick = readyCount === 1 ? 0 : random.int(readyCount);
  if (!(Number.isInteger(pick) && pick >= 0 && pick < readyCount)) {
    throw new RangeError(
      `Cannot select: random.int(${readyCount}) returned ${pick}, outside [0, ${readyCount})`,
    );
  }
  for (let i = 0; i < cases.length; i++) {
    const selectCase = cases[i] as SelectCase;
    if (!selectCaseReady(selectCase) || pick-- > 0) continue;
    if (selectCase.kind === 'send') {
      if (!selectCase.channel.trySend(selectCase.value))
        throw new Error('select invariant broken: ready send failed');
      return { index: i };
    }
    const received = selectCase.channel.tryRecv();
    if (received === undefined) throw new Error('select invariant broken: ready receive found nothing');
    return received.ok
      ? { index: i, value: received.value, ok: true }
      : { index: i, value: undefined, ok: false };
  }
  throw new Error('select invariant broken: a ready case disappeared while polling');
}

/**
 * A select blocked on all its cases at once: one waiter per case, linked into
 * each channel's queue. The first channel to complete one of them settles the
 * group, which unlinks all the others in the same synchronous step, so no
 * other channel can ever complete a second case.
 */
class SelectGroup implements ChannelWaiterGroup {
  readonly #signal: AbortSignal | undefined;
  readonly #waiters: ChannelWaiter<unknown>[] = [];
  // Invariant: once #settled, none of #waiters is linked into a channel.
  #settled = false;
  resolve: ((value: SelectRecvResult<unknown> | SelectSendResult) => void) | undefined = undefined;
  reject: ((reason: unknown) => void) | undefined = undefined;

  constructor(signal: AbortSignal | undefined) {
    this.#signal = signal;
  }

  // Precondition: no case is ready (selectPoll just said so, synchronously), so linking the
  // waiters cannot match anything, least of all this select's own cases on one channel.
  wait(cases: readonly SelectCase[]): Promise<SelectRecvResult<unknown> | SelectSendResult> {
    for (let i = 0; i < cases.length; i++) {
      const selectCase = cases[i] as SelectCase;
      if (!channelInternals.waiterFits(selectCase.channel)) {
        this.#unlinkAll();
        return Promise.reject(waitersLimitError(SELECT_OPERATION, selectCase.channel.waitersMax));
      }
      const waiter =
        selectCase.kind === 'send'
          ? new ChannelWaiter<unknown>(MODE_SEND, selectCase.value, undefined, this, i)
          : new ChannelWaiter<unknown>(MODE_RECV, undefined, undefined, this, i);
      channelInternals.link(selectCase.channel, waiter);
      this.#waiters.push(waiter);
    }
    const promise = newPromiseInto<SelectRecvResult<unknown> | SelectSendResult>(this);
    this.#signal?.addEventListener('abort', this, ONCE);
    return promise;
  }

  caseChosen(waiter: ChannelWaiter<unknown>, value: unknown, ok: boolean): void {
    const resolve = this.resolve;
    this.#settle();
    const index = waiter.caseIndex;
    if (waiter.mode === MODE_SEND) resolve?.({ index });
    else resolve?.(ok ? { index, value, ok: true } : { index, value: undefined, ok: false });
  }

  caseFailed(_waiter: ChannelWaiter<unknown>, error: Error): void {
    const reject = this.reject;
    this.#settle();
    reject?.(error);
  }

  /** Abort listener. */
  handleEvent(): void {
    if (this.#settled || this.#signal === undefined) return;
    const reject = this.reject;
    this.#settle();
    reject?.(cancelledError(SELECT_OPERATION, this.#signal));
  }

  #settle(): void {
    if (this.#settled) throw new Error('select invariant broken: a select completed twice');
    this.#settled = true;
    this.#unlinkAll();
    this.#signal?.removeEventListener('abort', this);
    this.resolve = undefined;
    this.reject = undefined;
  }

  #unlinkAll(): void {
    for (const waiter of this.#waiters) {
      waiter.linkList?.remove(waiter);
      waiter.value = undefined;
    }
  }
}
