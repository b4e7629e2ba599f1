/**
 * The lease driver: what a member does with its {@link Lessor}, the same in
 * the server and in the simulator. It mirrors every lease change the member
 * applies, promotes the lessor when the member's own term starts being
 * applied, demotes it the moment the member is no longer that term's
 * leader, says what to propose each tick (expiry revokes, checkpoints),
 * and gates keep-alives.
 *
 * Promotion follows etcd (`applyEntryNormal`): a leader promotes its lessor
 * when it applies the empty entry it appended on taking office, so every
 * entry of earlier terms (checkpoints and keep-alives included) is applied
 * by then, and every deadline starts from the last TTL the log recorded
 * plus an extension (etcd passes its election timeout) for clients to find
 * the new leader.
 *
 * Pure: time is the `nowMs` each call is given (one monotonic clock), the
 * role is what the caller reads from its Raft core.
 *
 * @module
 */
import { InvalidArgumentError } from '../base/errors.ts';
import type { LeaseChange } from './kv-machine.ts';
import { Lessor } from './lessor.ts';
import type { LessorOptions } from './limits.ts';

/** The member's Raft role, as its core reports it. */
export interface RaftRole {
  readonly role: string;
  readonly term: number;
}

/** Options of {@link LeaseDriver}. */
export interface LeaseDriverOptions {
  /** The lessor's limits (`leasesMax` must be the store's). */
  readonly lessor?: LessorOptions;
  /** Added to every lease's remaining TTL on promotion (etcd: the election timeout). */
  readonly promoteExtendMs: number;
  /**
   * The simulator's `lease-expire-on-follower` test bug: the lessor leads
   * from the start, whatever the role. Never set outside the simulator.
   */
  readonly alwaysLead?: boolean;
}

/** What a lessor decided this tick, for the member to propose through the log. */
export interface LeaseProposals {
  /** Leases whose deadline passed: propose a `leaseRevoke` for each. */
  readonly revokes: readonly number[];
  /** Remaining TTLs to record: propose one `leaseCheckpoint` with them all (when any). */
  readonly checkpoints: readonly { readonly id: number; readonly remainingTtl: number }[];
}

/** Before a keep-alive is proposed: propose it, wait and ask again, or ask the leader. */
export type KeepAliveGate = 'renewed' | 'wait' | 'not leader';

/** One member incarnation's lease driver (a restart makes a new one, as a process restart does). */
export class LeaseDriver {
  readonly lessor: Lessor;
  readonly #options: LeaseDriverOptions;
  /** The term whose leadership the lessor's deadlines belong to. */
  #term = 0;

  /** @throws {InvalidArgumentError} on a bad lessor limit. */
  constructor(options: LeaseDriverOptions, nowMs: number) {
    this.#options = options;
    this.lessor = new Lessor(options.lessor);
    if (options.alwaysLead === true) this.lessor.promote(nowMs, 0);
  }

  /** Tracks exactly `leases` (at start, and after a snapshot replaced the store). */
  reset(leases: readonly { id: number; grantedTtl: number; remainingTtl: number }[], nowMs: number): void {
    this.lessor.reset(leases, nowMs);
  }

  /** Mirrors a lease change the member's store applied (in log order). */
  mirror(change: LeaseChange, nowMs: number): void {
    switch (change.type) {
      case 'granted':
        this.lessor.granted({ id: change.id, ttlSeconds: change.ttl }, nowMs);
        return;
      case 'revoked':
        this.lessor.revoked(change.id);
        return;
      case 'checkpointed':
        this.lessor.checkpointed(change.id, change.remainingTtl);
        return;
    }
  }

  /**
   * The member applied an empty entry of term `entryTerm`: when it is this
   * leader's own (the first entry of its term), the lessor starts leading.
   */
  appliedEmpty(entryTerm: number, raft: RaftRole, nowMs: number): void {
    this.#syncRole(raft);
    if (raft.role !== 'leader' || entryTerm !== raft.term) return;
    // Under the test bug the lessor leads already, with whatever deadlines it kept as a follower.
    if (!this.lessor.leading) this.lessor.promote(nowMs, this.#options.promoteExtendMs);
    this.#term = raft.term;
  }

  /**
   * The lessor, if it leads and the member still leads the term it was
   * promoted in; demotes it first when the member no longer does.
   */
  leading(raft: RaftRole): Lessor | undefined {
    this.#syncRole(raft);
    if (!this.lessor.leading || raft.role !== 'leader' || raft.term !== this.#term) return undefined;
    return this.lessor;
  }

  /**
   * One tick: the lessor reads the time (a long gap is a stall, see
   * `Lessor.observe`); a leading one answers the leases it found expired
   * and the checkpoints due. A lessor that does not lead answers nothing
   * (only under the test bug does a follower's lessor decide revokes).
   */
  due(raft: RaftRole, nowMs: number): LeaseProposals {
    const leading = this.leading(raft);
    this.lessor.observe(nowMs);
    if (!this.lessor.leading) return { revokes: [], checkpoints: [] };
    const revokes = this.lessor.expired(nowMs);
    const checkpoints =
      leading === undefined
        ? []
        : leading
            .checkpointsDue(nowMs)
            .map(({ id, remainingTtlSeconds }) => ({ id, remainingTtl: remainingTtlSeconds }));
    return { revokes, checkpoints };
  }

  /**
   * Before a keep-alive of `lease` is proposed, the leading lessor renews
   * it (etcd's `Renew` on the leader): the acknowledgement then promises
   * the TTL from this moment, and the committed keep-alive, which only the
   * term's leader can commit, confirms the leadership and records the full
   * TTL for any later leader. A lease the lessor does not know is proposed
   * all the same: the applied entry decides whether it exists.
   *
   * @returns `renewed` (or unknown): propose now; `wait`: a leader that
   * has not applied its term's first entry, or a lease whose revoke is
   * under way, soon answers differently; `not leader`: ask the leader.
   */
  beforeKeepAlive(raft: RaftRole, lease: number, nowMs: number): KeepAliveGate {
    const lessor = this.leading(raft);
    if (lessor === undefined) return raft.role === 'leader' ? 'wait' : 'not leader';
    try {
      lessor.renew(lease, nowMs);
      return 'renewed';
    } catch (error) {
      if (!(error instanceof InvalidArgumentError)) throw error;
      return error.details?.['reason'] === 'LEASE_NOT_FOUND' ? 'renewed' : 'wait';
    }
  }

  /** Demotes the lessor once the member is not the leader of the term it was promoted in. */
  #syncRole(raft: RaftRole): void {
    if (!this.lessor.leading || this.#options.alwaysLead === true) return;
    if (raft.role !== 'leader' || raft.term !== this.#term) this.lessor.demote();
  }
}
