/**
 * The shapes the lessor takes and gives, and the lease record it keeps.
 *
 * @module
 */

/** A lease as the driver tells the lessor of it after a `leaseGrant` applied. */
export interface LessorGrant {
  /** The lease id. */
  readonly id: number;
  /** The TTL the store granted (the response's `ttl`), in seconds. */
  readonly ttlSeconds: number;
  /** The TTL left, in seconds; default `ttlSeconds`. */
  readonly remainingTtlSeconds?: number;
}

/** One remaining TTL to persist with a `leaseCheckpoint` command. */
export interface LessorCheckpoint {
  /** The lease id. */
  readonly id: number;
  /** The TTL left, in whole seconds rounded up, at most the lease's TTL. */
  readonly remainingTtlSeconds: number;
}

/** A lease as the lessor tracks it (internal: for the lessor and its invariant checker). */
export interface TrackedLease {
  readonly id: number;
  readonly ttlSeconds: number;
  /** The remaining TTL the store recorded last (the TTL before any checkpoint). */
  remainingTtlSeconds: number;
  // Invariant: defined exactly when the lessor leads; on the lease clock.
  deadlineMs: number | undefined;
}
