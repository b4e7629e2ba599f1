import type { Random } from '../base/random.ts';
import type { RaftStorage } from './storage.ts';
import type { ConfState, NodeId } from './types.ts';

/** Default ticks without a leader before a follower campaigns (randomized over [n, 2n)). */
export const ELECTION_TICKS_DEFAULT = 10;
/** Default ticks between leader heartbeats. */
export const HEARTBEAT_TICKS_DEFAULT = 1;
/** Default most entry bytes in one append message. */
export const APPEND_BYTES_MAX_DEFAULT = 1024 * 1024;
/** Default most append messages in flight to one follower. */
export const INFLIGHT_MESSAGES_MAX_DEFAULT = 256;
/** Default most entry bytes in flight to one follower. */
export const INFLIGHT_BYTES_MAX_DEFAULT = 32 * 1024 * 1024;
/** Default most bytes of proposals the leader holds uncommitted (etcd's MaxUncommittedEntriesSize). */
export const UNCOMMITTED_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

/**
 * Deliberate defects, switched on only by tests and the simulator's `--bug`
 * to prove that the checks catch them (a checker that never fails proves
 * nothing). Never set in production.
 */
export const RAFT_BUGS = [
  /** The leader commits what it alone has. */
  'commit-without-quorum',
  /** A member grants its vote to every up-to-date candidate in a term. */
  'vote-twice-in-term',
  /**
   * An old-term entry commits by counting replicas (the Figure 8 bug). A new
   * leader's no-op masks this bug entirely here (its appends always carry
   * the no-op with the old entries), so the bug also drops the no-op: the
   * setting of the paper's Figure 8.
   */
  'commit-old-term-by-count',
  /** Acknowledgements and votes leave before the writes they promise are durable. */
  'ack-before-persist',
  /** A follower keeps its conflicting entries instead of cutting them. */
  'skip-truncate-on-conflict',
  /** A leader serves ReadIndex at once, without confirming it still leads (stale reads). */
  'read-without-quorum-check',
] as const;
export type RaftBug = (typeof RAFT_BUGS)[number];

/** Marks the vote requests of a campaign the leader asked for (leadership transfer). */
export const TRANSFER_CONTEXT = new Uint8Array([0x54, 0x52]);

export function isTransferContext(context: Uint8Array): boolean {
  return context.length === 2 && context[0] === 0x54 && context[1] === 0x52;
}

/** Settings of a Raft member. */
export interface RaftConfig {
  /** This member's id (positive). */
  id: NodeId;
  storage: RaftStorage;
  /** Election jitter. Seeded in tests and the simulator. */
  random: Random;
  electionTicks?: number;
  heartbeatTicks?: number;
  /** Pre-vote (thesis §9.6): a partitioned member cannot disrupt the cluster by bumping terms. */
  preVote?: boolean;
  /** Check-quorum (thesis §6.2): a leader that hears from no quorum for an election timeout steps down. */
  checkQuorum?: boolean;
  appendBytesMax?: number;
  inflightMessagesMax?: number;
  inflightBytesMax?: number;
  uncommittedBytesMax?: number;
  /** Most snapshot bytes per message when a follower needs a snapshot. */
  snapshotChunkBytes?: number;
  /** Most snapshot chunks in flight to one follower. */
  snapshotChunksInflight?: number;
  /** The last index the state machine applied before a restart. */
  applied?: number;
  /**
   * The membership in force at `applied`, when the application applied
   * membership changes past the storage's snapshot and kept the result
   * (etcd's `ConfState`). Defaults to the snapshot's membership; later
   * changes are then applied again as their entries are.
   */
  confState?: ConfState;
  /** Test-only deliberate defects; see {@link RAFT_BUGS}. */
  bugs?: readonly RaftBug[];
}

export function positiveInteger(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value > 0)) {
    throw new RangeError(`Cannot create Raft: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}
