/**
 * Leases in the simulator: drives every member's lessor on the virtual
 * clock, proposes what a leading lessor decides (expiry revokes and
 * checkpoints) through the log, and checks leases beyond what the
 * linearizability checker can see.
 *
 * The checks:
 *
 * - Safety of expiry. A grant or keep-alive acknowledged to a client
 *   promises the lease is alive until the tick its proposal left the
 *   leader plus its TTL (the leader renewed its lessor at that tick: a
 *   keep-alive renews and then proposes the full-TTL checkpoint, which is
 *   what confirms the leader, since only a term's leader can commit it). No
 *   expiry revoke that takes effect may have been decided (proposed) before
 *   a promise of its lease ran out. The promote extension only ever gives
 *   more time, so it is never counted in a promise.
 * - Agreement. Every member's store holds the same leases (ids, TTLs,
 *   checkpoints and attached keys) after applying the same index.
 * - Mirroring. Each lessor tracks exactly the store's leases.
 * - Liveness is the run's: after healing, with no client left to renew
 *   them, every lease must be expired within the liveness bound.
 *
 * Expiry revokes that took effect are recorded in the client history as
 * `expire` operations (called when proposed, returned when first applied),
 * so the linearizability checker sees keys vanish through them.
 *
 * @module
 */
import { LimitExceededError, NotLeaderError, UnavailableError } from '../base/errors.ts';
import type { KeepAliveGate } from '../kv/lease-driver.ts';
import type { Entry, NodeId } from '../raft/types.ts';
import {
  encodeRequest,
  type KvApplied,
  type KvCommand,
  type KvCommandOutput,
  LESSOR_CLIENT_ID,
} from './kv-machine.ts';
import type { SimMember } from './sim-member.ts';
import type { HistoryOperation } from './simulation.ts';

/** Ticks per second of lease TTL (`TICK_MS` is 100). */
export const TICKS_PER_SECOND = 10;

/** Ticks between invariant checks of a lessor that does not lead (a leading one is checked every tick). */
const LESSOR_FOLLOWER_CHECK_TICKS = 10;

/** What the lease driver needs of the run. */
export interface SimLeasesHost {
  readonly members: ReadonlyMap<NodeId, SimMember>;
  /** The virtual time, in ticks. */
  now(): number;
  /** A fresh request id for a log entry. */
  nextRequestId(): number;
  /** The next logical time of the client history. */
  nextHistoryTime(): number;
  /** Adds an operation to the client history. */
  record(operation: HistoryOperation): void;
  /** Reports a broken lease property. */
  violation(message: string): void;
}

/** Lease activity of one run, for the summary. */
export interface SimLeaseStats {
  /** Leases granted (acknowledged to clients). */
  granted: number;
  /** Keep-alives acknowledged with the lease alive. */
  keptAlive: number;
  /** Entries that carried the keep-alives of two or more calls (proposed; not all commit). */
  keptAliveBatches: number;
  /** Revokes by clients that ended a lease. */
  revoked: number;
  /** Expiry revokes that ended a lease. */
  expired: number;
}

interface ExpiryProposal {
  readonly lease: number;
  readonly member: NodeId;
  /** The tick the lessor decided the lease had expired. */
  readonly decidedAt: number;
  /** The history time of the proposal. */
  readonly call: number;
}

/** The lease driver and checker of one run. */
export class SimLeases {
  readonly #host: SimLeasesHost;
  readonly stats: SimLeaseStats = { granted: 0, keptAlive: 0, keptAliveBatches: 0, revoked: 0, expired: 0 };
  /** Expiry revokes proposed, by request id, until applied. */
  readonly #expiries = new Map<number, ExpiryProposal>();
  /** Per lease, the latest tick an acknowledged grant or keep-alive promised it alive until. */
  readonly #promisedUntil = new Map<number, number>();
  /** Per lease ended by expiry, the revoke that did it. */
  readonly #expiredBy = new Map<number, ExpiryProposal>();
  /** Each applied index's lease set, as first applied. */
  readonly #leaseSetAt = new Map<number, { member: NodeId; leases: string }>();

  constructor(host: SimLeasesHost) {
    this.#host = host;
  }

  /**
   * One tick of every running member's lessor: it reads the time, and a
   * leading one has its expired leases revoked and its checkpoints made
   * through the log. A follower's lessor decides nothing (it does not
   * lead), except under the `lease-expire-on-follower` test bug, where the
   * follower forwards its revokes to the leader it knows, as etcd forwards
   * a follower's proposals.
   */
  drive(): void {
    const host = this.#host;
    for (const member of host.members.values()) {
      const node = member.node;
      if (node === undefined || host.now() < member.pausedUntil) continue;
      const { revokes, checkpoints } = member.leases.due(member.raftRole, member.nowMs);
      const lessor = member.lessor;
      // A follower's lessor changes only as entries apply; a leading one with time too.
      if (lessor.leading || host.now() % LESSOR_FOLLOWER_CHECK_TICKS === 0) lessor.checkInvariants();
      const leading = member.leadingLessor() !== undefined;
      const proposer = leading ? node : host.members.get(node.raft.lead)?.node;
      for (const lease of revokes) {
        const requestId = host.nextRequestId();
        const proposal = { lease, member: member.id, decidedAt: host.now(), call: host.nextHistoryTime() };
        const data = encodeRequest({
          clientId: LESSOR_CLIENT_ID,
          requestId,
          command: { op: 'expire', lease },
        });
        // A lost proposal is retried by the lessor after expiredRetryMs.
        if (proposer !== undefined && propose(() => proposer.propose(data)))
          this.#expiries.set(requestId, proposal);
      }
      if (checkpoints.length === 0) continue;
      const command = { op: 'checkpoint', checkpoints } as const;
      const requestId = host.nextRequestId();
      // A lost checkpoint only leaves an older, larger remaining TTL in place: more time, never less.
      propose(() => node.propose(encodeRequest({ clientId: LESSOR_CLIENT_ID, requestId, command })));
    }
  }

  /**
   * A member applied `entry`: checks that its leases agree with every other
   * member's at that index and with its lessor, and records an expiry revoke
   * that took effect (the first member to apply it decides the history).
   */
  applied(member: SimMember, entry: Entry, applied: KvApplied | undefined): void {
    const leases = member.machine.leaseFingerprint();
    const first = this.#leaseSetAt.get(entry.index);
    if (first === undefined) {
      this.#leaseSetAt.set(entry.index, { member: member.id, leases });
    } else if (first.leases !== leases) {
      this.#host.violation(
        `lease agreement: after index ${entry.index} member ${member.id} holds leases {${leases}}, member ${first.member} held {${first.leases}}`,
      );
    }
    const tracked = member.lessor.size;
    const stored = member.machine.leaseCount;
    if (tracked !== stored) {
      this.#host.violation(
        `lease mirroring: member ${member.id}'s lessor tracks ${tracked} leases, its store holds ${stored}`,
      );
    }
    if (applied?.clientId !== LESSOR_CLIENT_ID) return;
    const proposal = this.#expiries.get(applied.requestId);
    if (proposal === undefined) return;
    this.#expiries.delete(applied.requestId);
    if (!('ok' in applied.output) || !applied.output.ok) return;
    this.stats.expired++;
    this.#host.record({
      clientId: LESSOR_CLIENT_ID,
      input: { op: 'expire', lease: proposal.lease },
      call: proposal.call,
      ret: this.#host.nextHistoryTime(),
      output: { ok: true },
    });
    this.#expiredBy.set(proposal.lease, proposal);
    this.#checkExpiry(proposal.lease);
  }

  /**
   * Before a keep-alive is proposed, the member renews the lease in its
   * lessor, which must lead (etcd's `Renew` on the leader): the renewal and
   * the proposal happen at one tick, from which the acknowledgement promises
   * a TTL. The entry then confirms the leader: only its term's leader can
   * commit it. A lease the lessor does not know is proposed all the same:
   * the applied entry decides whether it exists.
   *
   * @returns `renewed` (or unknown to the lessor): propose now; `wait`: a
   * leader that has not applied its term's first entry, or a lease whose
   * revoke is under way, soon answers differently; `not leader`: ask the
   * leader.
   */
  static renewBeforeKeepAlive(member: SimMember, lease: number): KeepAliveGate {
    return member.leases.beforeKeepAlive(member.raftRole, lease, member.nowMs);
  }

  /** A client's call proposed at tick `proposedAt` returned `output`: grants and keep-alives promise a TTL. */
  answered(input: KvCommand, output: KvCommandOutput, proposedAt: number): void {
    if (!('ok' in output) || !output.ok) return;
    if (input.op === 'revoke') this.stats.revoked++;
    if (input.op !== 'grant' && input.op !== 'keepAlive') return;
    const ttl = 'ttl' in output ? output.ttl : undefined;
    if (ttl === undefined) throw new Error(`Invariant: ${input.op} of lease ${input.lease} answered no TTL`);
    this.promised(input.lease, proposedAt, ttl, input.op === 'keepAlive');
  }

  /** A grant or keep-alive proposed at tick `proposedAt` was acknowledged: the lease lives at least a TTL from then. */
  promised(lease: number, proposedAt: number, ttlSeconds: number, keepAlive: boolean): void {
    if (keepAlive) this.stats.keptAlive++;
    else this.stats.granted++;
    const until = proposedAt + ttlSeconds * TICKS_PER_SECOND;
    this.#promisedUntil.set(lease, Math.max(until, this.#promisedUntil.get(lease) ?? 0));
    this.#checkExpiry(lease);
  }

  #checkExpiry(lease: number): void {
    const expiry = this.#expiredBy.get(lease);
    const until = this.#promisedUntil.get(lease);
    if (expiry === undefined || until === undefined || expiry.decidedAt >= until) return;
    this.#host.violation(
      `lease safety: member ${expiry.member} decided at tick ${expiry.decidedAt} that lease ${lease} had expired, and the revoke took effect, but an acknowledged keep-alive or grant promised it alive until tick ${until}`,
    );
  }
}

/** Proposes, answering whether a leader took it; a lost proposal is the fault model's business. */
function propose(action: () => number): boolean {
  try {
    action();
    return true;
  } catch (error) {
    if (
      error instanceof NotLeaderError ||
      error instanceof UnavailableError ||
      error instanceof LimitExceededError
    )
      return false;
    throw error;
  }
}
