/**
 * The Raft consensus core: a pure, deterministic state machine.
 *
 * Time is `tick()`; input is `step(message)` and `propose(data)`; output is
 * the messages and log changes collected for the next `Ready` (see
 * `RawNode`). No IO, no clock, no global random source: election jitter comes from
 * the injected `Random`, so one seed replays a run exactly.
 *
 * Each role is a pair of functions swapped in on a role change
 * (`#stepRole` / `#tickRole`), as in etcd/raft.
 *
 * @module
 */
import { LimitExceededError, NotLeaderError } from '../base/errors.ts';
import type { Random } from '../base/random.ts';
import { type InflightLimits, Progress } from './progress.ts';
import { committedIndex, majority, voteResult } from './quorum.ts';
import { RaftLog } from './raft-log.ts';
import {
  PENDING_READS_MAX_DEFAULT,
  type PendingRead,
  READ_CONTEXT_BYTES_MAX,
  ReadOnlyQueue,
} from './read-only.ts';
import type { RaftStorage } from './storage.ts';
import {
  type ConfState,
  type Entry,
  EntryType,
  entryBytes,
  type HardState,
  type Message,
  MessageType,
  message,
  NONE,
  type NodeId,
  type ReadState,
  type Role,
  type Snapshot,
  type SoftState,
} from './types.ts';

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
  /** The last index the state machine applied before a restart. */
  applied?: number;
  /** Test-only deliberate defects; see {@link RAFT_BUGS}. */
  bugs?: readonly RaftBug[];
}

function positiveInteger(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value > 0)) {
    throw new RangeError(`Cannot create Raft: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/** A Raft member. Drive it through `RawNode`, which turns its output into `Ready` batches. */
export class Raft {
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

  readonly #random: Random;
  readonly #electionTicks: number;
  readonly #heartbeatTicks: number;
  readonly #preVote: boolean;
  readonly #checkQuorum: boolean;
  readonly #appendBytesMax: number;
  readonly #uncommittedBytesMax: number;
  readonly #inflightLimits: InflightLimits;
  readonly #votes = new Map<NodeId, boolean>();
  readonly #bugs: ReadonlySet<RaftBug>;
  #electionElapsed = 0;
  #heartbeatElapsed = 0;
  #randomizedElectionTimeout = 0;
  #uncommittedBytes = 0;
  readonly #readOnly = new ReadOnlyQueue();
  // Reads that arrived before this leader committed an entry of its term: its commit index may be stale until then.
  #readsAwaitingCommit: { context: Uint8Array; requester: NodeId }[] = [];
  #stepRole: (m: Message) => void = (m) => this.#stepFollower(m);
  #tickRole: () => void = () => this.#tickElection();

  constructor(config: RaftConfig) {
    this.id = positiveInteger('id', config.id);
    this.#random = config.random;
    this.#electionTicks = positiveInteger('electionTicks', config.electionTicks ?? ELECTION_TICKS_DEFAULT);
    this.#heartbeatTicks = positiveInteger(
      'heartbeatTicks',
      config.heartbeatTicks ?? HEARTBEAT_TICKS_DEFAULT,
    );
    if (this.#heartbeatTicks >= this.#electionTicks) {
      throw new RangeError(
        `Cannot create Raft: heartbeatTicks (${this.#heartbeatTicks}) must be below electionTicks (${this.#electionTicks})`,
      );
    }
    this.#preVote = config.preVote ?? true;
    this.#checkQuorum = config.checkQuorum ?? true;
    this.#appendBytesMax = positiveInteger(
      'appendBytesMax',
      config.appendBytesMax ?? APPEND_BYTES_MAX_DEFAULT,
    );
    this.#uncommittedBytesMax = positiveInteger(
      'uncommittedBytesMax',
      config.uncommittedBytesMax ?? UNCOMMITTED_BYTES_MAX_DEFAULT,
    );
    this.#inflightLimits = {
      messagesMax: positiveInteger(
        'inflightMessagesMax',
        config.inflightMessagesMax ?? INFLIGHT_MESSAGES_MAX_DEFAULT,
      ),
      bytesMax: positiveInteger('inflightBytesMax', config.inflightBytesMax ?? INFLIGHT_BYTES_MAX_DEFAULT),
    };
    this.#bugs = new Set(config.bugs ?? []);
    this.log = new RaftLog(config.storage, { keepConflicts: this.#bugs.has('skip-truncate-on-conflict') });
    const { hardState, confState } = config.storage.initialState();
    this.#applyConfState(confState);
    if (hardState.term > 0 || hardState.commit > 0) this.#loadHardState(hardState);
    if (config.applied !== undefined && config.applied > 0) this.log.appliedTo(config.applied);
    this.becomeFollower(this.term, NONE);
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

  /** Whether this member may campaign: a voter in the current configuration. */
  promotable(): boolean {
    const pr = this.progress.get(this.id);
    return pr !== undefined && !pr.isLearner;
  }

  #loadHardState(hardState: HardState): void {
    if (hardState.commit < this.log.committed || hardState.commit > this.log.lastIndex()) {
      throw new Error(
        `Raft state corrupt: commit ${hardState.commit} outside [${this.log.committed}, ${this.log.lastIndex()}]`,
      );
    }
    this.log.committed = hardState.commit;
    this.term = hardState.term;
    this.vote = hardState.vote;
  }

  #applyConfState(confState: ConfState): void {
    this.progress.clear();
    const next = this.log.lastIndex() + 1;
    for (const id of confState.voters) this.progress.set(id, new Progress(next, false, this.#inflightLimits));
    for (const id of confState.learners)
      this.progress.set(id, new Progress(next, true, this.#inflightLimits));
  }

  /** Advances logical time by one tick. */
  tick(): void {
    this.#tickRole();
  }

  #tickElection(): void {
    this.#electionElapsed++;
    if (this.promotable() && this.#electionElapsed >= this.#randomizedElectionTimeout) {
      this.#electionElapsed = 0;
      this.step(message({ type: MessageType.hup, from: this.id }));
    }
  }

  #tickHeartbeat(): void {
    this.#heartbeatElapsed++;
    this.#electionElapsed++;
    if (this.#electionElapsed >= this.#electionTicks) {
      this.#electionElapsed = 0;
      if (this.#checkQuorum) this.step(message({ type: MessageType.checkQuorum, from: this.id }));
      if (this.role !== 'leader') return;
    }
    if (this.#heartbeatElapsed >= this.#heartbeatTicks) {
      this.#heartbeatElapsed = 0;
      this.step(message({ type: MessageType.beat, from: this.id }));
    }
  }

  #reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    // Jitter over [electionTicks, 2 * electionTicks) splits votes rarely (thesis §3.4).
    this.#randomizedElectionTimeout = this.#electionTicks + this.#random.int(this.#electionTicks);
    this.#votes.clear();
    const next = this.log.lastIndex() + 1;
    for (const [id, pr] of this.progress) {
      const fresh = new Progress(next, pr.isLearner, this.#inflightLimits);
      if (id === this.id) fresh.match = this.log.lastStableIndex();
      this.progress.set(id, fresh);
    }
    this.#uncommittedBytes = 0;
    this.#readOnly.clear();
    this.#readsAwaitingCommit = [];
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.#reset(term);
    this.lead = lead;
    this.role = 'follower';
    this.#stepRole = (m) => this.#stepFollower(m);
    this.#tickRole = () => this.#tickElection();
  }

  #becomePreCandidate(): void {
    if (this.role === 'leader')
      throw new Error('Raft invariant broken: a leader cannot become a pre-candidate');
    // Pre-vote changes neither term nor vote: a member that cannot win leaves no trace (thesis §9.6).
    this.#votes.clear();
    this.lead = NONE;
    this.role = 'preCandidate';
    this.#stepRole = (m) => this.#stepCandidate(m);
    this.#tickRole = () => this.#tickElection();
  }

  #becomeCandidate(): void {
    if (this.role === 'leader') throw new Error('Raft invariant broken: a leader cannot become a candidate');
    this.#reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.#stepRole = (m) => this.#stepCandidate(m);
    this.#tickRole = () => this.#tickElection();
  }

  #becomeLeader(): void {
    if (this.role === 'follower')
      throw new Error('Raft invariant broken: a follower cannot become leader directly');
    this.#reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    this.#stepRole = (m) => this.#stepLeader(m);
    this.#tickRole = () => this.#tickHeartbeat();
    const self = this.progress.get(this.id);
    self?.becomeReplicate();
    if (self !== undefined) self.match = this.log.lastStableIndex();
    // A no-op entry of the new term lets earlier entries commit (thesis §3.6.2, Figure 3.7).
    if (!this.#bugs.has('commit-old-term-by-count')) {
      this.#appendEntries([{ term: 0, index: 0, type: EntryType.normal, data: new Uint8Array(0) }]);
    }
  }

  /** Starts an election (or a pre-vote round) now. */
  campaign(): void {
    this.step(message({ type: MessageType.hup, from: this.id }));
  }

  #campaign(preElection: boolean): void {
    if (!this.promotable()) return;
    let voteType: MessageType;
    let term: number;
    if (preElection) {
      this.#becomePreCandidate();
      voteType = MessageType.preVote;
      term = this.term + 1;
    } else {
      this.#becomeCandidate();
      voteType = MessageType.vote;
      term = this.term;
    }
    if (this.#poll(this.id, true) === 'won') {
      if (preElection) this.#campaign(false);
      else this.#becomeLeader();
      return;
    }
    for (const id of this.voters()) {
      if (id === this.id) continue;
      // A vote request promises our term and self-vote are durable: it waits for persistence.
      this.#sendAfterPersist(
        message({ type: voteType, to: id, term, index: this.log.lastIndex(), logTerm: this.log.lastTerm() }),
      );
    }
  }

  #poll(id: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    if (!this.#votes.has(id)) this.#votes.set(id, granted);
    return voteResult(this.voters(), this.#votes);
  }

  #send(m: Message): void {
    this.messages.push({ ...m, from: this.id, term: m.term === 0 ? this.term : m.term });
  }

  #sendAfterPersist(m: Message): void {
    const stamped = { ...m, from: this.id, term: m.term === 0 ? this.term : m.term };
    if (this.#bugs.has('ack-before-persist')) this.messages.push(stamped);
    else this.messagesAfterPersist.push(stamped);
  }

  /**
   * Feeds one message in. Messages from the network must carry a term;
   * local ones (hup, beat, checkQuorum) carry term 0.
   */
  step(m: Message): void {
    if (m.term > this.term) {
      if (m.type === MessageType.vote || m.type === MessageType.preVote) {
        // Leader stickiness (thesis §4.2.3): while we hear from a leader, ignore vote requests.
        const inLease =
          this.#checkQuorum && this.lead !== NONE && this.#electionElapsed < this.#electionTicks;
        if (inLease) return;
      }
      if (m.type === MessageType.preVote) {
        // A pre-vote request's term is the one the candidate would use: ours does not change.
      } else if (m.type === MessageType.preVoteResponse && !m.reject) {
        // A granted pre-vote echoes the future term; we move to it only by winning.
      } else if (
        m.type === MessageType.append ||
        m.type === MessageType.heartbeat ||
        m.type === MessageType.snapshot
      ) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term !== 0 && m.term < this.term) {
      if (
        (this.#checkQuorum || this.#preVote) &&
        (m.type === MessageType.heartbeat || m.type === MessageType.append)
      ) {
        // Tell a stale leader our term so it steps down (it may be cut off from everyone but us).
        this.#send(message({ type: MessageType.appendResponse, to: m.from }));
      } else if (m.type === MessageType.preVote) {
        this.#send(message({ type: MessageType.preVoteResponse, to: m.from, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case MessageType.hup:
        if (this.role !== 'leader') this.#campaign(this.#preVote);
        return;
      case MessageType.vote:
      case MessageType.preVote:
        this.#handleVoteRequest(m);
        return;
      default:
        this.#stepRole(m);
    }
  }

  #handleVoteRequest(m: Message): void {
    const pre = m.type === MessageType.preVote;
    const canVote =
      this.vote === m.from ||
      (this.#bugs.has('vote-twice-in-term') && !pre) ||
      (this.vote === NONE && this.lead === NONE) ||
      (pre && m.term > this.term);
    const responseType = pre ? MessageType.preVoteResponse : MessageType.voteResponse;
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // A granted pre-vote answers in the candidate's future term; a vote in ours (now equal to it).
      this.#sendAfterPersist(message({ type: responseType, to: m.from, term: m.term }));
      if (!pre) {
        this.#electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.#sendAfterPersist(message({ type: responseType, to: m.from, reject: true }));
    }
  }

  #stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.append:
        this.#electionElapsed = 0;
        this.lead = m.from;
        this.#handleAppend(m);
        return;
      case MessageType.heartbeat:
        this.#electionElapsed = 0;
        this.lead = m.from;
        this.#handleHeartbeat(m);
        return;
      case MessageType.snapshot:
        this.#electionElapsed = 0;
        this.lead = m.from;
        this.#handleSnapshot(m);
        return;
      case MessageType.readIndexResponse:
        this.readStates.push({ index: m.index, context: m.context });
        return;
    }
  }

  #stepCandidate(m: Message): void {
    const ourResponse = this.role === 'preCandidate' ? MessageType.preVoteResponse : MessageType.voteResponse;
    switch (m.type) {
      case MessageType.append:
        this.becomeFollower(m.term, m.from);
        this.#handleAppend(m);
        return;
      case MessageType.heartbeat:
        this.becomeFollower(m.term, m.from);
        this.#handleHeartbeat(m);
        return;
      case MessageType.snapshot:
        this.becomeFollower(m.term, m.from);
        this.#handleSnapshot(m);
        return;
      case ourResponse: {
        const result = this.#poll(m.from, !m.reject);
        if (result === 'won') {
          if (this.role === 'preCandidate') this.#campaign(false);
          else {
            this.#becomeLeader();
            this.#broadcastAppend();
          }
        } else if (result === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
    }
  }

  #stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.beat:
        this.#broadcastHeartbeat();
        return;
      case MessageType.checkQuorum:
        if (!this.#quorumActive()) this.becomeFollower(this.term, NONE);
        return;
    }
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case MessageType.appendResponse:
        pr.recentActive = true;
        this.#handleAppendResponse(m, pr);
        return;
      case MessageType.readIndex:
        this.#leaderReadIndex(m.context, m.from);
        return;
      case MessageType.heartbeatResponse:
        pr.recentActive = true;
        pr.probeSent = false;
        if (m.context.length > 0) this.#confirmRead(m.context, m.from);
        if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeProbe();
        if (pr.state === 'replicate' && pr.inflightFull()) pr.freeFirstInflight();
        if (pr.match < this.log.lastIndex()) this.#sendAppend(m.from);
        return;
    }
  }

  #handleAppendResponse(m: Message, pr: Progress): void {
    if (m.reject) {
      // Fast backtracking: jump to where the logs can agree instead of one entry per round trip.
      const hint = m.logTerm > 0 ? this.log.findConflictByTerm(m.rejectHint, m.logTerm) : m.rejectHint;
      if (pr.maybeDecreaseTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.#sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeProbe();
    else if (pr.state === 'replicate') pr.freeInflightsTo(m.index);
    if (this.#maybeCommit()) this.#broadcastAppend();
    else if (wasPaused) this.#sendAppend(m.from);
    // Pipelining: keep the window full while there is more to send.
    while (this.#maybeSendAppend(m.from, false)) {
      /* each call sends one more message, bounded by the in-flight window */
    }
  }

  #handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.#sendAfterPersist(
        message({ type: MessageType.appendResponse, to: m.from, index: this.log.committed }),
      );
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      // The acknowledgement promises the entries are durable: it waits for persistence.
      this.#sendAfterPersist(message({ type: MessageType.appendResponse, to: m.from, index: lastNew }));
      return;
    }
    const hintIndex = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.#sendAfterPersist(
      message({
        type: MessageType.appendResponse,
        to: m.from,
        index: m.index,
        reject: true,
        rejectHint: hintIndex,
        logTerm: this.log.term(hintIndex) ?? 0,
      }),
    );
  }

  #handleHeartbeat(m: Message): void {
    // The leader sends at most what it knows we match, so this commits only entries we share with it.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.#send(message({ type: MessageType.heartbeatResponse, to: m.from, context: m.context }));
  }

  #handleSnapshot(m: Message): void {
    const snapshot = m.snapshot;
    if (snapshot === undefined) return;
    if (this.#restore(snapshot)) {
      this.#sendAfterPersist(
        message({ type: MessageType.appendResponse, to: m.from, index: this.log.lastIndex() }),
      );
    } else {
      this.#sendAfterPersist(
        message({ type: MessageType.appendResponse, to: m.from, index: this.log.committed }),
      );
    }
  }

  #restore(snapshot: Snapshot): boolean {
    const { index, term, confState } = snapshot.metadata;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      // We already have the snapshot's last entry: just fast-forward the commit index.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snapshot);
    this.#applyConfState(confState);
    return true;
  }

  #quorumActive(): boolean {
    let active = 0;
    for (const id of this.voters()) {
      const pr = this.progress.get(id) as Progress;
      if (id === this.id || pr.recentActive) active++;
      if (id !== this.id) pr.recentActive = false;
    }
    return active >= majority(this.voters().length);
  }

  #maybeCommit(): boolean {
    const matchOf = (id: NodeId): number => this.progress.get(id)?.match ?? 0;
    const index = this.#bugs.has('commit-without-quorum')
      ? matchOf(this.id)
      : committedIndex(this.voters(), matchOf);
    if (this.#bugs.has('commit-old-term-by-count'))
      return this.log.maybeCommit(index, this.log.term(index) ?? -1);
    // Only an entry of the current term commits by counting replicas (§3.6.2, Figure 3.7).
    if (!this.log.maybeCommit(index, this.term)) return false;
    // The first commit of the term makes the commit index trustworthy for reads (§6.4 step 1).
    const waiting = this.#readsAwaitingCommit;
    this.#readsAwaitingCommit = [];
    for (const { context, requester } of waiting) this.#leaderReadIndex(context, requester);
    return true;
  }

  #broadcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.#sendAppend(id);
  }

  /** Heartbeats carry the newest pending read's context, so a lost confirmation round retries. */
  #broadcastHeartbeat(context = this.#readOnly.lastContext()): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      const commit = Math.min(pr.match, this.log.committed);
      this.#send(
        message({
          type: MessageType.heartbeat,
          to: id,
          commit,
          ...(context === undefined ? {} : { context }),
        }),
      );
    }
  }

  /**
   * Asks for a linearizable read point without writing to the log (ReadIndex,
   * thesis §6.4). Once confirmed, a `ReadState` with `context` appears in a
   * Ready: serve the read after applying up to its index.
   *
   * @throws {NotLeaderError} when no leader is known to ask.
   * @throws {RangeError} when `context` is empty or over {@link READ_CONTEXT_BYTES_MAX} bytes.
   * @throws {LimitExceededError} when {@link PENDING_READS_MAX_DEFAULT} reads already wait.
   */
  readIndex(context: Uint8Array): void {
    if (context.length === 0 || context.length > READ_CONTEXT_BYTES_MAX) {
      throw new RangeError(
        `Cannot read: context must be 1..${READ_CONTEXT_BYTES_MAX} bytes, got ${context.length}`,
      );
    }
    if (this.role === 'leader') {
      this.#leaderReadIndex(context, this.id);
    } else if (this.lead !== NONE) {
      this.#send(message({ type: MessageType.readIndex, to: this.lead, context }));
    } else {
      throw new NotLeaderError(`Cannot read: member ${this.id} knows no leader`, {
        details: { leaderHint: NONE },
      });
    }
  }

  #leaderReadIndex(context: Uint8Array, requester: NodeId): void {
    if (this.#readOnly.length + this.#readsAwaitingCommit.length >= PENDING_READS_MAX_DEFAULT) {
      if (requester === this.id) {
        throw new LimitExceededError(
          `Cannot read: ${PENDING_READS_MAX_DEFAULT} reads already wait for a quorum`,
        );
      }
      return; // A forwarded read is dropped; its requester times out and retries.
    }
    if (this.log.term(this.log.committed) !== this.term) {
      this.#readsAwaitingCommit.push({ context, requester });
      return;
    }
    const read = { index: this.log.committed, context, requester, acks: new Set([this.id]) };
    if (this.voters().length === 1 || this.#bugs.has('read-without-quorum-check')) {
      this.#answerRead(read);
      return;
    }
    if (this.#readOnly.add(read)) this.#broadcastHeartbeat(context);
  }

  #confirmRead(context: Uint8Array, from: NodeId): void {
    const read = this.#readOnly.ack(context, from);
    if (read === undefined) return;
    const voters = this.voters();
    let acks = 0;
    for (const id of read.acks) if (voters.includes(id)) acks++;
    if (acks < majority(voters.length)) return;
    for (const done of this.#readOnly.release(read)) this.#answerRead(done);
  }

  #answerRead(read: Pick<PendingRead, 'index' | 'context' | 'requester'>): void {
    if (read.requester === this.id) {
      this.readStates.push({ index: read.index, context: read.context });
      return;
    }
    const { index, context, requester } = read;
    this.#send(message({ type: MessageType.readIndexResponse, to: requester, index, context }));
  }

  #sendAppend(to: NodeId): void {
    this.#maybeSendAppend(to, true);
  }

  /** Sends the next append to `to` if its progress allows; returns whether it sent anything. */
  #maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const previousIndex = pr.next - 1;
    const previousTerm = this.log.term(previousIndex);
    const entries = this.log.slice(pr.next, this.log.lastIndex() + 1, this.#appendBytesMax);
    if (entries !== undefined && entries.length === 0 && !sendIfEmpty) return false;
    if (previousTerm === undefined || entries === undefined) return this.#sendSnapshot(to, pr);
    let bytes = 0;
    for (const entry of entries) bytes += entryBytes(entry);
    this.#send(
      message({
        type: MessageType.append,
        to,
        index: previousIndex,
        logTerm: previousTerm,
        entries,
        commit: this.log.committed,
      }),
    );
    pr.sentEntries(entries.length, previousIndex + entries.length, bytes);
    return true;
  }

  #sendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false;
    const snapshot = this.log.snapshot();
    if (snapshot.metadata.index === 0)
      throw new Error('Raft invariant broken: entries compacted with no snapshot');
    this.#send(message({ type: MessageType.snapshot, to, snapshot }));
    pr.becomeSnapshot(snapshot.metadata.index);
    return true;
  }

  /** The transport could not deliver a snapshot to `id` (or did): retry from probing either way. */
  reportSnapshot(id: NodeId, delivered: boolean): void {
    const pr = this.progress.get(id);
    if (this.role !== 'leader' || pr === undefined || pr.state !== 'snapshot') return;
    if (!delivered) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the next heartbeat response before probing again.
    pr.probeSent = true;
  }

  /** `id` could not be reached: stop streaming to it and fall back to probing. */
  reportUnreachable(id: NodeId): void {
    const pr = this.progress.get(id);
    if (this.role === 'leader' && pr?.state === 'replicate') pr.becomeProbe();
  }

  /**
   * Appends `data` to the log as a new entry, if this member leads.
   *
   * @returns the entry's index (it is committed once applied at that index).
   * @throws {NotLeaderError} when this member does not lead (`leaderHint` names who does, 0 if unknown).
   * @throws {LimitExceededError} when uncommitted proposals already hold `uncommittedBytesMax`.
   */
  propose(data: Uint8Array, type: EntryType = EntryType.normal): number {
    if (this.role !== 'leader') {
      throw new NotLeaderError(`Cannot propose: member ${this.id} is not the leader`, {
        details: { leaderHint: this.lead },
      });
    }
    if (!this.#appendEntries([{ term: 0, index: 0, type, data }])) {
      throw new LimitExceededError(
        `Cannot propose: ${this.#uncommittedBytes} bytes are uncommitted (uncommittedBytesMax ${this.#uncommittedBytesMax}); the cluster may have lost its quorum`,
      );
    }
    this.#broadcastAppend();
    return this.log.lastIndex();
  }

  /** Appends entries as leader, numbering them; false when the uncommitted limit refuses them. */
  #appendEntries(entries: readonly Entry[]): boolean {
    let bytes = 0;
    for (const entry of entries) bytes += entry.data.length;
    // An empty log of uncommitted proposals always admits one batch, however large, so nothing is stuck forever.
    if (this.#uncommittedBytes > 0 && this.#uncommittedBytes + bytes > this.#uncommittedBytesMax)
      return false;
    this.#uncommittedBytes += bytes;
    const lastIndex = this.log.lastIndex();
    this.log.append(entries.map((entry, i) => ({ ...entry, term: this.term, index: lastIndex + 1 + i })));
    return true;
  }

  /** Committed entries went to the state machine: they no longer count as uncommitted. */
  reduceUncommittedBytes(entries: readonly Entry[]): void {
    if (this.role !== 'leader') return;
    let bytes = 0;
    for (const entry of entries) bytes += entry.data.length;
    this.#uncommittedBytes = Math.max(0, this.#uncommittedBytes - bytes);
  }

  /**
   * The caller made entries up to (`index`, `term`) durable. The leader's
   * own log counts toward the commit quorum only from here (thesis
   * §10.2.1: the leader's write overlaps replication, but an entry on a
   * majority of *disks* is what commits).
   */
  persisted(index: number, term: number): void {
    this.log.stableTo(index, term);
    if (this.role !== 'leader') return;
    const self = this.progress.get(this.id);
    if (self?.maybeUpdate(this.log.lastStableIndex()) && this.#maybeCommit()) {
      this.#broadcastAppend();
    }
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
    }
  }
}
