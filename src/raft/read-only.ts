/**
 * The leader's queue of ReadIndex requests (thesis §6.4): each waits for a
 * quorum to confirm, through a round of heartbeats carrying its context,
 * that this member still leads; then it may be served at the commit index
 * recorded when it arrived.
 *
 * @module
 */
import type { NodeId } from './types.ts';

/** One read waiting for its quorum. */
export interface PendingRead {
  /** The commit index when the read arrived: serve once applied up to here. */
  readonly index: number;
  readonly context: Uint8Array;
  /** Who asked (this member, or a follower that forwarded it). */
  readonly requester: NodeId;
  /** Members that answered a heartbeat carrying this read's context. */
  readonly acks: Set<NodeId>;
}

/** Default most reads a leader holds waiting for a quorum. */
export const PENDING_READS_MAX_DEFAULT = 4096;
/** Largest ReadIndex context, in bytes. */
export const READ_CONTEXT_BYTES_MAX = 64;

/** A stable string key for a context (contexts are small). */
export function readContextKey(context: Uint8Array): string {
  return context.join(',');
}

/** Reads in arrival order; confirming one confirms every earlier one too. */
export class ReadOnlyQueue {
  readonly #byKey = new Map<string, PendingRead>();
  #queue: PendingRead[] = [];

  get length(): number {
    return this.#queue.length;
  }

  /** Adds a read; a duplicate context is ignored. Returns whether it was added. */
  add(read: PendingRead): boolean {
    const key = readContextKey(read.context);
    if (this.#byKey.has(key)) return false;
    this.#byKey.set(key, read);
    this.#queue.push(read);
    return true;
  }

  /** Records that `from` confirmed leadership for `context`; returns that read, if pending. */
  ack(context: Uint8Array, from: NodeId): PendingRead | undefined {
    const read = this.#byKey.get(readContextKey(context));
    read?.acks.add(from);
    return read;
  }

  /** Removes and returns `read` and every read queued before it: the quorum confirmed them all. */
  release(read: PendingRead): PendingRead[] {
    const position = this.#queue.indexOf(read);
    if (position < 0) return [];
    const released = this.#queue.slice(0, position + 1);
    this.#queue = this.#queue.slice(position + 1);
    for (const done of released) this.#byKey.delete(readContextKey(done.context));
    return released;
  }

  /** The newest pending context, carried on heartbeats so lost rounds retry. */
  lastContext(): Uint8Array | undefined {
    return this.#queue[this.#queue.length - 1]?.context;
  }

  clear(): void {
    this.#byKey.clear();
    this.#queue = [];
  }
}
