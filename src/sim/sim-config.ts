/**
 * Everything one simulation run varies, derived from its seed alone, so a
 * seed names a run exactly.
 *
 * @module
 */
import { SeededRandom } from '../base/random.ts';
import { RAFT_BUGS, type RaftBug } from '../raft/raft.ts';
import type { NetworkFaults } from './sim-network.ts';

/**
 * Deliberate defects a run can switch on, to prove the checks catch them:
 * the Raft core's (`RAFT_BUGS`) and the simulator's own.
 */
export const SIM_BUGS = [
  ...RAFT_BUGS,
  /** The watch hub misses the first change of every fifth revision. */
  'watch-skip-event',
  /**
   * Expiry decided locally by a follower: every member's lessor keeps
   * deadlines whatever its role (it never sees the leader's renewals), and a
   * follower forwards the revokes it decides to its leader.
   */
  'lease-expire-on-follower',
  /** A member serves a linearizable range from its applied state at once, without ReadIndex. */
  'range-stale-read',
  /** A transaction's first write commits at one revision and its other writes at the next. */
  'txn-partial-apply',
  /** Keep-alives proposed together answer every call as renewed, one of a lease that no longer exists too. */
  'keepalive-batch-unchecked',
] as const;
export type SimBug = (typeof SIM_BUGS)[number];

/** Whether `bug` is one of the Raft core's (passed to every member's core). */
export function isRaftBug(bug: SimBug): bug is RaftBug {
  return (RAFT_BUGS as readonly string[]).includes(bug);
}

/** What the caller fixes; the seed picks the rest. */
export interface SimOptions {
  seed: number;
  /** Cluster size; the seed picks 3 or 5 when unset. */
  nodes?: 3 | 5;
  /** Client operations in the run. */
  opsTotal?: number;
  /** Deliberate defects to switch on in every member. */
  bugs?: readonly SimBug[];
}

/** The full description of one run. */
export interface SimConfig {
  readonly seed: number;
  readonly nodes: number;
  readonly clients: number;
  readonly keys: number;
  readonly opsTotal: number;
  readonly bugs: readonly SimBug[];
  /**
   * Check-quorum is a user setting (etcd's default is off). Without it a cut
   * off leader keeps believing it leads, and only ReadIndex's quorum round
   * keeps its reads linearizable; a quarter of the seeds run that way.
   */
  readonly checkQuorum: boolean;
  readonly faults: NetworkFaults;
  /** Per tick, per member: probability of a crash (losing unsynced writes). */
  readonly crashRate: number;
  /** Ticks a crashed member stays down. */
  readonly downTicksMax: number;
  /** Per tick, per member: probability of a pause (a SIGSTOP-like freeze). */
  readonly pauseRate: number;
  readonly pauseTicksMax: number;
  /** Per tick: probability the partition changes. */
  readonly partitionRate: number;
  /**
   * Probability that a newly elected leader is cut off at once (0 in half the
   * seeds): short-lived leaders that wrote entries alone are what the
   * Figure 8 class of bugs needs.
   */
  readonly leaderIsolationRate: number;
  /** Per member: probability a tick is skipped (clock drift). */
  readonly driftRates: readonly number[];
  /** A disk sync takes 0..syncTicksMax ticks. */
  readonly syncTicksMax: number;
  /** Members snapshot and compact after this many applied entries. */
  readonly snapshotEntries: number;
  /** A client gives up on a call (its outcome becomes unknown) after this many ticks. */
  readonly callTicksMax: number;
  /** Ticks of the faulty phase at most. */
  readonly safetyTicksMax: number;
  /** Ticks after healing within which every call must finish and replicas converge. */
  readonly livenessTicksMax: number;
  /** Whether the cluster starts with a learner besides its voters. */
  readonly learnerAtStart: boolean;
  /** Per tick: probability the operator changes membership (0 in a quarter of the seeds). */
  readonly membershipChangeRate: number;
  /** Per tick: probability the operator transfers leadership (0 in a third of the seeds). */
  readonly transferRate: number;
  /** Most members (voters, learners and joiners) running at once. */
  readonly membersMax: number;
  /** Snapshot bytes per message: small, so snapshots travel in many chunks. */
  readonly snapshotChunkBytes: number;
  /** Chance per tick that the operator proposes a compaction of the KV store's history. */
  readonly compactRate: number;
  /** Revisions of history a compaction keeps behind the leader's current revision. */
  readonly compactRetainRevisions: number;
  /**
   * How often a leading lessor checkpoints each lease's remaining TTL, in
   * virtual milliseconds (a tick is 100): a new leader restarts an
   * abandoned lease's countdown from at most this long ago.
   */
  readonly leaseCheckpointIntervalMs: number;
}

/** Default client operations per run. */
export const SIM_OPS_DEFAULT = 1000;

/**
 * Per-member probability of missing a tick. Most members drift up to 10%; in
 * a quarter of the seeds one member's clock runs 30-60% slow, the case where
 * leases fail and only a quorum round (ReadIndex) keeps reads linearizable.
 */
function driftRates(nodes: number, random: SeededRandom): number[] {
  const rates = Array.from({ length: nodes }, () => random.next() * 0.1);
  if (random.int(4) === 0) rates[random.int(nodes)] = 0.3 + random.next() * 0.3;
  return rates;
}

/** Derives a run's configuration from its seed. */
export function simConfig(options: SimOptions): SimConfig {
  const random = new SeededRandom(options.seed);
  const nodes = options.nodes ?? (random.int(2) === 0 ? 3 : 5);
  const opsTotal = options.opsTotal ?? SIM_OPS_DEFAULT;
  return {
    seed: options.seed,
    nodes,
    clients: 2 + random.int(5),
    keys: 1 + random.int(4),
    opsTotal,
    bugs: options.bugs ?? [],
    checkQuorum: random.int(4) !== 0,
    faults: {
      dropRate: random.next() * 0.15,
      duplicateRate: random.next() * 0.05,
      delayTicksMax: random.int(4),
    },
    crashRate: random.next() * 0.01,
    downTicksMax: 5 + random.int(40),
    pauseRate: random.next() * 0.002,
    pauseTicksMax: 5 + random.int(30),
    partitionRate: random.next() * 0.05,
    leaderIsolationRate: random.int(2) === 0 ? 0 : random.next() * 0.5,
    driftRates: driftRates(nodes, random),
    syncTicksMax: random.int(3),
    snapshotEntries: 30 + random.int(200),
    callTicksMax: 60,
    safetyTicksMax: opsTotal * 20,
    livenessTicksMax: 2000,
    // Drawn last, so that the draws above keep their meaning for older seeds.
    learnerAtStart: random.int(4) === 0,
    membershipChangeRate: random.int(4) === 0 ? 0 : random.next() * 0.01,
    transferRate: random.int(3) === 0 ? 0 : random.next() * 0.005,
    membersMax: 7,
    snapshotChunkBytes: 16 + random.int(1024),
    compactRate: random.int(4) === 0 ? 0 : random.next() * 0.02,
    compactRetainRevisions: random.int(100),
    leaseCheckpointIntervalMs: 500 + 100 * random.int(40),
  };
}
