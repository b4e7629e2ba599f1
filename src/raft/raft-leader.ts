/**
 * The leader's half of Raft: replication with per-follower progress and
 * pipelining, commitment, heartbeats, ReadIndex, snapshot sending,
 * proposals, membership-change proposals and leadership transfer.
 *
 * @module
 */
import {
  InvalidArgumentError,
  LimitExceededError,
  NotLeaderError,
  UnavailableError,
} from '../base/errors.ts';
import { type ConfChange, describeConfChange, encodeConfChange, nextConfState } from './conf-change.ts';
import type { Progress } from './progress.ts';
import { committedIndex, majority } from './quorum.ts';
import { RaftBase } from './raft-base.ts';
import { PENDING_READS_MAX_DEFAULT, type PendingRead, READ_CONTEXT_BYTES_MAX } from './read-only.ts';
import { SnapshotSender } from './snapshot-transfer.ts';
import {
  type Entry,
  EntryType,
  entryBytes,
  type Message,
  MessageType,
  message,
  NONE,
  type NodeId,
} from './types.ts';

/** A Raft member's leader behaviour; see {@link Raft}. */
export abstract class RaftLeader extends RaftBase {
  protected stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.beat:
        this.broadcastHeartbeat();
        return;
      case MessageType.checkQuorum:
        if (!this.quorumActive()) this.becomeFollower(this.term, NONE);
        return;
      case MessageType.transferLeader:
        this.transferTo(m.index);
        return;
    }
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case MessageType.appendResponse:
        pr.recentActive = true;
        this.handleAppendResponse(m, pr);
        return;
      case MessageType.readIndex:
        this.leaderReadIndex(m.context, m.from);
        return;
      case MessageType.snapshotResponse:
        pr.recentActive = true;
        this.handleSnapshotResponse(m, pr);
        return;
      case MessageType.heartbeatResponse:
        pr.recentActive = true;
        pr.probeSent = false;
        if (m.context.length > 0) this.confirmRead(m.context, m.from);
        if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeProbe();
        if (pr.state === 'snapshot') {
          // Resend chunks if acknowledgements stopped coming (lost chunks or acks).
          pr.snapshotSender?.onSilence();
          this.sendSnapshotChunks(m.from, pr);
        }
        if (pr.state === 'replicate' && pr.inflightFull()) pr.freeFirstInflight();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
        return;
    }
  }

  protected handleAppendResponse(m: Message, pr: Progress): void {
    if (m.reject) {
      // Fast backtracking: jump to where the logs can agree instead of one entry per round trip.
      const hint = m.logTerm > 0 ? this.log.findConflictByTerm(m.rejectHint, m.logTerm) : m.rejectHint;
      if (pr.maybeDecreaseTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeProbe();
    else if (pr.state === 'replicate') pr.freeInflightsTo(m.index);
    if (this.maybeCommit()) this.broadcastAppend();
    else if (wasPaused) this.sendAppend(m.from);
    if (m.from === this.transferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
    // Pipelining: keep the window full while there is more to send.
    while (this.maybeSendAppend(m.from, false)) {
      /* each call sends one more message, bounded by the in-flight window */
    }
  }

  protected maybeCommit(): boolean {
    const matchOf = (id: NodeId): number => this.progress.get(id)?.match ?? 0;
    const index = this.bugs.has('commit-without-quorum')
      ? matchOf(this.id)
      : committedIndex(this.voters(), matchOf);
    if (this.bugs.has('commit-old-term-by-count'))
      return this.log.maybeCommit(index, this.log.term(index) ?? -1);
    // Only an entry of the current term commits by counting replicas (§3.6.2, Figure 3.7).
    if (!this.log.maybeCommit(index, this.term)) return false;
    // The first commit of the term makes the commit index trustworthy for reads (§6.4 step 1).
    const waiting = this.readsAwaitingCommit;
    this.readsAwaitingCommit = [];
    for (const { context, requester } of waiting) this.leaderReadIndex(context, requester);
    return true;
  }

  protected broadcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  /** Heartbeats carry the newest pending read's context, so a lost confirmation round retries. */
  protected broadcastHeartbeat(context = this.readOnly.lastContext()): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      const commit = Math.min(pr.match, this.log.committed);
      this.send(
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
      this.leaderReadIndex(context, this.id);
    } else if (this.lead !== NONE) {
      this.send(message({ type: MessageType.readIndex, to: this.lead, context }));
    } else {
      throw new NotLeaderError(`Cannot read: member ${this.id} knows no leader`, {
        details: { leaderHint: NONE },
      });
    }
  }

  protected leaderReadIndex(context: Uint8Array, requester: NodeId): void {
    if (this.readOnly.length + this.readsAwaitingCommit.length >= PENDING_READS_MAX_DEFAULT) {
      if (requester === this.id) {
        throw new LimitExceededError(
          `Cannot read: ${PENDING_READS_MAX_DEFAULT} reads already wait for a quorum`,
        );
      }
      return; // A forwarded read is dropped; its requester times out and retries.
    }
    if (this.log.term(this.log.committed) !== this.term) {
      this.readsAwaitingCommit.push({ context, requester });
      return;
    }
    const read = { index: this.log.committed, context, requester, acks: new Set([this.id]) };
    if (this.voters().length === 1 || this.bugs.has('read-without-quorum-check')) {
      this.answerRead(read);
      return;
    }
    if (this.readOnly.add(read)) this.broadcastHeartbeat(context);
  }

  protected confirmRead(context: Uint8Array, from: NodeId): void {
    const read = this.readOnly.ack(context, from);
    if (read === undefined) return;
    const voters = this.voters();
    let acks = 0;
    for (const id of read.acks) if (voters.includes(id)) acks++;
    if (acks < majority(voters.length)) return;
    for (const done of this.readOnly.release(read)) this.answerRead(done);
  }

  protected answerRead(read: Pick<PendingRead, 'index' | 'context' | 'requester'>): void {
    if (read.requester === this.id) {
      this.readStates.push({ index: read.index, context: read.context });
      return;
    }
    const { index, context, requester } = read;
    this.send(message({ type: MessageType.readIndexResponse, to: requester, index, context }));
  }

  protected sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /** Sends the next append to `to` if its progress allows; returns whether it sent anything. */
  protected maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const previousIndex = pr.next - 1;
    const previousTerm = this.log.term(previousIndex);
    const entries = this.log.slice(pr.next, this.log.lastIndex() + 1, this.appendBytesMax);
    if (entries !== undefined && entries.length === 0 && !sendIfEmpty) return false;
    if (previousTerm === undefined || entries === undefined) return this.sendSnapshot(to, pr);
    let bytes = 0;
    for (const entry of entries) bytes += entryBytes(entry);
    this.send(
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

  protected sendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false;
    const snapshot = this.log.snapshot();
    if (snapshot.metadata.index === 0)
      throw new Error('Raft invariant broken: entries compacted with no snapshot');
    pr.becomeSnapshot(new SnapshotSender(snapshot, this.snapshotChunkBytes, this.snapshotChunksInflight));
    this.sendSnapshotChunks(to, pr);
    return true;
  }

  protected sendSnapshotChunks(to: NodeId, pr: Progress): void {
    for (const chunk of pr.snapshotSender?.nextChunks() ?? []) {
      this.send(message({ type: MessageType.snapshot, to, snapshot: chunk }));
    }
  }

  protected handleSnapshotResponse(m: Message, pr: Progress): void {
    const sender = pr.snapshotSender;
    if (pr.state !== 'snapshot' || sender === undefined || m.snapshot?.metadata.index !== sender.index)
      return;
    if (m.reject) {
      // The follower cannot take this snapshot (too large for it): probe again later.
      pr.becomeProbe();
      pr.probeSent = true;
      return;
    }
    sender.onAck(m.snapshot.offset, m.snapshot.length > 0);
    this.sendSnapshotChunks(m.from, pr);
  }

  /**
   * The transport tells whether it could deliver the snapshot stream to
   * `id`. Failure abandons the transfer and probes again after the next
   * heartbeat; success needs no report (chunk acknowledgements say it).
   */
  reportSnapshot(id: NodeId, delivered: boolean): void {
    const pr = this.progress.get(id);
    if (delivered || this.role !== 'leader' || pr === undefined || pr.state !== 'snapshot') return;
    pr.pendingSnapshot = 0;
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
  propose(data: Uint8Array): number {
    return this.appendProposal(data, EntryType.normal);
  }

  protected appendProposal(data: Uint8Array, type: EntryType): number {
    const action = type === EntryType.normal ? 'propose' : 'change membership';
    if (this.role !== 'leader') {
      throw new NotLeaderError(`Cannot ${action}: member ${this.id} is not the leader`, {
        details: { leaderHint: this.lead },
      });
    }
    if (this.transferee !== NONE) {
      throw new UnavailableError(
        `Cannot ${action}: leadership is being transferred to member ${this.transferee}; retry`,
        { details: { leaderHint: this.transferee } },
      );
    }
    if (!this.appendEntries([{ term: 0, index: 0, type, data }])) {
      throw new LimitExceededError(
        `Cannot propose: ${this.uncommittedBytes} bytes are uncommitted (uncommittedBytesMax ${this.uncommittedBytesMax}); the cluster may have lost its quorum`,
      );
    }
    this.broadcastAppend();
    return this.log.lastIndex();
  }

  /**
   * Proposes a membership change, one server at a time (see
   * `conf-change.ts` for why, and for the single-server fix this enforces).
   * It takes effect on each member when applied.
   *
   * @returns the change entry's index.
   * @throws {NotLeaderError} when this member does not lead.
   * @throws {UnavailableError} while an earlier change is not yet applied, before this leader committed an
   *   entry of its term, or during a leadership transfer: retry later.
   * @throws {InvalidArgumentError} when the change is not allowed from the current membership.
   * @throws {LimitExceededError} as {@link propose}.
   */
  proposeConfChange(change: ConfChange): number {
    if (this.role === 'leader') {
      const next = nextConfState(this.confState(), change);
      if (next instanceof InvalidArgumentError) throw next;
      if (this.pendingConfIndex > this.log.applied || this.log.term(this.log.committed) !== this.term) {
        throw new UnavailableError(
          `Cannot ${describeConfChange(change)}: an earlier membership change (index ${this.pendingConfIndex}) is not applied yet; retry`,
        );
      }
    }
    const index = this.appendProposal(encodeConfChange(change), EntryType.confChange);
    this.pendingConfIndex = index;
    return index;
  }

  /**
   * Hands leadership to voter `to` (thesis §3.10): the leader stops taking
   * proposals, brings `to` up to date, and tells it to campaign at once.
   * Abandoned if not done within an election timeout. On a follower the
   * request is passed to the leader.
   *
   * @throws {NotLeaderError} when no leader is known.
   * @throws {InvalidArgumentError} when `to` is not a voter (checked on the leader).
   */
  transferLeadership(to: NodeId): void {
    if (this.role === 'leader') {
      if (!this.voters().includes(to)) {
        throw new InvalidArgumentError(`Cannot transfer leadership to ${to}: it is not a voter`);
      }
      this.transferTo(to);
    } else if (this.lead !== NONE) {
      this.send(message({ type: MessageType.transferLeader, to: this.lead, index: to }));
    } else {
      throw new NotLeaderError(`Cannot transfer leadership: member ${this.id} knows no leader`, {
        details: { leaderHint: NONE },
      });
    }
  }

  protected transferTo(to: NodeId): void {
    const pr = this.progress.get(to);
    if (to === this.id || pr === undefined || pr.isLearner || to === this.transferee) return;
    this.transferee = to;
    // The transfer gets one election timeout to finish.
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to);
  }

  protected sendTimeoutNow(to: NodeId): void {
    this.send(message({ type: MessageType.timeoutNow, to }));
  }

  /** Appends entries as leader, numbering them; false when the uncommitted limit refuses them. */
  protected appendEntries(entries: readonly Entry[]): boolean {
    let bytes = 0;
    for (const entry of entries) bytes += entry.data.length;
    // An empty log of uncommitted proposals always admits one batch, however large, so nothing is stuck forever.
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.uncommittedBytesMax) return false;
    this.uncommittedBytes += bytes;
    const lastIndex = this.log.lastIndex();
    this.log.append(entries.map((entry, i) => ({ ...entry, term: this.term, index: lastIndex + 1 + i })));
    return true;
  }

  /** Committed entries went to the state machine: they no longer count as uncommitted. */
  reduceUncommittedBytes(entries: readonly Entry[]): void {
    if (this.role !== 'leader') return;
    let bytes = 0;
    for (const entry of entries) bytes += entry.data.length;
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - bytes);
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
    if (self?.maybeUpdate(this.log.lastStableIndex()) && this.maybeCommit()) {
      this.broadcastAppend();
    }
  }
}
