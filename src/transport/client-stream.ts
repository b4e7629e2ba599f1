/**
 * The client side of a server stream: a bounded queue of items the server
 * sent, handed out by `next()`, with credits returned as items are consumed.
 *
 * @module
 */
import { ProtocolError } from '../base/errors.ts';
import type { ClientStream } from './service.ts';

/** What a stream asks of its client. */
export interface ClientStreamOwner {
  /** Returns `items` credits to the server. */
  credit(items: number): void;
  /** Cancels the call on the server and forgets it. */
  cancel(): void;
}

/**
 * Items of one server stream. Never holds more than `window` items: the
 * server may only send that many ahead of what was consumed.
 */
export class ClientStreamImpl<Item> implements ClientStream<Item> {
  readonly #window: number;
  #owner: ClientStreamOwner | undefined;
  // Invariant: #items.length <= #window, and #waiter is set only while #items is empty.
  #items: Item[] = [];
  #consumedSinceCredit = 0;
  #ended = false;
  #error: Error | undefined;
  #waiter: { resolve: (result: IteratorResult<Item>) => void; reject: (error: Error) => void } | undefined;

  constructor(window: number) {
    this.#window = window;
  }

  /** Connects the stream to its call once the request is sent. */
  attach(owner: ClientStreamOwner): void {
    this.#owner = owner;
  }

  /** True once the stream ended, failed or was cancelled. */
  get finished(): boolean {
    return this.#ended || this.#error !== undefined;
  }

  push(item: Item): void {
    if (this.finished) return;
    if (this.#waiter !== undefined) {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      this.#consumed();
      waiter.resolve({ value: item, done: false });
      return;
    }
    if (this.#items.length >= this.#window) {
      this.fail(
        new ProtocolError(`Cannot accept stream item: server sent past the window of ${this.#window}`),
      );
      this.#owner?.cancel();
      return;
    }
    this.#items.push(item);
  }

  end(): void {
    if (this.finished) return;
    this.#ended = true;
    this.#owner = undefined;
    if (this.#waiter !== undefined) {
      this.#waiter.resolve({ value: undefined, done: true });
      this.#waiter = undefined;
    }
  }

  fail(error: Error): void {
    if (this.finished) return;
    this.#error = error;
    this.#owner = undefined;
    if (this.#waiter !== undefined) {
      this.#waiter.reject(error);
      this.#waiter = undefined;
    }
  }

  #consumed(): void {
    this.#consumedSinceCredit++;
    // Return credits in batches of half a window: fewer messages, and the server never idles.
    if (this.#consumedSinceCredit * 2 >= this.#window) {
      this.#owner?.credit(this.#consumedSinceCredit);
      this.#consumedSinceCredit = 0;
    }
  }

  next(): Promise<IteratorResult<Item>> {
    if (this.#items.length > 0) {
      const value = this.#items.shift() as Item;
      this.#consumed();
      return Promise.resolve({ value, done: false });
    }
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter !== undefined)
      return Promise.reject(new Error('Cannot call next(): a previous next() is still pending'));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<Item>> {
    this.cancel();
    return Promise.resolve({ value: undefined, done: true });
  }

  cancel(): void {
    if (this.finished) return;
    const owner = this.#owner;
    this.end();
    this.#items = [];
    owner?.cancel();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
