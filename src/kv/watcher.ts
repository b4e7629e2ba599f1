/**
 * One watcher of a watch hub: what it watches, where its catch-up stands,
 * and the events waiting for its consumer.
 *
 * @module
 */

import { InvalidArgumentError } from '../base/errors.ts';
import { eventBytes } from './history-reader.ts';
import { type KeySpan, keySpanOf } from './key-span.ts';
import { checkNonNegative, checkOptionalFlag, checkSpan } from './request-checks.ts';
import type { Event, WatchCancel, WatchRequest } from './types.ts';

/** A place in the revision log: a revision and a change within it. */
export interface LogPosition {
  readonly revision: number;
  readonly sub: number;
}

/** What a watcher watches, checked. */
export interface WatcherSpec {
  readonly id: number;
  readonly key: Uint8Array;
  readonly rangeEnd: Uint8Array | undefined;
  readonly span: KeySpan;
  readonly startRevision: number;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
}

/**
 * Checks a watch request's fields (not against the hub: limits and compaction are the hub's).
 *
 * @throws {InvalidArgumentError} on a bad span, start revision, flag or filter.
 * @throws {LimitExceededError} when the key or range end passes `KEY_BYTES_MAX`.
 */
export function checkWatchRequest(request: WatchRequest): void {
  const action = 'watch';
  checkSpan(action, request.key, request.rangeEnd);
  checkNonNegative(action, 'startRevision', request.startRevision);
  checkOptionalFlag(action, 'prevKv', request.prevKv);
  const filters: unknown = request.filters ?? [];
  if (!Array.isArray(filters) || filters.some((filter) => filter !== 'noPut' && filter !== 'noDelete')) {
    throw new InvalidArgumentError(`Cannot ${action}: filters must hold only 'noPut' and 'noDelete'`);
  }
}

/** The spec of a checked request, starting at `startRevision` (resolved from 0 by the hub). */
export function watcherSpecOf(id: number, request: WatchRequest, startRevision: number): WatcherSpec {
  const filters = request.filters ?? [];
  return {
    id,
    key: request.key,
    rangeEnd: request.rangeEnd,
    span: keySpanOf(request.key, request.rangeEnd),
    startRevision,
    prevKv: request.prevKv === true,
    noPut: filters.includes('noPut'),
    noDelete: filters.includes('noDelete'),
  };
}

/**
 * A watcher's state. It is in one of three phases: catching up
 * (`catchUp` set: it reads the revision log from there, and live events
 * pass it by), synced (in the hub's match index: live events are pushed to
 * it), or ended (`ended` set: the notice waits for its consumer; nothing is
 * buffered).
 */
export class Watcher {
  readonly spec: WatcherSpec;
  // Invariant: set exactly while catching up; the buffer holds only changes before it.
  /** Where the catch-up reads on from in the revision log. */
  catchUp: LogPosition | undefined;
  // Invariant: set only with an empty buffer, never with `catchUp`.
  /** Why it ended, once it has. */
  ended: WatchCancel | undefined;
  // A queue: events[head..] wait; the consumed prefix is dropped once it is half the array.
  #events: Event[] = [];
  #head = 0;
  #bytes = 0;

  constructor(spec: WatcherSpec, catchUp: LogPosition | undefined) {
    this.spec = spec;
    this.catchUp = catchUp;
  }

  /** Events waiting. */
  get buffered(): number {
    return this.#events.length - this.#head;
  }

  /** Bytes of the events waiting (see `eventBytes`). */
  get bufferedBytes(): number {
    return this.#bytes;
  }

  /** The event the consumer should see for a change, or undefined when the filters leave it out. */
  viewOf(event: Event): Event | undefined {
    if (event.type === 'put' ? this.spec.noPut : this.spec.noDelete) return undefined;
    if (this.spec.prevKv || event.prevKv === undefined) return event;
    return { type: event.type, kv: event.kv };
  }

  /** Appends an event (already through {@link viewOf}). */
  push(event: Event): void {
    this.#events.push(event);
    this.#bytes += eventBytes(event);
  }

  /** The `index`-th waiting event. */
  peek(index: number): Event | undefined {
    return this.#events[this.#head + index];
  }

  /** Removes and returns the first `count` waiting events. */
  shift(count: number): Event[] {
    const taken = this.#events.slice(this.#head, this.#head + count);
    this.#head += taken.length;
    for (const event of taken) this.#bytes -= eventBytes(event);
    if (this.#head * 2 >= this.#events.length) {
      this.#events = this.#events.slice(this.#head);
      this.#head = 0;
    }
    return taken;
  }

  /** Drops every waiting event. */
  clear(): void {
    this.#events = [];
    this.#head = 0;
    this.#bytes = 0;
  }

  /**
   * The first revision the consumer has not seen in full: the oldest
   * waiting event's, else where the catch-up stands, else the revision after
   * `revision` (the hub's: a synced watcher has seen all of it).
   */
  resumeRevision(revision: number): number {
    const first = this.peek(0);
    if (first !== undefined) return first.kv.modRevision;
    if (this.catchUp !== undefined) return this.catchUp.revision;
    return Math.max(revision + 1, this.spec.startRevision);
  }
}
