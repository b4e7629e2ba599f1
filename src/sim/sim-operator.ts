/**
 * The simulated operator: changes membership and moves leadership while the
 * workload runs and faults strike, as people running a cluster do. It adds
 * learners, promotes them once caught up, removes voters (the leader
 * included) and learners, transfers leadership, and shuts down members the
 * cluster removed.
 *
 * @module
 */
import {
  InvalidArgumentError,
  LimitExceededError,
  NotLeaderError,
  UnavailableError,
} from '../base/errors.ts';
import type { SeededRandom } from '../base/random.ts';
import { type ConfChange, ConfChangeType } from '../raft/conf-change.ts';
import type { NodeId } from '../raft/types.ts';
import { encodeCompaction } from './mvcc-machine.ts';
import type { SimConfig } from './sim-config.ts';
import type { SimMember } from './sim-member.ts';

/** What the operator may do to the cluster. */
export interface SimOperatorHost {
  readonly members: ReadonlyMap<NodeId, SimMember>;
  /** The member that leads in the highest term, if it is up. */
  leader(): SimMember | undefined;
  /** Starts a new, empty member with `id` (a server about to join). */
  startMember(id: NodeId): void;
  /** Shuts member `id` down for good. */
  stopMember(id: NodeId): void;
}

/** Fewest voters the operator keeps. */
const VOTERS_MIN = 3;
/** A learner this close to the leader's commit index counts as caught up (thesis §4.2.1). */
const CAUGHT_UP_ENTRIES = 10;
/** Ticks a member that was never added may wait before the operator gives up on it. */
const JOIN_TICKS_MAX = 400;

/** Errors a membership or transfer request may meet in a faulty cluster; the operator retries later. */
function isTransient(error: unknown): boolean {
  return (
    error instanceof NotLeaderError ||
    error instanceof UnavailableError ||
    error instanceof LimitExceededError ||
    error instanceof InvalidArgumentError
  );
}

export class SimOperator {
  readonly #random: SeededRandom;
  readonly #config: SimConfig;
  #nextId: NodeId;
  /** Members some leader's membership included: once out of it, they were removed. */
  readonly #everMember = new Set<NodeId>();
  /** When each started member was started. */
  readonly #startedAt = new Map<NodeId, number>();
  /** Changes proposed and transfers asked for, for statistics. */
  changes = 0;
  transfers = 0;
  compactions = 0;

  constructor(random: SeededRandom, config: SimConfig, firstFreeId: NodeId) {
    this.#random = random;
    this.#config = config;
    this.#nextId = firstFreeId;
  }

  /** Maybe changes something; called every tick of the faulty phase. */
  act(host: SimOperatorHost, now: number): void {
    const leader = host.leader();
    const node = leader?.node;
    if (leader === undefined || node === undefined) return;
    const random = this.#random;
    const { voters, learners } = node.raft.confState();
    if (random.next() < this.#config.compactRate) {
      const revision = leader.machine.revision - this.#config.compactRetainRevisions;
      if (revision >= 1 && this.#attempt(() => node.propose(encodeCompaction(revision)))) this.compactions++;
    }
    if (random.next() < this.#config.transferRate) {
      const others = voters.filter((id) => id !== leader.id);
      const to = others[random.int(Math.max(1, others.length))];
      if (to !== undefined && this.#attempt(() => node.transferLeadership(to))) this.transfers++;
    }
    if (random.next() >= this.#config.membershipChangeRate) return;
    const committed = node.raft.log.committed;
    const options: (() => ConfChange | undefined)[] = [];
    const caughtUp = learners.filter(
      (id) =>
        host.members.get(id)?.alive === true &&
        (node.raft.progress.get(id)?.match ?? 0) + CAUGHT_UP_ENTRIES >= committed,
    );
    if (caughtUp.length > 0) options.push(() => change(ConfChangeType.addVoter, pick(random, caughtUp)));
    if (voters.length > VOTERS_MIN) options.push(() => change(ConfChangeType.remove, pick(random, voters)));
    if (learners.length > 0) options.push(() => change(ConfChangeType.remove, pick(random, learners)));
    if (host.members.size < this.#config.membersMax) {
      options.push(() => {
        const id = this.#nextId++;
        host.startMember(id);
        this.#startedAt.set(id, now);
        return change(ConfChangeType.addLearner, id);
      });
    }
    const cc = options[random.int(Math.max(1, options.length))]?.();
    if (cc !== undefined && this.#attempt(() => node.proposeConfChange(cc))) this.changes++;
  }

  /**
   * Shuts down members the cluster removed, and members whose addition
   * never made it; called every tick. Uses the leader's membership, which is
   * what the operator's `member list` would show.
   */
  collect(host: SimOperatorHost, now: number): void {
    const node = host.leader()?.node;
    if (node === undefined) return;
    // Membership is a function of the applied index: trust only a leader that applied as far as anyone.
    for (const member of host.members.values()) {
      if ((member.node?.raft.log.applied ?? 0) > node.raft.log.applied) return;
    }
    const { voters, learners } = node.raft.confState();
    const inCluster = new Set([...voters, ...learners]);
    for (const id of inCluster) this.#everMember.add(id);
    for (const id of [...host.members.keys()]) {
      if (inCluster.has(id)) continue;
      const startedAt = this.#startedAt.get(id);
      const gaveUp = startedAt !== undefined && now - startedAt > JOIN_TICKS_MAX;
      if (this.#everMember.has(id) || gaveUp) host.stopMember(id);
    }
  }

  #attempt(action: () => unknown): boolean {
    try {
      action();
      return true;
    } catch (error) {
      if (isTransient(error)) return false;
      throw error;
    }
  }
}

function change(type: ConfChangeType, nodeId: NodeId): ConfChange {
  return { type, nodeId, context: new Uint8Array(0) };
}

function pick<T>(random: SeededRandom, items: readonly T[]): T {
  return items[random.int(items.length)] as T;
}
