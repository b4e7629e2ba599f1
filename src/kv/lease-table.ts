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

/** Leases by id, with their attached keys. */
export class LeaseTable {
  readonly #leases = new Map<number, Lease>();

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
    return lease;
  }

  /** Removes a lease; the caller deleted its keys first. */
  remove(id: number): void {
    this.#leases.delete(id);
  }

  /** Records that the key now names lease `id` (which exists). */
  attach(id: number, keyId: string): void {
    this.#required(id).keys.add(keyId);
  }

  /** Records that the key no longer names lease `id`. */
  detach(id: number, keyId: string): void {
    this.#required(id).keys.delete(keyId);
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
