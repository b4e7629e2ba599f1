/**
 * The lessor's invariants, checked after every step by its tests (and by a
 * driver in debug builds): the queues agree with the leases and the role.
 *
 * @module
 */
import type { DeadlineQueue } from './deadline-queue.ts';
import type { TrackedLease } from './lessor-types.ts';
import { LEASE_TTL_SECONDS_MAX, type LessorLimits } from './limits.ts';

/** What the checker reads of a lessor. */
export interface LessorView {
  readonly limits: LessorLimits;
  readonly leases: ReadonlyMap<number, TrackedLease>;
  readonly leading: boolean;
  readonly expiry: DeadlineQueue;
  readonly checkpoints: DeadlineQueue;
}

/**
 * Checks a lessor's state.
 *
 * @throws {Error} naming the first broken invariant.
 */
export function checkLessorInvariants(view: LessorView): void {
  const { limits, leases, leading, expiry, checkpoints } = view;
  expiry.checkInvariants();
  checkpoints.checkInvariants();
  if (leases.size > limits.leasesMax) {
    throw new Error(`Invariant: ${leases.size} leases tracked, more than leasesMax ${limits.leasesMax}`);
  }
  for (const [id, lease] of leases) {
    if (lease.id !== id) throw new Error(`Invariant: lease ${lease.id} is filed under ${id}`);
    if (!(lease.remainingTtlSeconds >= 0 && lease.remainingTtlSeconds <= LEASE_TTL_SECONDS_MAX)) {
      throw new Error(`Invariant: lease ${id} has remaining TTL ${lease.remainingTtlSeconds}`);
    }
    if (leading !== (lease.deadlineMs !== undefined)) {
      throw new Error(`Invariant: lease ${id} has deadline ${lease.deadlineMs} while leading is ${leading}`);
    }
  }
  if (!leading) {
    if (expiry.size !== 0 || checkpoints.size !== 0) {
      throw new Error(
        `Invariant: a follower queues ${expiry.size} expiries, ${checkpoints.size} checkpoints`,
      );
    }
    return;
  }
  if (expiry.size !== leases.size) {
    throw new Error(`Invariant: ${expiry.size} expiries queued for ${leases.size} leases`);
  }
  for (const [id, atMs] of expiry.entries()) {
    const deadlineMs = leases.get(id)?.deadlineMs;
    // An expiry is queued at the deadline, or later once reported (the retry).
    if (deadlineMs === undefined || atMs < deadlineMs) {
      throw new Error(`Invariant: lease ${id} is queued to expire at ${atMs}, its deadline is ${deadlineMs}`);
    }
  }
  for (const [id] of checkpoints.entries()) {
    if (!leases.has(id)) throw new Error(`Invariant: a checkpoint is queued for untracked lease ${id}`);
  }
}
