/**
 * The waiter a blocked channel operation leaves in a channel's queue, and the
 * functions that complete it. Internal to `channel.ts` and `select.ts`.
 *
 * @module
 */

import type { RecvResult } from './channel.ts';
import { cancelledError } from './waiter.ts';
import type { WaiterLink, WaiterList } from './waiter-list.ts';

// What a blocked waiter resolves with. Numbers, not strings: it is read on every hand-off.
/** @internal A blocked `recv`: resolves with a {@link RecvResult}. */
export const MODE_RECV = 0;
/** @internal A blocked async-iterator `next`: resolves with an `IteratorResult`. */
export const MODE_ITERATE = 1;
/** @internal A blocked `send`: resolves with `undefined`. */
export const MODE_SEND = 2;

/** The shared result of a receive on a closed, drained channel. */
export const CLOSED_RESULT: RecvResult<never> = Object.freeze({ value: undefined, ok: false as const });
/** {@link CLOSED_RESULT}, pre-resolved. */
export const CLOSED_RESULT_PROMISE: Promise<RecvResult<never>> = Promise.resolve(CLOSED_RESULT);
/** The shared end-of-iteration result. */
export const DONE_RESULT: IteratorReturnResult<undefined> = Object.freeze({
  value: undefined,
  done: true as const,
});
/** {@link DONE_RESULT}, pre-resolved. */
export const DONE_RESULT_PROMISE: Promise<IteratorReturnResult<undefined>> = Promise.resolve(DONE_RESULT);

/** Error message prefixes. */
export const SEND_OPERATION = 'Cannot send on channel';
export const RECV_OPERATION = 'Cannot receive from channel';
export const SEND_CLOSED_MESSAGE = 'Cannot send on channel: it is closed';

/**
 * @internal A `select` blocked on several channels at once. The channel calls
 * it instead of resolving the waiter itself, and the group unlinks its other
 * waiters before anything else can happen.
 */
export interface ChannelWaiterGroup {
  /** `waiter` (already unlinked) won: a receive got `value`/`ok`, or a send handed its value over. */
  caseChosen(waiter: ChannelWaiter<unknown>, value: unknown, ok: boolean): void;
  /** `waiter`'s send case failed because its channel closed. */
  caseFailed(waiter: ChannelWaiter<unknown>, error: Error): void;
}

/**
 * @internal One blocked channel operation: a plain `send`/`recv`/iteration, or
 * one case of a `select` (then `group` is set). It is its own abort listener
 * so that waiting with a signal allocates no closure.
 */
export class ChannelWaiter<T> implements WaiterLink<ChannelWaiter<T>> {
  linkPrevious: ChannelWaiter<T> | undefined = undefined;
  linkNext: ChannelWaiter<T> | undefined = undefined;
  linkList: WaiterList<ChannelWaiter<T>> | undefined = undefined;
  /** For a sender, the value it offers; cleared once handed over so the waiter does not pin it. */
  value: T | undefined;
  resolve: ((value: unknown) => void) | undefined = undefined;
  reject: ((reason: unknown) => void) | undefined = undefined;
  readonly mode: number;
  readonly signal: AbortSignal | undefined;
  readonly group: ChannelWaiterGroup | undefined;
  /** The `select` case this waiter stands for; -1 for a plain call. */
  readonly caseIndex: number;

  constructor(
    mode: number,
    value: T | undefined,
    signal: AbortSignal | undefined,
    group: ChannelWaiterGroup | undefined,
    caseIndex: number,
  ) {
    this.mode = mode;
    this.value = value;
    this.signal = signal;
    this.group = group;
    this.caseIndex = caseIndex;
  }

  /** Abort listener of a plain (non-select) waiter: unlink, consume and send nothing, reject. */
  handleEvent(): void {
    const reject = this.reject;
    const signal = this.signal;
    // A waiter that already completed removed this listener and cleared its resolvers.
    if (reject === undefined || signal === undefined) return;
    this.linkList?.remove(this);
    this.resolve = undefined;
    this.reject = undefined;
    this.value = undefined;
    reject(cancelledError(this.mode === MODE_SEND ? SEND_OPERATION : RECV_OPERATION, signal));
  }
}

/** Completes a receiver that the channel has already unlinked. */
export function receiverWake<T>(waiter: ChannelWaiter<T>, value: T | undefined, ok: boolean): void {
  const group = waiter.group;
  if (group !== undefined) {
    group.caseChosen(waiter as ChannelWaiter<unknown>, value, ok);
    return;
  }
  const resolve = waiter.resolve;
  if (resolve === undefined) throw new Error('Channel invariant broken: a queued receiver has no resolver');
  waiter.resolve = undefined;
  waiter.reject = undefined;
  if (waiter.signal !== undefined) waiter.signal.removeEventListener('abort', waiter);
  if (waiter.mode === MODE_RECV) resolve(ok ? { value, ok: true } : CLOSED_RESULT);
  else resolve(ok ? { value, done: false } : DONE_RESULT);
}

/** Completes a sender whose value the channel has already taken, and unlinked. */
export function senderWake<T>(waiter: ChannelWaiter<T>): void {
  waiter.value = undefined;
  const group = waiter.group;
  if (group !== undefined) {
    group.caseChosen(waiter as ChannelWaiter<unknown>, undefined, true);
    return;
  }
  const resolve = waiter.resolve;
  if (resolve === undefined) throw new Error('Channel invariant broken: a queued sender has no resolver');
  waiter.resolve = undefined;
  waiter.reject = undefined;
  if (waiter.signal !== undefined) waiter.signal.removeEventListener('abort', waiter);
  resolve(undefined);
}

/** Fails a sender the channel has already unlinked (its channel closed). */
export function senderFail<T>(waiter: ChannelWaiter<T>, error: Error): void {
  waiter.value = undefined;
  const group = waiter.group;
  if (group !== undefined) {
    group.caseFailed(waiter as ChannelWaiter<unknown>, error);
    return;
  }
  const reject = waiter.reject;
  waiter.resolve = undefined;
  waiter.reject = undefined;
  if (waiter.signal !== undefined) waiter.signal.removeEventListener('abort', waiter);
  reject?.(error);
}
