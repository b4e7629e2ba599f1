/**
 * The lessor: the leader-local, time-driven half of leases (etcd's
 * `lease/lessor.go`). The store keeps the replicated bookkeeping (which
 * leases exist, their keys, their last checkpoint); the lessor decides when
 * a lease has expired and when its remaining TTL should be checkpointed, and
 * the driver proposes a `leaseRevoke` or `leaseCheckpoint` through Raft for
 * each answer. Expiry is therefore only ever a proposal: every member
 * deletes a lease's keys when the revoke commits, never on its own clock.
 *
 * Roles. Only the leader keeps deadlines (etcd's primary lessor). A
 * follower mirrors the leases and their checkpoints and nothing else, so it
 * can never decide an expiry; on {@link Lessor.promote} every deadline
 * becomes now + the lease's remaining TTL (from its last checkpoint) + an
 * extension of about an election timeout, so that no lease expires because
 * of the failover itself.
 *
 * Checkpoints (etcd's lease checkpoints, always on here). Every
 * `checkpointIntervalMs` the leader reports each lease's remaining TTL, and
 * right after a renewal it reports the full TTL again, so a new leader
 * restarts each countdown from at most one interval ago instead of from the
 * full TTL (a lease renewed never expires on a new leader because of a stale
 * checkpoint, and one abandoned does not live a full TTL longer per
 * failover).
 *
 * Stalls. The driver calls the lessor at least once a tick
 * ({@link Lessor.observe}). When a leading lessor sees a gap between two
 * calls longer than `stallThresholdMs`, its member was stalled (a disk
 * fsync or the event loop), and for that whole gap no client could renew
 * through it and it could propose nothing. It shifts every deadline forward
 * by the gap rather than revoke at once every lease whose deadline passed
 * meanwhile, which would turn one stalled disk into the loss of every
 * session in the cluster. The trade-off: a client that really did stop
 * renewing gets the gap as extra time. Safety is not at stake: a lease is
 * a liveness device, expiry is a proposal through Raft, and if the stalled
 * leader had lost the cluster, another leader has taken over and promotes
 * with the checkpointed TTLs anyway. A stall is seen only as a gap in the
 * calls: a slow disk that does not hold up the driver's loop is not one,
 * and need not be, since renewals still reach the lessor meanwhile.
 *
 * Implementation: deadlines are kept on a lease clock, the caller's clock
 * less the stalls seen, so a stall shifts every deadline in O(1); the
 * expiry and checkpoint queues are {@link DeadlineQueue}s, so a call costs
 * O(log n) per lease it returns, never a scan of every lease.
 *
 * @module
 */
import { InvalidArgumentError, LimitExceededError, NotLeaderError } from '../base/errors.ts';
import { DeadlineQueue } from './deadline-queue.ts';
import { LeaseClock } from './lease-clock.ts';
import { checkCount, checkId, checkLease, checkMs, checkSeconds } from './lessor-checks.ts';
import { checkLessorInvariants } from './lessor-invariants.ts';
import type { LessorCheckpoint, LessorGrant, TrackedLease } from './lessor-types.ts';
import { type LessorLimits, type LessorOptions, lessorLimits } from './limits.ts';
import type { LeaseInfo } from './types.ts';

const MS_PER_SECOND = 1000;

/**
 * The leader-local lease timer of one member. Pure and deterministic: time
 * is the `nowMs` each call is given, from one monotonic clock (it must never
 * go back); the same calls give the same answers. Single-threaded, like the
 * store: the driver tells it of every applied lease command, in log order.
 *
 * A call that takes `nowMs` and throws after checking its arguments has
 * still seen that time (time did pass).
 *
 * @example
 * ```ts
 * const lessor = new Lessor();
 * const { ttl } = store.leaseGrant({ id: 7, ttl: 10 }); // applied from the log
 * lessor.granted({ id: 7, ttlSeconds: ttl }, clock.nowMs());
 * lessor.promote(clock.nowMs(), electionTimeoutMs); // this member leads now
 * // Every tick:
 * lessor.observe(clock.nowMs());
 * for (const id of lessor.expired(clock.nowMs())) propose({ type: 'leaseRevoke', request: { id } });
 * const checkpoints = lessor.checkpointsDue(clock.nowMs());
 * if (checkpoints.length > 0) propose(checkpointCommandOf(checkpoints));
 * // A keep-alive: lessor.renew(7, clock.nowMs()) answers the TTL.
 * ```
 */
export class Lessor {
  readonly #limits: LessorLimits;
  readonly #leases = new Map<number, TrackedLease>();
  #leading = false;
  // Invariant (leading): exactly the leases, each at or after its deadline
  // (after it once reported, until the retry time).
  readonly #expiry = new DeadlineQueue();
  // Invariant: only tracked leases; empty when not leading.
  readonly #checkpoints = new DeadlineQueue();
  // Deadlines and queue times are on this clock: the caller's, less the stalls seen while leading.
  readonly #clock: LeaseClock;

  /**
   * @param options the lessor's limits (see `limits.ts`); `leasesMax` must
   * be the store's.
   * @throws {InvalidArgumentError} on a bad limit.
   */
  constructor(options: LessorOptions = {}) {
    this.#limits = lessorLimits(options);
    this.#clock = new LeaseClock(this.#limits.stallThresholdMs);
  }

  /** The limits in force. */
  get limits(): LessorLimits {
    return this.#limits;
  }

  /** Whether this lessor leads (between {@link promote} and {@link demote}). */
  get leading(): boolean {
    return this.#leading;
  }

  /** How many leases are tracked. */
  get size(): number {
    return this.#leases.size;
  }

  /** The total of the stalls seen while leading, in milliseconds: how far deadlines were shifted. */
  get stallsMs(): number {
    return this.#clock.stallsMs;
  }

  /**
   * Tracks a lease the store granted. On the leader its deadline is now +
   * its remaining TTL.
   *
   * @throws {InvalidArgumentError} on a bad id, TTL or time, or an id tracked
   * already (`details.reason` `LEASE_EXISTS`).
   * @throws {LimitExceededError} when `leasesMax` leases are tracked.
   */
  granted(grant: LessorGrant, nowMs: number): void {
    const { id, ttlSeconds, remainingTtlSeconds = ttlSeconds } = grant;
    checkLease('track lease', id, ttlSeconds, remainingTtlSeconds);
    const leaseNowMs = this.#advance(`track lease ${id}`, nowMs);
    if (this.#leases.has(id)) {
      throw new InvalidArgumentError(`Cannot track lease ${id}: it is tracked already`, {
        details: { leaseId: id, reason: 'LEASE_EXISTS' },
      });
    }
    if (this.#leases.size >= this.#limits.leasesMax) {
      throw new LimitExceededError(
        `Cannot track lease ${id}: ${this.#leases.size} leases are tracked, the most allowed (leasesMax)`,
        { details: { limit: this.#limits.leasesMax } },
      );
    }
    const lease: TrackedLease = { id, ttlSeconds, remainingTtlSeconds, deadlineMs: undefined };
    this.#leases.set(id, lease);
    if (this.#leading) this.#start(lease, leaseNowMs, 0);
  }

  /**
   * Stops tracking a lease the store revoked.
   *
   * @throws {InvalidArgumentError} when it is not tracked (`details.reason`
   * `LEASE_NOT_FOUND`): the lessor and the store disagree.
   */
  revoked(id: number): void {
    this.#required('untrack lease', id);
    this.#leases.delete(id);
    this.#expiry.cancel(id);
    this.#checkpoints.cancel(id);
  }

  /**
   * Records a checkpoint the store applied. A lease not tracked is skipped,
   * as the store skips it. The leader's deadline does not change: its clock
   * is the truth, the checkpoint is for the next leader.
   *
   * @throws {InvalidArgumentError} on a bad id or TTL.
   */
  checkpointed(id: number, remainingTtlSeconds: number): void {
    checkId('record a checkpoint', id);
    checkSeconds(`record a checkpoint of lease ${id}`, 'remainingTtlSeconds', remainingTtlSeconds, 0);
    const lease = this.#leases.get(id);
    if (lease !== undefined) lease.remainingTtlSeconds = remainingTtlSeconds;
  }

  /**
   * Replaces every lease with the store's, after it restored a snapshot:
   * pass `store.leaseList().map((id) => store.leaseTimeToLive(id))`. The
   * role does not change; when leading, each deadline is now + its
   * remaining TTL, as for a grant.
   *
   * @throws {InvalidArgumentError} on a bad or repeated lease or a bad time;
   * nothing is changed.
   * @throws {LimitExceededError} when there are more than `leasesMax` leases.
   */
  reset(leases: readonly Pick<LeaseInfo, 'id' | 'grantedTtl' | 'remainingTtl'>[], nowMs: number): void {
    if (leases.length > this.#limits.leasesMax) {
      throw new LimitExceededError(
        `Cannot reset the lessor: ${leases.length} leases, more than leasesMax (${this.#limits.leasesMax})`,
        { details: { limit: this.#limits.leasesMax } },
      );
    }
    const seen = new Set<number>();
    for (const { id, grantedTtl, remainingTtl } of leases) {
      checkLease('reset the lessor', id, grantedTtl, remainingTtl);
      if (seen.has(id))
        throw new InvalidArgumentError(`Cannot reset the lessor: lease ${id} is listed twice`);
      seen.add(id);
    }
    const leaseNowMs = this.#advance('reset the lessor', nowMs);
    this.#leases.clear();
    this.#expiry.clear();
    this.#checkpoints.clear();
    for (const { id, grantedTtl, remainingTtl } of leases) {
      const lease: TrackedLease = {
        id,
        ttlSeconds: grantedTtl,
        remainingTtlSeconds: remainingTtl,
        deadlineMs: undefined,
      };
      this.#leases.set(id, lease);
      if (this.#leading) this.#start(lease, leaseNowMs, 0);
    }
  }

  /**
   * Makes this lessor lead (etcd `Promote`): every deadline becomes now +
   * the lease's remaining TTL from its last checkpoint + `extendMs`. Pass an
   * election timeout as `extendMs`, so that clients have time to find the
   * new leader before their leases can expire. O(n log n).
   *
   * @throws {InvalidArgumentError} when already leading, or on a bad time.
   */
  promote(nowMs: number, extendMs: number): void {
    checkMs('promote the lessor', 'extendMs', extendMs);
    const leaseNowMs = this.#advance('promote the lessor', nowMs);
    if (this.#leading) throw new InvalidArgumentError('Cannot promote the lessor: it leads already');
    this.#leading = true;
    for (const lease of this.#leases.values()) this.#start(lease, leaseNowMs, extendMs);
  }

  /**
   * Stops leading (etcd `Demote`): every deadline is dropped, so that a
   * follower never decides an expiry. Leading again takes a {@link promote}.
   * Does nothing when not leading.
   */
  demote(): void {
    this.#leading = false;
    this.#expiry.clear();
    this.#checkpoints.clear();
    for (const lease of this.#leases.values()) lease.deadlineMs = undefined;
  }

  /**
   * Tells the lessor the time: call it at least once a tick, before
   * {@link expired}. Every call that takes a time does the same, so this is
   * for ticks that call nothing else.
   *
   * @returns how far this call shifted the deadlines, in milliseconds: the
   * gap since the previous call when it passes `stallThresholdMs` while
   * leading, else 0.
   * @throws {InvalidArgumentError} on a bad time, or one before the last seen.
   */
  observe(nowMs: number): number {
    const stallsMs = this.#clock.stallsMs;
    this.#advance('observe the time', nowMs);
    return this.#clock.stallsMs - stallsMs;
  }

  /**
   * Renews a lease (etcd `Renew`, a keep-alive): its deadline becomes now +
   * its TTL. When the store's last checkpoint of it is below its TTL, a
   * checkpoint of the full TTL is due at once, so that a new leader does not
   * expire a lease its client kept alive.
   *
   * @returns the lease's TTL, in seconds.
   * @throws {NotLeaderError} when not leading (`leaderHint` 0): retry on the leader.
   * @throws {InvalidArgumentError} on a bad id or time, a lease not tracked
   * (`details.reason` `LEASE_NOT_FOUND`), or one whose deadline has passed
   * (`LEASE_EXPIRED`: its revoke is proposed or soon will be; as etcd,
   * an expired lease is not brought back).
   */
  renew(id: number, nowMs: number): number {
    checkId('renew lease', id);
    const leaseNowMs = this.#advance(`renew lease ${id}`, nowMs);
    if (!this.#leading) {
      throw new NotLeaderError(`Cannot renew lease ${id}: this member's lessor does not lead`, {
        details: { leaderHint: 0 },
      });
    }
    const lease = this.#required('renew lease', id);
    if (lease.deadlineMs === undefined || lease.deadlineMs <= leaseNowMs) {
      throw new InvalidArgumentError(`Cannot renew lease ${id}: it has expired`, {
        details: { leaseId: id, reason: 'LEASE_EXPIRED' },
      });
    }
    lease.deadlineMs = leaseNowMs + lease.ttlSeconds * MS_PER_SECOND;
    this.#expiry.schedule(id, lease.deadlineMs);
    if (lease.remainingTtlSeconds < lease.ttlSeconds) {
      this.#checkpoints.schedule(id, Math.min(this.#checkpoints.at(id) ?? leaseNowMs, leaseNowMs));
    }
    return lease.ttlSeconds;
  }

  /**
   * The leases whose deadline has passed, at most `max`: propose a revoke
   * for each. A lease returned is not returned again for `expiredRetryMs`,
   * unless it is revoked first. Ordered by when each became due (its
   * deadline, or its retry time once returned), then by id. Empty
   * when not leading: a tick racing a demotion proposes nothing.
   * O(log n) per lease returned.
   *
   * @throws {InvalidArgumentError} on a bad time, or `max` outside
   * [0, `leasesExpiredPerCallMax`].
   */
  expired(nowMs: number, max = this.#limits.leasesExpiredPerCallMax): number[] {
    checkCount('list expired leases', max, this.#limits.leasesExpiredPerCallMax, 'leasesExpiredPerCallMax');
    const leaseNowMs = this.#advance('list expired leases', nowMs);
    if (!this.#leading) return [];
    const ids = this.#expiry.due(leaseNowMs, max);
    for (const id of ids) this.#expiry.schedule(id, leaseNowMs + this.#limits.expiredRetryMs);
    return ids;
  }

  /**
   * The remaining TTLs due to be checkpointed, at most `max`: propose them
   * as one `leaseCheckpoint` command. Each lease is due every
   * `checkpointIntervalMs` while leading, and at once after a renewal that
   * finds its checkpoint stale; one whose recorded TTL is already right, or
   * whose deadline has passed, is skipped. Empty when not leading. Work is
   * bounded by `max`: more due leases are returned by later calls.
   *
   * @throws {InvalidArgumentError} on a bad time, or `max` outside
   * [0, `checkpointsPerCallMax`].
   */
  checkpointsDue(nowMs: number, max = this.#limits.checkpointsPerCallMax): LessorCheckpoint[] {
    checkCount('list checkpoints', max, this.#limits.checkpointsPerCallMax, 'checkpointsPerCallMax');
    const leaseNowMs = this.#advance('list checkpoints', nowMs);
    const checkpoints: LessorCheckpoint[] = [];
    if (!this.#leading) return checkpoints;
    for (const id of this.#checkpoints.due(leaseNowMs, max)) {
      const lease = this.#leases.get(id);
      const deadlineMs = lease?.deadlineMs;
      if (lease === undefined || deadlineMs === undefined)
        throw new Error(`Invariant: lease ${id} is untimed`);
      if (deadlineMs <= leaseNowMs) {
        // Its revoke is coming; only a new term (promote) times it again.
        this.#checkpoints.cancel(id);
        continue;
      }
      this.#checkpoints.schedule(id, leaseNowMs + this.#limits.checkpointIntervalMs);
      // Rounded up, so a new leader never gives less time than is left;
      // capped at the TTL, so a promotion's extension is not persisted and
      // added again by the next promotion.
      const remainingTtlSeconds = Math.min(
        Math.ceil((deadlineMs - leaseNowMs) / MS_PER_SECOND),
        lease.ttlSeconds,
      );
      if (remainingTtlSeconds !== lease.remainingTtlSeconds) checkpoints.push({ id, remainingTtlSeconds });
    }
    return checkpoints;
  }

  /**
   * The TTL a lease has left, in whole seconds rounded up, 0 once expired
   * (etcd `LeaseTimeToLive`'s live TTL).
   *
   * @throws {NotLeaderError} when not leading: only the leader knows.
   * @throws {InvalidArgumentError} on a bad id or time, or a lease not tracked.
   */
  timeToLive(id: number, nowMs: number): number {
    checkId('read lease', id);
    const leaseNowMs = this.#advance(`read lease ${id}`, nowMs);
    if (!this.#leading) {
      throw new NotLeaderError(`Cannot read lease ${id}: this member's lessor does not lead`, {
        details: { leaderHint: 0 },
      });
    }
    const deadlineMs = this.#required('read lease', id).deadlineMs ?? leaseNowMs;
    return Math.max(0, Math.ceil((deadlineMs - leaseNowMs) / MS_PER_SECOND));
  }

  /**
   * When a lease expires on the caller's clock, if no stall comes first;
   * undefined when not leading or not tracked. For tests and status pages.
   */
  expiresAtMs(id: number): number | undefined {
    const deadlineMs = this.#leases.get(id)?.deadlineMs;
    return deadlineMs === undefined ? undefined : deadlineMs + this.#clock.stallsMs;
  }

  /**
   * Checks that the queues agree with the leases and the role.
   *
   * @throws {Error} naming the first broken invariant.
   */
  checkInvariants(): void {
    checkLessorInvariants({
      limits: this.#limits,
      leases: this.#leases,
      leading: this.#leading,
      expiry: this.#expiry,
      checkpoints: this.#checkpoints,
    });
  }

  // Times a lease on becoming leader, or on a grant or reset while leading.
  #start(lease: TrackedLease, leaseNowMs: number, extendMs: number): void {
    lease.deadlineMs = leaseNowMs + lease.remainingTtlSeconds * MS_PER_SECOND + extendMs;
    this.#expiry.schedule(lease.id, lease.deadlineMs);
    this.#checkpoints.schedule(lease.id, leaseNowMs + this.#limits.checkpointIntervalMs);
  }

  // Reads the time, shifting every deadline past a stall while leading,
  // and answers the lease clock's time.
  #advance(action: string, nowMs: number): number {
    return this.#clock.advance(action, nowMs, this.#leading);
  }

  #required(action: string, id: number): TrackedLease {
    checkId(action, id);
    const lease = this.#leases.get(id);
    if (lease === undefined) {
      throw new InvalidArgumentError(`Cannot ${action} ${id}: it is not tracked`, {
        details: { leaseId: id, reason: 'LEASE_NOT_FOUND' },
      });
    }
    return lease;
  }
}
