/**
 * Whole revisions for etcd's watch responses, out of the member's watch
 * items: a pure, synchronous core of the Watch adapter.
 *
 * etcd sends every change of a revision in one response (or, when the
 * client asked for `fragment`, in pieces back to back, the last one not
 * marked); clients count on it: the Go client resumes a broken watch from
 * the revision after the last event it got, so a revision split across
 * responses could lose its rest. The member's watch may hand a revision
 * over in pieces instead (an item's `fragment`: its last revision may
 * continue in the next item), so {@link WatchAssembler} holds the pieces
 * of the last revision until it is known whole, up to
 * {@link ETCD_WATCH_HELD_BYTES_MAX}. {@link fragmentsOf} cuts what goes
 * out into pieces under the message size for clients that asked for them.
 *
 * @module
 */
import { eventBytes } from '../../kv/history-reader.ts';
import { COMMAND_BYTES_MAX } from '../../kv/kv-command.ts';
import { WATCH_BUFFER_BYTES_MAX } from '../../kv/limits.ts';
import type { Event } from '../../kv/types.ts';

/**
 * Most bytes (as `eventBytes` counts them) of one revision held back to
 * go out whole: the member's per-watcher buffer (`WATCH_BUFFER_BYTES_MAX`),
 * so a revision the member could buffer whole also goes out whole. A
 * larger one (a delete of many keys with their previous values) goes out
 * as it comes, in more than one response, where etcd would build one
 * message of any size.
 */
export const ETCD_WATCH_HELD_BYTES_MAX = WATCH_BUFFER_BYTES_MAX;

/**
 * Most bytes of events in one fragment, for a watcher created with
 * `fragment`: etcd cuts at its `--max-request-bytes` plus gRPC's overhead,
 * the largest message its members take (`ETCD_REQUEST_MESSAGE_BYTES_MAX`
 * of `server.ts`, the same value). A fragment holds one event at least.
 */
export const ETCD_WATCH_FRAGMENT_BYTES_MAX = COMMAND_BYTES_MAX;

/** Events ready to go to the client, in revision order. */
export interface Release {
  /** The events; never empty. */
  readonly events: readonly Event[];
  /**
   * Every change through this revision is in this release or an earlier
   * one: the last event's revision, or the one before it when that
   * revision may have more changes to come.
   */
  readonly through: number;
}

/** The revision of an event. */
const revisionOf = (event: Event): number => event.kv.modRevision;

/**
 * Holds the pieces of a watcher's last revision until the revision is known
 * whole. Not thread-safe state of one watcher; deterministic.
 *
 * @example
 * ```ts
 * const assembler = new WatchAssembler();
 * assembler.add([put('a', 5)], true); // undefined: revision 5 may continue
 * assembler.add([put('b', 5), put('c', 6)], false); // { events: [a@5, b@5, c@6], through: 6 }
 * ```
 */
export class WatchAssembler {
  readonly #heldBytesMax: number;
  // Invariant: every held event is of one revision, the last one added, and they are at most #heldBytesMax bytes.
  #held: Event[] = [];

  /**
   * @param heldBytesMax most bytes of one revision to hold, default {@link ETCD_WATCH_HELD_BYTES_MAX}.
   * @throws {RangeError} when it is not a positive integer.
   */
  constructor(heldBytesMax = ETCD_WATCH_HELD_BYTES_MAX) {
    if (!Number.isSafeInteger(heldBytesMax) || heldBytesMax < 1) {
      throw new RangeError(`heldBytesMax must be a positive integer, got ${heldBytesMax}`);
    }
    this.#heldBytesMax = heldBytesMax;
  }

  /** Whether events wait for the rest of their revision. */
  get holding(): boolean {
    return this.#held.length > 0;
  }

  /**
   * Takes the next events of the watcher (after those added before, in
   * revision order). `mayContinue`: their last revision may have more
   * changes in the next call (the member's `fragment`).
   *
   * @returns what can go to the client now, or undefined when everything is held.
   * @throws {Error} when the events go back in revision order: a bug.
   */
  add(events: readonly Event[], mayContinue: boolean): Release | undefined {
    if (events.length === 0) return undefined;
    const lastHeld = this.#held[this.#held.length - 1];
    if (lastHeld !== undefined && revisionOf(events[0] as Event) < revisionOf(lastHeld)) {
      throw new Error('Invariant: watch events must come in revision order');
    }
    const all = this.#held.length === 0 ? [...events] : [...this.#held, ...events];
    this.#held = [];
    const last = revisionOf(all[all.length - 1] as Event);
    if (!mayContinue) return { events: all, through: last };
    let tailStart = all.length;
    let tailBytes = 0;
    while (tailStart > 0 && revisionOf(all[tailStart - 1] as Event) === last) {
      tailStart--;
      tailBytes += eventBytes(all[tailStart] as Event);
    }
    // Past the bound the revision goes out as it stands; its rest follows in a later release.
    if (tailBytes > this.#heldBytesMax) return { events: all, through: last - 1 };
    this.#held = all.slice(tailStart);
    if (tailStart === 0) return undefined;
    const head = all.slice(0, tailStart);
    return { events: head, through: revisionOf(head[head.length - 1] as Event) };
  }

  /**
   * Everything held, to go out as it stands (the member has nothing more
   * for the watcher now). Its revision may still continue later, so
   * `through` stops before it.
   *
   * @returns the held events, or undefined when none are held.
   */
  release(): Release | undefined {
    const last = this.#held[this.#held.length - 1];
    if (last === undefined) return undefined;
    const events = this.#held;
    this.#held = [];
    return { events, through: revisionOf(last) - 1 };
  }
}

/**
 * `events` cut into pieces of at most `bytesMax` bytes each (one event at
 * least), as etcd's `sendFragments` cuts a response for a watcher created
 * with `fragment`. Whole when they fit.
 *
 * @throws {RangeError} when `bytesMax` is not a positive integer.
 * @example
 * ```ts
 * fragmentsOf(events, ETCD_WATCH_FRAGMENT_BYTES_MAX).map((piece, i, all) => ({ events: piece, fragment: i < all.length - 1 }));
 * ```
 */
export function fragmentsOf(events: readonly Event[], bytesMax: number): (readonly Event[])[] {
  if (!Number.isSafeInteger(bytesMax) || bytesMax < 1) {
    throw new RangeError(`bytesMax must be a positive integer, got ${bytesMax}`);
  }
  const pieces: Event[][] = [];
  let piece: Event[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = eventBytes(event);
    if (piece.length > 0 && bytes + size > bytesMax) {
      pieces.push(piece);
      piece = [];
      bytes = 0;
    }
    piece.push(event);
    bytes += size;
  }
  if (piece.length > 0) pieces.push(piece);
  return pieces;
}
