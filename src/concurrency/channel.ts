/**
 * `Channel<T>`: Go's channel for one Node isolate.
 *
 * Values sit in a ring buffer; blocked senders and receivers wait in
 * intrusive linked lists ({@link WaiterList}), so an aborted call or a losing
 * `select` case unlinks in O(1) and no dead waiter is left in a queue.
 *
 * @module
 */

import { ChannelClosedError } from '../base/errors.ts';
import {
  ChannelWaiter,
  CLOSED_RESULT,
  CLOSED_RESULT_PROMISE,
  DONE_RESULT_PROMISE,
  MODE_ITERATE,
  MODE_RECV,
  MODE_SEND,
  RECV_OPERATION,
  receiverWake,
  SEND_CLOSED_MESSAGE,
  SEND_OPERATION,
  senderFail,
  senderWake,
} from './channel-waiter.ts';
import {
  assertInteger,
  cancelledError,
  newPromiseInto,
  ONCE,
  RESOLVED,
  WAITERS_MAX_DEFAULT,
  type WaitOptions,
  waitersLimitError,
} from './waiter.ts';
import { WaiterList } from './waiter-list.ts';

/** Default bound on the senders plus receivers queued on one channel (see {@link ChannelOptions.waitersMax}). */
export const CHANNEL_WAITERS_MAX_DEFAULT: number = WAITERS_MAX_DEFAULT;

/**
 * The largest buffer capacity a channel accepts. Storage grows on demand, but a
 * JavaScript array cannot hold more than 2^32 - 1 slots, and a queue of a
 * billion values is a bug, not a buffer.
 */
export const CHANNEL_CAPACITY_MAX = 2 ** 30;

// Storage for buffered values starts at most this large and doubles on demand
// up to the capacity, so `new Channel(1e6)` does not allocate 8 MB up front.
const RING_INITIAL_SLOTS_MAX = 1024;

/** What a receive returns: a value, or `ok: false` once the channel is closed and drained. */
export type RecvResult<T> = { value: T; ok: true } | { value: undefined; ok: false };

/** Options for {@link Channel}. */
export interface ChannelOptions {
  /**
   * The most senders plus receivers that may be blocked on the channel at once
   * (default {@link CHANNEL_WAITERS_MAX_DEFAULT}). A call that would exceed it
   * rejects with `LimitExceededError`; an unbounded queue of blocked calls is a
   * leak that this turns into an error.
   */
  waitersMax?: number;
}

/** @internal The channel operations `select` needs and users must not call. */
export interface ChannelInternals {
  /** Whether a receive would complete now (a value, a sender, or closed). */
  recvReady(channel: Channel<unknown>): boolean;
  /** Whether a send on an open channel would complete now (a receiver, or buffer room). */
  sendReady(channel: Channel<unknown>): boolean;
  /** Whether one more waiter fits under `waitersMax`. */
  waiterFits(channel: Channel<unknown>): boolean;
  /** Queues a select case's waiter without matching it against the other side. */
  link(channel: Channel<unknown>, waiter: ChannelWaiter<unknown>): void;
}

/** @internal Filled in by `Channel`'s static block, which alone can reach its private state. */
export const channelInternals = {} as ChannelInternals;

/**
 * A typed, optionally buffered channel with Go's semantics.
 *
 * - Unbuffered (`capacity` 0): `send` resolves only once a receiver took the value.
 * - Buffered: `send` resolves once the value is in the buffer; when the buffer
 *   is full senders wait in FIFO order, and each receive from a full buffer
 *   moves the oldest waiting sender's value into it.
 * - `close()` wakes every receiver with `ok: false` (after the buffer drains)
 *   and rejects every waiting sender with `ChannelClosedError`.
 *
 * Every blocking call takes an optional `signal`; aborting it unlinks the call
 * (nothing sent, nothing consumed) and rejects it with `CancelledError`.
 *
 * @example
 * ```ts
 * const jobs = new Channel<number>(16);
 * const consumer = (async () => {
 *   for await (const job of jobs) console.log('job', job);
 * })();
 * for (let i = 0; i < 3; i++) await jobs.send(i);
 * jobs.close();
 * await consumer;
 * ```
 */
export class Channel<T> implements AsyncIterable<T> {
  /** How many values the buffer holds before `send` waits; 0 for an unbuffered channel. */
  readonly capacity: number;
  /** The bound on blocked senders plus receivers; see {@link ChannelOptions.waitersMax}. */
  readonly waitersMax: number;
  // Invariant: #ring.length is a power of two (or 0 when capacity is 0), #ringMask === #ring.length - 1,
  // and #count <= min(#ring.length, capacity). Slots outside [#head, #head + #count) hold undefined.
  #ring: (T | undefined)[];
  #ringMask: number;
  #head = 0;
  #count = 0;
  #closed = false;
  // Invariant: receivers wait only while the buffer is empty, and senders only while it is full.
  // Both lists are non-empty together only on an unbuffered channel with one select holding
  // a send and a receive case on it (a select never matches itself).
  readonly #senders = new WaiterList<ChannelWaiter<T>>();
  readonly #receivers = new WaiterList<ChannelWaiter<T>>();

  static {
    channelInternals.recvReady = (channel) =>
      channel.#count > 0 || channel.#senders.length > 0 || channel.#closed;
    channelInternals.sendReady = (channel) =>
      !channel.#closed && (channel.#receivers.length > 0 || channel.#count < channel.capacity);
    channelInternals.waiterFits = (channel) =>
      channel.#senders.length + channel.#receivers.length < channel.waitersMax;
    channelInternals.link = (channel, waiter) => {
      (waiter.mode === MODE_SEND ? channel.#senders : channel.#receivers).push(waiter);
    };
  }

  /**
   * @param capacity buffer size; 0 (the default) makes every send a rendezvous with a receiver.
   * @param options see {@link ChannelOptions}.
   * @throws RangeError when `capacity` is not an integer in [0, {@link CHANNEL_CAPACITY_MAX}] or
   *   `waitersMax` is not a positive safe integer.
   */
  constructor(capacity = 0, options: ChannelOptions = {}) {
    assertInteger('Cannot create Channel: capacity', capacity, 0, CHANNEL_CAPACITY_MAX);
    const waitersMax = options.waitersMax ?? CHANNEL_WAITERS_MAX_DEFAULT;
    assertInteger('Cannot create Channel: waitersMax', waitersMax, 1);
    this.capacity = capacity;
    this.waitersMax = waitersMax;
    let slots = 0;
    if (capacity > 0) {
      slots = 1;
      while (slots < capacity && slots < RING_INITIAL_SLOTS_MAX) slots *= 2;
    }
    this.#ring = new Array<T | undefined>(slots).fill(undefined);
    this.#ringMask = slots === 0 ? 0 : slots - 1;
  }

  /** How many values are buffered now. */
  get length(): number {
    return this.#count;
  }

  /** Whether `close()` has been called. Buffered values may still be receivable. */
  get closed(): boolean {
    return this.#closed;
  }

  /** How many senders (including `select` send cases) are blocked on this channel. */
  get sendersWaiting(): number {
    return this.#senders.length;
  }

  /** How many receivers (including `select` receive cases and iterators) are blocked on this channel. */
  get receiversWaiting(): number {
    return this.#receivers.length;
  }

  /**
   * Sends `value`, waiting for a receiver (unbuffered) or buffer room.
   *
   * @returns a promise that resolves once the value was taken by a receiver or buffered. When that
   *   happens at once it is the same pre-resolved promise every time.
   * @throws (rejects) `ChannelClosedError` when the channel is or becomes closed before the value
   *   was taken; `CancelledError` when `signal` aborts first; `LimitExceededError` when
   *   `waitersMax` calls are already blocked.
   */
  send(value: T, options?: WaitOptions): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(cancelledError(SEND_OPERATION, signal));
    if (this.#closed) return Promise.reject(new ChannelClosedError(SEND_CLOSED_MESSAGE));
    const receiver = this.#receivers.shift();
    if (receiver !== undefined) {
      receiverWake(receiver, value, true);
      return RESOLVED;
    }
    if (this.#count < this.capacity) {
      this.#ringPush(value);
      return RESOLVED;
    }
    if (this.#count !== this.capacity) throw new Error('Channel invariant broken: buffer over capacity');
    if (this.#senders.length + this.#receivers.length >= this.waitersMax) {
      return Promise.reject(waitersLimitError(SEND_OPERATION, this.waitersMax));
    }
    const waiter = new ChannelWaiter<T>(MODE_SEND, value, signal, undefined, -1);
    const promise = newPromiseInto<void>(waiter);
    this.#senders.push(waiter);
    if (signal !== undefined) signal.addEventListener('abort', waiter, ONCE);
    return promise;
  }

  /**
   * Sends `value` only if that completes now (a receiver is waiting, or the buffer has room).
   *
   * @returns whether the value was sent.
   * @throws ChannelClosedError when the channel is closed.
   */
  trySend(value: T): boolean {
    if (this.#closed) throw new ChannelClosedError(SEND_CLOSED_MESSAGE);
    const receiver = this.#receivers.shift();
    if (receiver !== undefined) {
      receiverWake(receiver, value, true);
      return true;
    }
    if (this.#count < this.capacity) {
      this.#ringPush(value);
      return true;
    }
    return false;
  }

  /**
   * Receives the next value, waiting for one if none is buffered or offered.
   *
   * @returns `{ value, ok: true }`, or `{ value: undefined, ok: false }` once the channel is closed
   *   and drained.
   * @throws (rejects) `CancelledError` when `signal` aborts first (nothing is consumed);
   *   `LimitExceededError` when `waitersMax` calls are already blocked.
   */
  recv(options?: WaitOptions): Promise<RecvResult<T>> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(cancelledError(RECV_OPERATION, signal));
    if (this.#count > 0) return Promise.resolve({ value: this.#ringShift(), ok: true });
    const sender = this.#senders.shift();
    if (sender !== undefined) {
      const value = sender.value as T;
      senderWake(sender);
      return Promise.resolve({ value, ok: true });
    }
    if (this.#closed) return CLOSED_RESULT_PROMISE;
    return this.#recvWait(MODE_RECV, signal) as Promise<RecvResult<T>>;
  }

  /**
   * Receives a value only if one is ready now.
   *
   * @returns the result, `{ value: undefined, ok: false }` when closed and drained, or `undefined`
   *   when a receive would have to wait.
   */
  tryRecv(): RecvResult<T> | undefined {
    if (this.#count > 0) return { value: this.#ringShift(), ok: true };
    const sender = this.#senders.shift();
    if (sender !== undefined) {
      const value = sender.value as T;
      senderWake(sender);
      return { value, ok: true };
    }
    return this.#closed ? CLOSED_RESULT : undefined;
  }

  /**
   * Closes the channel: no more sends. Buffered values stay receivable; blocked receivers get
   * `ok: false`; blocked senders reject with `ChannelClosedError`.
   *
   * @throws ChannelClosedError when the channel is already closed.
   */
  close(): void {
    if (this.#closed) throw new ChannelClosedError('Cannot close channel: it is already closed');
    this.#closed = true;
    // Receivers wait only on an empty buffer, so each of them sees the end of the stream. A select
    // woken here unlinks its other cases, possibly from this very channel, so take one at a time.
    for (let receiver = this.#receivers.shift(); receiver !== undefined; receiver = this.#receivers.shift()) {
      receiverWake(receiver, undefined, false);
    }
    for (let sender = this.#senders.shift(); sender !== undefined; sender = this.#senders.shift()) {
      senderFail(
        sender,
        new ChannelClosedError('Cannot send on channel: it was closed while the send waited'),
      );
    }
  }

  /**
   * Ranges over the channel, like Go's `for v := range ch`: yields each value until the channel
   * is closed and drained. Breaking out of the loop does not close the channel. A pending `next()`
   * cannot be cancelled; use `recv({ signal })` or `select` where a wait must be abortable.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<T, undefined, undefined> {
    const iterator: AsyncIterableIterator<T, undefined, undefined> = {
      next: () => this.#iterateNext(),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  #iterateNext(): Promise<IteratorResult<T, undefined>> {
    if (this.#count > 0) return Promise.resolve({ value: this.#ringShift(), done: false });
    const sender = this.#senders.shift();
    if (sender !== undefined) {
      const value = sender.value as T;
      senderWake(sender);
      return Promise.resolve({ value, done: false });
    }
    if (this.#closed) return DONE_RESULT_PROMISE;
    return this.#recvWait(MODE_ITERATE, undefined) as Promise<IteratorResult<T, undefined>>;
  }

  #recvWait(mode: number, signal: AbortSignal | undefined): Promise<unknown> {
    if (this.#count !== 0)
      throw new Error('Channel invariant broken: a receiver would wait on a non-empty buffer');
    if (this.#senders.length + this.#receivers.length >= this.waitersMax) {
      return Promise.reject(waitersLimitError(RECV_OPERATION, this.waitersMax));
    }
    const waiter = new ChannelWaiter<T>(mode, undefined, signal, undefined, -1);
    const promise = newPromiseInto<unknown>(waiter);
    this.#receivers.push(waiter);
    if (signal !== undefined) signal.addEventListener('abort', waiter, ONCE);
    return promise;
  }

  // Precondition: #count < capacity.
  #ringPush(value: T): void {
    if (this.#count === this.#ring.length) this.#ringGrow();
    this.#ring[(this.#head + this.#count) & this.#ringMask] = value;
    this.#count++;
  }

  // Precondition: #count > 0. Refills the freed slot from the oldest blocked sender, as Go does.
  #ringShift(): T {
    const ring = this.#ring;
    const head = this.#head;
    const value = ring[head] as T;
    ring[head] = undefined;
    this.#head = (head + 1) & this.#ringMask;
    this.#count--;
    const sender = this.#senders.shift();
    if (sender !== undefined) {
      this.#ringPush(sender.value as T);
      senderWake(sender);
    }
    return value;
  }

  #ringGrow(): void {
    const old = this.#ring;
    const slots = old.length * 2;
    if (!(this.#count === old.length && this.#count < this.capacity)) {
      throw new Error('Channel invariant broken: ring grown while not full or at capacity');
    }
    const ring = new Array<T | undefined>(slots).fill(undefined);
    for (let i = 0; i < this.#count; i++) ring[i] = old[(this.#head + i) & this.#ringMask];
    this.#ring = ring;
    this.#ringMask = slots - 1;
    this.#head = 0;
  }
}
