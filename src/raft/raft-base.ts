import type { Random } from '../base/random.ts';
import { type InflightLimits, Progress } from './progress.ts';
import { majority } from './quorum.ts';
import {
  APPEND_BYTES_MAX_DEFAULT,
  ELECTION_TICKS_DEFAULT,
  HEARTBEAT_TICKS_DEFAULT,
  INFLIGHT_BYTES_MAX_DEFAULT,
  INFLIGHT_MESSAGES_MAX_DEFAULT,
  positiveInteger,
  type RaftBug,
  type RaftConfig,
  UNCOMMITTED_BYTES_MAX_DEFAULT,
} from './raft-config.ts';
import { RaftLog } from './raft-log.ts';
import { ReadOnlyQueue } from './read-only.ts';
import {
  SNAPSHOT_CHUNK_BYTES_DEFAULT,
  SNAPSHOT_CHUNKS_INFLIGHT_DEFAULT,
  type SnapshotReceiver,
} from './snapshot-transfer.ts';
import {
  type ConfState,
  type HardState,
  type Message,
  NONE,
  type NodeId,
  type ReadState,
  type Role,
  type SnapshotChunk,
  type SoftState,
} from './types.ts';

/** Shared state of a Raft member; see {@link Raft}. */
export abstract class RaftBase {
  readonly id: NodeId;
  readonly log: RaftLog;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: Role = 'follower';
  /** Progress of every member (voters and learners), this one included. */
  readonly progress = new Map<NodeId, Progress>();
  /** Messages that may leave before this member's pending writes are durable. */
  messages: Message[] = [];
  /** Messages that may leave only after them. */
  messagesAfterPersist: Message[] = [];
  /** Reads confirmed since the last Ready. */
  readStates: ReadState[] = [];
  /** Snapshot chunks taken since the last Ready, for the driver to write. */
  snapshotChunks: SnapshotChunk[] = [];

  protected readonly random: Random;
  protected readonly electionTicks: number;
  protected readonly heartbeatTicks: number;
  protected readonly preVote: boolean;
  protected readonly checkQuorum: boolean;
  protected readonly appendBytesMax: number;
  protected readonly uncommittedBytesMax: number;
  protected readonly inflightLimits: InflightLimits;
  protected readonly votes = new Map<NodeId, boolean>();
  protected readonly bugs: ReadonlySet<RaftBug>;
  protected electionElapsed = 0;
  protected heartbeatElapsed = 0;
  protected randomizedElectionTimeout = 0;
  protected uncommittedBytes = 0;
  /** Leader: index of the last membership change appended; a new one waits until it is applied. */
  protected pendingConfIndex = 0;
  /** Leader: the member leadership is being handed to (thesis §3.10), or NONE. */
  protected transferee: NodeId = NONE;
  protected readonly snapshotChunkBytes: number;
  protected readonly snapshotChunksInflight: number;
  /** Follower: the snapshot being received in chunks. */
  protected receiving: SnapshotReceiver | undefined;
  protected readonly readOnly = new ReadOnlyQueue();
  // Reads that arrived before this leader committed an entry of its term: its commit index may be stale until then.
  protected readsAwaitingCommit: { context: Uint8Array; requester: NodeId }[] = [];
  /** The current role's message handler; set by `becomeFollower` and friends. */
  protected stepRole: (m: Message) => void = () => {};
  /** The current role's tick handler. */
  protected tickRole: () => void = () => {};

  constructor(config: RaftConfig) {
    this.id = positiveInteger('id', config.id);
    this.random = config.random;
    this.electionTicks = positiveInteger('electionTicks', config.electionTicks ?? ELECTION_TICKS_DEFAULT);
    this.heartbeatTicks = positiveInteger('heartbeatTicks', config.heartbeatTicks ?? HEARTBEAT_TICKS_DEFAULT);
    if (this.heartbeatTicks >= this.electionTicks) {
      throw new RangeError(
        `Cannot create Raft: heartbeatTicks (${this.heartbeatTicks}) must be below electionTicks (${this.electionTicks})`,
      );
    }
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.appendBytesMax = positiveInteger(
      'appendBytesMax',
      config.appendBytesMax ?? APPEND_BYTES_MAX_DEFAULT,
    );
    this.uncommittedBytesMax = positiveInteger(
      'uncommittedBytesMax',
      config.uncommittedBytesMax ?? UNCOMMITTED_BYTES_MAX_DEFAULT,
    );
    this.inflightLimits = {
      messagesMax: positiveInteger(
        'inflightMessagesMax',
        config.inflightMessagesMax ?? INFLIGHT_MESSAGES_MAX_DEFAULT,
      ),
      bytesMax: positiveInteger('inflightBytesMax', config.inflightBytesMax ?? INFLIGHT_BYTES_MAX_DEFAULT),
    };
    this.snapshotChunkBytes = positiveInteger(
      'snapshotChunkBytes',
      config.snapshotChunkBytes ?? SNAPSHOT_CHUNK_BYTES_DEFAULT,
    );
    this.snapshotChunksInflight = positiveInteger(
      'snapshotChunksInflight',
      config.snapshotChunksInflight ?? SNAPSHOT_CHUNKS_INFLIGHT_DEFAULT,
    );
    this.bugs = new Set(config.bugs ?? []);
    this.log = new RaftLog(config.storage, { keepConflicts: this.bugs.has('skip-truncate-on-conflict') });
    const { hardState, confState } = config.storage.initialState();
    this.applyConfState(config.confState ?? confState);
    if (hardState.term > 0 || hardState.commit > 0) this.loadHardState(hardState);
    if (config.applied !== undefined && config.applied > 0) this.log.appliedTo(config.applied);
  }

  /** The durable part of this member's state. */
  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { lead: this.lead, role: this.role };
  }

  /** Voter ids, sorted. */
  voters(): NodeId[] {
    return [...this.progress]
      .filter(([, pr]) => !pr.isLearner)
      .map(([id]) => id)
      .sort((a, b) => a - b);
  }

  /** Learner ids, sorted. */
  learners(): NodeId[] {
    return [...this.progress]
      .filter(([, pr]) => pr.isLearner)
      .map(([id]) => id)
      .sort((a, b) => a - b);
  }

  /** The membership this member currently applies (put it in snapshots taken now). */
  confState(): ConfState {
    return { voters: this.voters(), learners: this.learners() };
  }

  /** The member leadership is being transferred to, or NONE. */
  get leadTransferee(): NodeId {
    return this.transferee;
  }

  /** Whether this member may campaign: a voter in the current configuration. */
  promotable(): boolean {
    const pr = this.progress.get(this.id);
    return pr !== undefined && !pr.isLearner;
  }

  protected loadHardState(hardState: HardState): void {
    if (hardState.commit < this.log.committed || hardState.commit > this.log.lastIndex()) {
      throw new Error(
        `Raft state corrupt: commit ${hardState.commit} outside [${this.log.committed}, ${this.log.lastIndex()}]`,
      );
    }
    this.log.committed = hardState.commit;
    this.term = hardState.term;
    this.vote = hardState.vote;
  }

  /** Switches to `confState`, keeping the progress of members that stay. */
  protected applyConfState(confState: ConfState): void {
    const next = this.log.lastIndex() + 1;
    const previous = new Map(this.progress);
    this.progress.clear();
    const add = (id: NodeId, isLearner: boolean) => {
      const pr = previous.get(id) ?? new Progress(next, isLearner, this.inflightLimits);
      pr.isLearner = isLearner;
      // A new member counts as active until the next check-quorum round has had a chance to hear from it.
      if (!previous.has(id)) pr.recentActive = true;
      this.progress.set(id, pr);
    };
    for (const id of confState.voters) add(id, false);
    for (const id of confState.learners) add(id, true);
  }

  protected send(m: Message): void {
    this.messages.push({ ...m, from: this.id, term: m.term === 0 ? this.term : m.term });
  }

  protected sendAfterPersist(m: Message): void {
    const stamped = { ...m, from: this.id, term: m.term === 0 ? this.term : m.term };
    if (this.bugs.has('ack-before-persist')) this.messages.push(stamped);
    else this.messagesAfterPersist.push(stamped);
  }

  protected reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    // Jitter over [electionTicks, 2 * electionTicks) splits votes rarely (thesis §3.4).
    this.randomizedElectionTimeout = this.electionTicks + this.random.int(this.electionTicks);
    this.votes.clear();
    const next = this.log.lastIndex() + 1;
    for (const [id, pr] of this.progress) {
      const fresh = new Progress(next, pr.isLearner, this.inflightLimits);
      if (id === this.id) fresh.match = this.log.lastStableIndex();
      this.progress.set(id, fresh);
    }
    this.uncommittedBytes = 0;
    this.transferee = NONE;
    this.readOnly.clear();
    this.readsAwaitingCommit = [];
  }

  protected quorumActive(): boolean {
    let active = 0;
    for (const id of this.voters()) {
      const pr = this.progress.get(id) as Progress;
      if (id === this.id || pr.recentActive) active++;
      if (id !== this.id) pr.recentActive = false;
    }
    return active >= majority(this.voters().length);
  }

  /**
   * Checks the invariants that must hold between steps; throws on any
   * breach (a bug, or corrupt state: crash rather than go on).
   */
  checkInvariants(): void {
    const fail = (what: string): never => {
      throw new Error(
        `Raft invariant broken on member ${this.id} (term ${this.term}, ${this.role}): ${what}`,
      );
    };
    if ((this.role === 'leader') !== (this.lead === this.id)) fail(`lead is ${this.lead}`);
    if (this.role === 'candidate' && this.vote !== this.id) fail(`candidate voted for ${this.vote}`);
    const { committed, applied } = this.log;
    if (!(applied <= committed && committed <= this.log.lastIndex())) {
      fail(`applied ${applied}, committed ${committed}, last ${this.log.lastIndex()}`);
    }
    if (this.log.lastStableIndex() > this.log.lastIndex()) fail('stable index past last index');
    for (const [id, pr] of this.progress) {
      if (pr.match >= pr.next) fail(`progress of ${id}: match ${pr.match} >= next ${pr.next}`);
      if ((pr.state === 'snapshot') !== (pr.snapshotSender !== undefined)) {
        fail(
          `progress of ${id}: state ${pr.state} with${pr.snapshotSender ? '' : 'out'} a snapshot transfer`,
        );
      }
    }
    if (this.role === 'leader' && !this.promotable()) fail('a leader that is not a voter');
    if (this.transferee !== NONE && (this.role !== 'leader' || !this.voters().includes(this.transferee))) {
      fail(`transferring leadership to ${this.transferee}, not a voter or not leading`);
    }
  }

  /** Steps down to follower in `term`, following `lead` (NONE when unknown). */
  abstract becomeFollower(term: number, lead: NodeId): void;
}
