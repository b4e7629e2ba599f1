/**
 * The Raft consensus core: a pure, deterministic state machine.
 *
 * Time is `tick()`; input is `step(message)` and `propose(data)`; output is
 * the messages and log changes collected for the next `Ready` (see
 * `RawNode`). No IO, no clock, no global random source: election jitter comes from
 * the injected `Random`, so one seed replays a run exactly.
 *
 * Each role is a pair of functions swapped in on a role change
 * (`stepRole` / `tickRole`), as in etcd/raft. The class is layered over
 * three files: shared state and helpers (`raft-base.ts`), the leader's
 * behaviour (`raft-leader.ts`), and here elections, following and role
 * changes; settings and limits are in `raft-config.ts`.
 *
 * @module
 */
import { InvalidArgumentError } from '../base/errors.ts';
import { type ConfChange, nextConfState } from './conf-change.ts';
import { voteResult } from './quorum.ts';
import { isTransferContext, type RaftConfig, TRANSFER_CONTEXT } from './raft-config.ts';
import { RaftLeader } from './raft-leader.ts';
import { SNAPSHOT_BYTES_MAX, SnapshotReceiver, snapshotAck } from './snapshot-transfer.ts';
import {
  type ConfState,
  EntryType,
  type Message,
  MessageType,
  message,
  NONE,
  type NodeId,
  type SnapshotRef,
} from './types.ts';

export * from './raft-config.ts';

/** A Raft member. Drive it through `RawNode`, which turns its output into `Ready` batches. */
export class Raft extends RaftLeader {
  constructor(config: RaftConfig) {
    super(config);
    this.becomeFollower(this.term, NONE);
  }

  /**
   * Applies a committed membership change (the caller, `RawNode.advance`,
   * does this in log order as entries are applied). A change that is not
   * allowed from the current membership is a no-op on every member alike.
   *
   * @returns the membership now in force.
   */
  applyConfChange(change: ConfChange): ConfState {
    const next = nextConfState(this.confState(), change);
    if (next instanceof InvalidArgumentError) return this.confState();
    this.applyConfState(next);
    if (this.role !== 'leader') return next;
    if (!this.promotable()) {
      // Removed or demoted: stop leading; the others elect a leader among themselves (thesis §4.2.2).
      this.becomeFollower(this.term, NONE);
      return next;
    }
    if (this.transferee !== NONE && !this.voters().includes(this.transferee)) {
      this.transferee = NONE;
    }
    // The quorum changed: what a majority holds may now be more (or the new member needs entries).
    if (this.maybeCommit()) this.broadcastAppend();
    else for (const id of this.progress.keys()) if (id !== this.id) this.maybeSendAppend(id, false);
    return next;
  }

  /** Advances logical time by one tick. */
  tick(): void {
    this.tickRole();
  }

  protected tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(message({ type: MessageType.hup, from: this.id }));
    }
  }

  protected tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(message({ type: MessageType.checkQuorum, from: this.id }));
      if (this.role !== 'leader') return;
      // A transfer that did not finish within an election timeout is abandoned (thesis §3.10).
      this.transferee = NONE;
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.step(message({ type: MessageType.beat, from: this.id }));
    }
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
    this.stepRole = (m) => this.stepFollower(m);
    this.tickRole = () => this.tickElection();
  }

  protected becomePreCandidate(): void {
    if (this.role === 'leader')
      throw new Error('Raft invariant broken: a leader cannot become a pre-candidate');
    // Pre-vote changes neither term nor vote: a member that cannot win leaves no trace (thesis §9.6).
    this.votes.clear();
    this.lead = NONE;
    this.role = 'preCandidate';
    this.stepRole = (m) => this.stepCandidate(m);
    this.tickRole = () => this.tickElection();
  }

  protected becomeCandidate(): void {
    if (this.role === 'leader') throw new Error('Raft invariant broken: a leader cannot become a candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.stepRole = (m) => this.stepCandidate(m);
    this.tickRole = () => this.tickElection();
  }

  protected becomeLeader(): void {
    if (this.role === 'follower')
      throw new Error('Raft invariant broken: a follower cannot become leader directly');
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    this.stepRole = (m) => this.stepLeader(m);
    this.tickRole = () => this.tickHeartbeat();
    const self = this.progress.get(this.id);
    self?.becomeReplicate();
    if (self !== undefined) self.match = this.log.lastStableIndex();
    // No membership change until everything before this term is applied, which
    // needs the no-op below committed: the single-server change fix.
    this.pendingConfIndex = this.log.lastIndex();
    // A no-op entry of the new term lets earlier entries commit (thesis §3.6.2, Figure 3.7).
    if (!this.bugs.has('commit-old-term-by-count')) {
      this.appendEntries([{ term: 0, index: 0, type: EntryType.normal, data: new Uint8Array(0) }]);
    }
  }

  /** Starts an election (or a pre-vote round) now. */
  campaign(): void {
    this.step(message({ type: MessageType.hup, from: this.id }));
  }

  protected campaignAs(preElection: boolean, transfer = false): void {
    if (!this.promotable()) return;
    let voteType: MessageType;
    let term: number;
    if (preElection) {
      this.becomePreCandidate();
      voteType = MessageType.preVote;
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = MessageType.vote;
      term = this.term;
    }
    if (this.poll(this.id, true) === 'won') {
      if (preElection) this.campaignAs(false);
      else this.becomeLeader();
      return;
    }
    for (const id of this.voters()) {
      if (id === this.id) continue;
      // A vote request promises our term and self-vote are durable: it waits for persistence.
      this.sendAfterPersist(
        message({
          type: voteType,
          to: id,
          term,
          index: this.log.lastIndex(),
          logTerm: this.log.lastTerm(),
          ...(transfer ? { context: TRANSFER_CONTEXT } : {}),
        }),
      );
    }
  }

  protected poll(id: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    return voteResult(this.voters(), this.votes);
  }

  /**
   * Feeds one message in. Messages from the network must carry a term;
   * local ones (hup, beat, checkQuorum) carry term 0.
   */
  step(m: Message): void {
    if (m.term > this.term) {
      if (m.type === MessageType.vote || m.type === MessageType.preVote) {
        // Leader stickiness (thesis §4.2.3): while we hear from a leader, ignore vote requests.
        // A campaign the leader asked for (leadership transfer, §3.10) is exempt.
        const inLease =
          this.checkQuorum &&
          this.lead !== NONE &&
          this.electionElapsed < this.electionTicks &&
          !isTransferContext(m.context);
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
        (this.checkQuorum || this.preVote) &&
        (m.type === MessageType.heartbeat || m.type === MessageType.append)
      ) {
        // Tell a stale leader our term so it steps down (it may be cut off from everyone but us).
        this.send(message({ type: MessageType.appendResponse, to: m.from }));
      } else if (m.type === MessageType.preVote) {
        this.send(message({ type: MessageType.preVoteResponse, to: m.from, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case MessageType.hup:
        if (this.role !== 'leader') this.campaignAs(this.preVote);
        return;
      case MessageType.vote:
      case MessageType.preVote:
        this.handleVoteRequest(m);
        return;
      default:
        this.stepRole(m);
    }
  }

  protected handleVoteRequest(m: Message): void {
    const pre = m.type === MessageType.preVote;
    const canVote =
      this.vote === m.from ||
      (this.bugs.has('vote-twice-in-term') && !pre) ||
      (this.vote === NONE && this.lead === NONE) ||
      (pre && m.term > this.term);
    const responseType = pre ? MessageType.preVoteResponse : MessageType.voteResponse;
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // A granted pre-vote answers in the candidate's future term; a vote in ours (now equal to it).
      this.sendAfterPersist(message({ type: responseType, to: m.from, term: m.term }));
      if (!pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.sendAfterPersist(message({ type: responseType, to: m.from, reject: true }));
    }
  }

  protected stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.append:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case MessageType.heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.snapshot:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.readIndexResponse:
        this.readStates.push({ index: m.index, context: m.context });
        return;
      case MessageType.timeoutNow:
        // The leader hands over (thesis §3.10): campaign at once, skipping pre-vote, which would fail
        // against members that still hear from the leader.
        this.campaignAs(false, true);
        return;
      case MessageType.transferLeader:
        // A transfer request reached a follower: pass it to the leader.
        if (this.lead !== NONE) this.send({ ...m, to: this.lead, term: 0 });
        return;
    }
  }

  protected stepCandidate(m: Message): void {
    const ourResponse = this.role === 'preCandidate' ? MessageType.preVoteResponse : MessageType.voteResponse;
    switch (m.type) {
      case MessageType.append:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case MessageType.heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.snapshot:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case ourResponse: {
        const result = this.poll(m.from, !m.reject);
        if (result === 'won') {
          if (this.role === 'preCandidate') this.campaignAs(false);
          else {
            this.becomeLeader();
            this.broadcastAppend();
          }
        } else if (result === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
    }
  }

  protected handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.sendAfterPersist(
        message({ type: MessageType.appendResponse, to: m.from, index: this.log.committed }),
      );
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      // The acknowledgement promises the entries are durable: it waits for persistence.
      this.sendAfterPersist(message({ type: MessageType.appendResponse, to: m.from, index: lastNew }));
      return;
    }
    const hintIndex = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.sendAfterPersist(
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

  protected handleHeartbeat(m: Message): void {
    // The leader sends at most what it knows we match, so this commits only entries we share with it.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send(message({ type: MessageType.heartbeatResponse, to: m.from, context: m.context }));
  }

  protected handleSnapshot(m: Message): void {
    const chunk = m.snapshot;
    if (chunk === undefined) return;
    const ack = (received: number, options: { reject?: boolean; taken?: number } = {}) =>
      this.send(
        message({
          type: MessageType.snapshotResponse,
          to: m.from,
          reject: options.reject ?? false,
          snapshot: snapshotAck(chunk.metadata, received, chunk.totalBytes, options.taken),
        }),
      );
    if (chunk.metadata.index <= this.log.committed) {
      this.receiving = undefined;
      this.sendAfterPersist(
        message({ type: MessageType.appendResponse, to: m.from, index: this.log.committed }),
      );
      return;
    }
    if (this.log.unstableSnapshot() !== undefined) {
      // A snapshot completed and awaits persisting: its chunks end this Ready's `snapshotChunks`
      // (the contract), so chunks of a newer transfer wait for `advance()`; the leader resends them.
      return;
    }
    if (chunk.totalBytes > SNAPSHOT_BYTES_MAX) {
      ack(0, { reject: true });
      return;
    }
    let receiving = this.receiving;
    if (receiving === undefined || !receiving.matches(m.from, m.term, chunk)) {
      // A transfer starts at offset 0; a chunk of one we do not hold (we restarted, or a newer leader) asks
      // for a resend from the start.
      if (chunk.offset !== 0) {
        ack(0);
        return;
      }
      receiving = new SnapshotReceiver(m.from, m.term, chunk);
      this.receiving = receiving;
    }
    const taken = receiving.accept(chunk);
    if (taken) this.snapshotChunks.push(chunk);
    if (!receiving.complete) {
      ack(receiving.received, { taken: taken ? chunk.length : 0 });
      return;
    }
    this.receiving = undefined;
    const snapshot = receiving.snapshot();
    if (this.restore(snapshot)) {
      this.sendAfterPersist(
        message({ type: MessageType.appendResponse, to: m.from, index: this.log.lastIndex() }),
      );
    } else {
      this.sendAfterPersist(
        message({ type: MessageType.appendResponse, to: m.from, index: this.log.committed }),
      );
    }
  }

  protected restore(snapshot: SnapshotRef): boolean {
    const { index, term, confState } = snapshot.metadata;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      // We already have the snapshot's last entry: just fast-forward the commit index.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snapshot);
    this.applyConfState(confState);
    return true;
  }
}
