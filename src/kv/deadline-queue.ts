/**
 * A queue of ids by the time each is due: the lessor's expiry queue and its
 * checkpoint queue (etcd's `LeaseExpiredNotifier` and `LeaseQueue` heaps).
 *
 * A B+ tree keyed by `[atMs, id]` (sorted-btree, which the store already
 * uses) with a map from id to its time, rather than a binary heap with lazy
 * invalidation: rescheduling and cancelling remove the old entry at once,
 * so the queue holds exactly one entry per id and never grows with renewals,
 * and the invariant "the tree and the map agree" can be checked exactly.
 *
 * @module
 */
import { BTree } from './store-state.ts';

type Entry = readonly [atMs: number, id: number];

// Earliest first; ties by ascending id, so the order never depends on the
// order the ids were scheduled in.
function compareEntries(a: Entry, b: Entry): number {
  return a[0] - b[0] || a[1] - b[1];
}

/**
 * Ids by due time. Scheduling, cancelling and looking up one id cost
 * O(log n); {@link due} costs O(log n + k) for k ids returned.
 *
 * @example
 * ```ts
 * const queue = new DeadlineQueue();
 * queue.schedule(7, 2000);
 * queue.schedule(3, 1000);
 * queue.due(1500, 10); // [3]
 * ```
 */
export class DeadlineQueue {
  // Invariant: #tree holds exactly the entries [#atById.get(id), id].
  readonly #atById = new Map<number, number>();
  readonly #tree = new BTree<Entry, undefined>(undefined, compareEntries);

  /** How many ids are queued. */
  get size(): number {
    return this.#atById.size;
  }

  /** When `id` is due, or undefined when it is not queued. */
  at(id: number): number | undefined {
    return this.#atById.get(id);
  }

  /** Queues `id` to be due at `atMs`, replacing any time it had. */
  schedule(id: number, atMs: number): void {
    this.cancel(id);
    this.#atById.set(id, atMs);
    this.#tree.set([atMs, id], undefined);
  }

  /** Removes `id`, if queued. */
  cancel(id: number): void {
    const atMs = this.#atById.get(id);
    if (atMs === undefined) return;
    this.#atById.delete(id);
    this.#tree.delete([atMs, id]);
  }

  /** Removes every id. */
  clear(): void {
    this.#atById.clear();
    this.#tree.clear();
  }

  /**
   * The ids due at `nowMs` (their time is at or before it), earliest first
   * and then by id, at most `max` of them. They stay queued: the caller
   * reschedules or cancels each.
   */
  due(nowMs: number, max: number): number[] {
    const ids: number[] = [];
    if (max <= 0) return ids;
    for (const [[atMs, id]] of this.#tree.entries()) {
      if (atMs > nowMs) break;
      ids.push(id);
      if (ids.length >= max) break;
    }
    return ids;
  }

  /** Every queued id with its time, earliest first. */
  entries(): [id: number, atMs: number][] {
    return this.#tree.keysArray().map(([atMs, id]) => [id, atMs]);
  }

  /**
   * Checks that the tree and the map agree.
   *
   * @throws {Error} naming the first broken invariant.
   */
  checkInvariants(): void {
    if (this.#tree.size !== this.#atById.size) {
      throw new Error(`Invariant: the queue holds ${this.#tree.size} entries for ${this.#atById.size} ids`);
    }
    for (const [atMs, id] of this.#tree.keys()) {
      if (this.#atById.get(id) !== atMs) {
        throw new Error(`Invariant: id ${id} is queued at ${atMs} but mapped to ${this.#atById.get(id)}`);
      }
    }
  }
}
