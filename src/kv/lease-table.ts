/**
 * The leases the store knows and the keys attached to each: bookkeeping
 * only. When a lease expires is the leader's lessor's business, outside the
 * state machine: it proposes a revoke, and a checkpoint now and then so that
 * a new leader does not restart every countdown (etcd's lease checkpoints).
 *
 * @module
 */

/** One lease. `keys` holds the index form of each key attached. */
export interface Lease {
  readonly id: number;
  /** The TTL granted, in seconds. */
  readonly ttl: number;
  /** The TTL left at the last checkpoint, in seconds; `ttl` before any. */
  remainingTtl: number;
  // Invariant: exactly the live keys whose latest version names this lease.
  readonly keys: Set<string>;
}

/**
 * Hears of every change to a lease table, after it is made: a disk backend
 * records them in the write transaction under way.
 */
export interface LeaseJournal {
  granted(id: number, ttl: number, remainingTtl: number): void;
  removed(id: number): void;
  attached(id: number, keyId: string): void;
  detached(id: number, keyId: string): void;
  checkpointed(id: number, ttl: number, remainingTtl: number): void;
}

/** Leases by id, with their attached keys. */
export class LeaseTable {
  readonly #leases = new Map<number, Lease>();
  readonly #journal: LeaseJournal | undefined;

  constructor(journal?: LeaseJournal) {
    this.#journal = journal;
  }

  /** How many leases exist. */
  get size(): number {
    return this.#leases.size;
  }

  /** The lease, if it exists. */
  get(id: number): Lease | undefined {
    return this.#leases.get(id);
  }

  /** Adds a lease with no keys; the caller checked that `id` is free. */
  grant(id: number, ttl: number, remainingTtl = ttl): Lease {
    const lease: Lease = { id, ttl, remainingTtl, keys: new Set() };
    this.#leases.set(id, lease);
    this.#journal?.granted(id, ttl, remainingTtl);
    return lease;
  }

  /** Puts back a lease a disk backend recorded, with its keys (not journaled: it is on disk). */
  load(id: number, ttl: number, remainingTtl: number, keys: Iterable<string>): void {
    this.#leases.set(id, { id, ttl, remainingTtl, keys: new Set(keys) });
  }

  /** Removes a lease; the caller deleted its keys first. */
  remove(id: number): void {
    this.#leases.delete(id);
    this.#journal?.removed(id);
  }

  /** Records the TTL a lease had left at a checkpoint, when it exists. */
  checkpoint(id: number, remainingTtl: number): void {
    const lease = this.#leases.get(id);
    if (lease === undefined) return;
    lease.remainingTtl = remainingTtl;
    this.#journal?.checkpointed(id, lease.ttl, remainingTtl);
  }

  /** Records that the key now names lease `id` (which exists). */
  attach(id: number, keyId: string): void {
    this.#required(id).keys.add(keyId);
    this.#journal?.attached(id, keyId);
  }

  /** Records that the key no longer names lease `id`. */
  detach(id: number, keyId: string): void {
    this.#required(id).keys.delete(keyId);
    this.#journal?.detached(id, keyId);
  }

  /**
   * Every lease, by ascending id: an order that does not depend on the
   * order leases were granted or restored in, so every member agrees.
   */
  sorted(): Lease[] {
    return [...this.#leases.values()].sort((a, b) => a.id - b.id);
  }

  /** A copy of every lease (keys not included), by ascending id, for a snapshot. */
  copyWithoutKeys(): { id: number; ttl: number; remainingTtl: number }[] {
    return this.sorted().map(({ id, ttl, remainingTtl }) => ({ id, ttl, remainingTtl }));
  }

  #required(id: number): Lease {
    const lease = this.#leases.get(id);
    if (lease === undefined)
      throw new Error(`Invariant: lease ${id} is attached to a key but does not exist`);
    return lease;
  }
}
