/**
 * One deterministic simulation run: a Raft cluster, a faulty world and a
 * client workload, all driven by one seed; checked on every tick for Raft's
 * safety properties and at the end for liveness and convergence. The client
 * history it records is checked for linearizability by the caller.
 *
 * @module
 */
import { LimitExceededError, NotLeaderError, UnavailableError } from '../base/errors.ts';
import { SeededRandom } from '../base/random.ts';
import type { Event } from '../kv/types.ts';
import {
  type ConfState,
  type Entry,
  type Message,
  MessageType,
  type NodeId,
  type ReadState,
} from '../raft/types.ts';
import {
  encodeRequest,
  type KvApplied,
  type KvCommand,
  type KvCommandOutput,
  LESSOR_CLIENT_ID,
} from './kv-machine.ts';
import type { RevisionCheckStats } from './revision-checker.ts';
import { type SimConfig, type SimOptions, simConfig } from './sim-config.ts';
import { type SimLeaseStats, SimLeases } from './sim-leases.ts';
import { SimMember, type SimMemberWorld } from './sim-member.ts';
import { randomPartition, SimNetwork } from './sim-network.ts';
import { SimOperator, type SimOperatorHost } from './sim-operator.ts';
import { SimRevisions } from './sim-revisions.ts';
import { SimWatchers } from './sim-watchers.ts';
import { SimWorkload } from './sim-workload.ts';

/** One client call, as the linearizability checker reads it. */
export interface HistoryOperation {
  clientId: number;
  input: KvCommand;
  /** Logical time of the call. */
  call: number;
  /** Logical time of the answer; Infinity when the outcome is unknown. */
  ret: number;
  output: KvCommandOutput | undefined;
}

/**
 * The lessors' limits besides the per-seed checkpoint interval: an expired
 * lease is proposed again after 1 s; a gap of 2 s between two readings of
 * a leading lessor is a stall, which pauses longer than 20 ticks make.
 */
const SIM_LESSOR_OPTIONS = { expiredRetryMs: 1000, stallThresholdMs: 2000 } as const;

/** Ticks a client waits for a read point before asking again. */
const READ_RETRY_TICKS = 30;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a run found. */
export interface SimResult {
  readonly config: SimConfig;
  readonly violations: string[];
  readonly history: HistoryOperation[];
  readonly ticks: number;
  readonly opsCompleted: number;
  readonly opsUnknown: number;
  /** Membership changes the operator proposed (accepted by a leader; not all commit). */
  readonly confChanges: number;
  /** Leadership transfers the operator asked for. */
  readonly transfers: number;
  /** Compactions of the KV store's history the operator proposed (accepted by a leader). */
  readonly compactions: number;
  /** Revisions the watchers received whole. */
  readonly watchRevisions: number;
  /** Snapshot chunks sent. */
  readonly snapshotChunks: number;
  /** Lease grants, keep-alives, revokes and expiries that took effect. */
  readonly leases: SimLeaseStats;
  /** Ranges and transactions checked against the committed revisions (zero when an earlier check failed). */
  readonly revisionChecks: RevisionCheckStats;
}

/** Whether `input` is served by a read (ReadIndex, or a member's applied state) rather than through the log. */
function isRead(input: KvCommand): boolean {
  return input.op === 'get' || input.op === 'range';
}

interface PendingCall {
  readonly operation: HistoryOperation;
  readonly requestId: number;
  /**
   * Where the command went: a write's log index once proposed; a read's
   * confirmed read point (undefined until the ReadIndex round completes).
   */
  proposed: { member: NodeId; index: number | undefined; issuedAt: number } | undefined;
  readonly deadline: number;
}

interface SimClient {
  readonly id: number;
  leaderGuess: NodeId;
  call: PendingCall | undefined;
}

/** Runs one seed. Deterministic: the same options give the same result. */
export function runSimulation(options: SimOptions): SimResult {
  return new Simulation(simConfig(options)).run();
}

class Simulation {
  readonly #config: SimConfig;
  readonly #random: SeededRandom;
  readonly #network: SimNetwork;
  readonly #members = new Map<NodeId, SimMember>();
  readonly #clients: SimClient[] = [];
  readonly #history: HistoryOperation[] = [];
  readonly #violations: string[] = [];
  /** The entry applied at each index, as first seen: state-machine safety compares against it. */
  readonly #appliedAt = new Map<number, { term: number; key: string }>();
  readonly #leaderOfTerm = new Map<number, NodeId>();
  /**
   * The term in which each index was committed, as seen at the leader that
   * committed it (end of tick). Leader completeness is about entries
   * committed in earlier terms only: a leader of term 3 elected late (its
   * votes delayed) need not hold what term 4 committed.
   */
  readonly #commitTermOf = new Map<number, number>();
  #commitTermKnownTo = 0;
  #now = 0;
  #clock = 0;
  #opsIssued = 0;
  #requestId = 0;
  #healed = false;
  #snapshotChunks = 0;
  readonly #operator: SimOperator;
  readonly #watchers: SimWatchers;
  readonly #workload: SimWorkload;
  readonly #leases: SimLeases;
  readonly #revisions = new SimRevisions();
  #revisionChecks: RevisionCheckStats = { ranges: 0, txnsSucceeded: 0, txnsFailed: 0, ordered: 0 };
  /** Keep-alives renewed at each member during this tick's client turn, proposed together at its end. */
  readonly #keepAlives = new Map<NodeId, { client: SimClient; call: PendingCall; lease: number }[]>();

  constructor(config: SimConfig) {
    this.#config = config;
    this.#random = new SeededRandom(config.seed);
    this.#watchers = new SimWatchers(this.#random);
    this.#network = new SimNetwork(this.#random, config.faults);
    this.#workload = new SimWorkload(this.#random, config);
    this.#leases = new SimLeases({
      members: this.#members,
      now: () => this.#now,
      nextRequestId: () => ++this.#requestId,
      nextHistoryTime: () => this.#clock++,
      record: (operation) => this.#history.push(operation),
      violation: (message) => this.#violations.push(message),
    });
    const voters = Array.from({ length: config.nodes }, (_, i) => i + 1);
    const learners = config.learnerAtStart ? [config.nodes + 1] : [];
    for (const id of [...voters, ...learners]) {
      this.#members.set(id, this.#newMember(id, { voters, learners }));
    }
    this.#operator = new SimOperator(this.#random, config, voters.length + learners.length + 1);
    for (let id = 1; id <= config.clients; id++) {
      this.#clients.push({ id, leaderGuess: this.#randomMemberId(), call: undefined });
    }
  }

  /** What the operator sees and does. */
  readonly #operatorHost: SimOperatorHost = {
    members: this.#members,
    leader: () => {
      const member = this.#members.get(this.#currentLeader());
      return member?.alive === true && this.#now >= member.pausedUntil ? member : undefined;
    },
    startMember: (id) => {
      this.#members.set(id, this.#newMember(id, { voters: [], learners: [] }));
    },
    stopMember: (id) => {
      this.#members.delete(id);
    },
  };

  /** Every write a member applies: the record the watch checker compares against. */
  readonly #onWrite = (member: SimMember, revision: number, events: readonly Event[]): void => {
    const watched = this.#watchers.recordWrite(member.id, revision, events);
    if (watched !== undefined) this.#violations.push(watched);
    const recorded = this.#revisions.recordWrite(member.id, revision, events);
    if (recorded !== undefined) this.#violations.push(recorded);
  };

  #newMember(id: NodeId, confState: ConfState): SimMember {
    const config = this.#config;
    const world: SimMemberWorld = { now: () => this.#now, onWrite: this.#onWrite };
    const lessor = { checkpointIntervalMs: config.leaseCheckpointIntervalMs, ...SIM_LESSOR_OPTIONS };
    return new SimMember(id, confState, config.seed, { ...config, lessor }, world);
  }

  #randomMemberId(): NodeId {
    const ids = [...this.#members.keys()];
    return ids[this.#random.int(ids.length)] ?? 1;
  }

  run(): SimResult {
    try {
      this.#runPhases();
    } catch (error) {
      // checkInvariants() and the core's own assertions throw on a broken invariant: that is a finding.
      this.#violations.push(`invariant: ${(error as Error).message}`);
    }
    const opsUnknown = this.#history.filter((op) => op.ret === Number.POSITIVE_INFINITY).length;
    return {
      config: this.#config,
      violations: this.#violations,
      history: this.#history,
      ticks: this.#now,
      opsCompleted: this.#history.length - opsUnknown,
      opsUnknown,
      confChanges: this.#operator.changes,
      transfers: this.#operator.transfers,
      compactions: this.#operator.compactions,
      watchRevisions: this.#watchers.eventsReceived,
      snapshotChunks: this.#snapshotChunks,
      leases: this.#leases.stats,
      revisionChecks: this.#revisionChecks,
    };
  }

  #runPhases(): void {
    const config = this.#config;
    // Safety phase: faults on, until every operation was issued and finished (or the tick budget runs out).
    while (this.#now < config.safetyTicksMax && !this.#workloadDone() && this.#violations.length === 0) {
      this.#injectFaults();
      this.#operator.act(this.#operatorHost, this.#now);
      this.#step();
    }
    // Liveness phase: heal everything; every pending call must finish and replicas converge.
    this.#heal();
    const healedAt = this.#now;
    while (
      this.#now < healedAt + config.livenessTicksMax &&
      (!this.#workloadDone() || !this.#converged()) &&
      this.#violations.length === 0
    ) {
      this.#step();
    }
    if (this.#violations.length === 0) this.#violations.push(...this.#watchers.check());
    if (this.#violations.length === 0) {
      const { violations, stats } = this.#revisions.check();
      this.#violations.push(...violations);
      this.#revisionChecks = stats;
    }
    if (this.#violations.length === 0) {
      const leader = this.#operatorHost.leader();
      const leases = leader?.machine.leaseCount ?? 0;
      if (!this.#workloadDone()) {
        this.#violations.push(`liveness: calls still pending ${config.livenessTicksMax} ticks after healing`);
      } else if (leases > 0) {
        this.#violations.push(
          `liveness: ${leases} leases nobody renews still held by leader ${leader?.id} ${config.livenessTicksMax} ticks after healing`,
        );
      } else if (!this.#converged()) {
        this.#violations.push(
          `liveness: replicas did not converge ${config.livenessTicksMax} ticks after healing`,
        );
      }
    }
  }

  #workloadDone(): boolean {
    return (
      this.#opsIssued >= this.#config.opsTotal && this.#clients.every((client) => client.call === undefined)
    );
  }

  /**
   * Every member of the leader's membership has applied everything and holds the same state; watchers
   * caught up; every lease expired (no client renews any once the workload is done).
   */
  #converged(): boolean {
    const leaderMember = this.#operatorHost.leader();
    const leader = leaderMember?.node;
    if (leaderMember === undefined || leader === undefined) return false;
    if (leaderMember.machine.leaseCount > 0) return false;
    const { voters, learners } = leader.raft.confState();
    let fingerprint: string | undefined;
    let applied: number | undefined;
    let revision = 0;
    for (const id of [...voters, ...learners]) {
      const member = this.#members.get(id);
      // A member the operator gave up on before its addition committed was shut down: nothing to compare.
      if (member === undefined) continue;
      const node = member.node;
      if (node === undefined) return false;
      const log = node.raft.log;
      if (log.applied !== log.committed || (applied !== undefined && applied !== log.applied)) return false;
      applied = log.applied;
      member.machine.checkInvariants();
      const print = member.machine.fingerprint();
      if (fingerprint !== undefined && fingerprint !== print) return false;
      fingerprint = print;
      revision = member.machine.revision;
    }
    // Watchers have received everything too (progress notifications carry them past quiet spans).
    if (!this.#watchers.caughtUp(revision)) return false;
    return true;
  }

  #injectFaults(): void {
    const config = this.#config;
    for (const member of this.#members.values()) {
      if (member.alive && this.#random.next() < config.crashRate) {
        member.crash(this.#now, 1 + this.#random.int(config.downTicksMax));
      } else if (member.alive && this.#random.next() < config.pauseRate) {
        member.pausedUntil = this.#now + 1 + this.#random.int(config.pauseTicksMax);
      }
    }
    if (this.#random.next() < config.partitionRate) {
      const healing = this.#network.partition !== undefined && this.#random.int(2) === 0;
      this.#network.partition = healing
        ? undefined
        : randomPartition([...this.#members.keys()], this.#random, this.#currentLeader());
    }
  }

  #heal(): void {
    this.#healed = true;
    this.#network.partition = undefined;
    this.#network.faults = {
      dropRate: 0,
      duplicateRate: 0,
      delayTicksMax: this.#config.faults.delayTicksMax,
    };
    for (const member of this.#members.values()) {
      member.pausedUntil = 0;
      if (!member.alive) member.downUntil = this.#now;
    }
  }

  #currentLeader(): NodeId {
    let leader: NodeId = 0;
    let term = -1;
    for (const member of this.#members.values()) {
      const raft = member.node?.raft;
      if (raft?.role === 'leader' && raft.term > term) {
        leader = member.id;
        term = raft.term;
      }
    }
    return leader;
  }

  #step(): void {
    this.#now++;
    const now = this.#now;
    for (const member of this.#members.values()) {
      if (!member.alive) {
        if (now >= member.downUntil) member.restart();
        else continue;
      }
      if (now < member.pausedUntil) continue;
      // Clock drift: a member sometimes misses a tick.
      if (this.#random.next() >= (this.#config.driftRates[member.id - 1] ?? 0)) {
        member.node?.tick();
        member.node?.raft.checkInvariants();
      }
    }
    // Clients act before the network delivers: a member resuming from a pause answers requests before it
    // reads its sockets, as a GC-paused or SIGSTOPped leader would.
    this.#clientsAct();
    // Lost chunks are the snapshot protocol's business (acknowledgements, resends); a transport reports
    // only a stream it could not deliver at all, here because its receiver is down.
    for (const m of this.#network.arrivals(now, () => {})) {
      const member = this.#members.get(m.to);
      if (member === undefined || !member.alive) {
        this.#reportSnapshot(m, false);
        continue;
      }
      if (now < member.pausedUntil) {
        this.#network.defer(m, member.pausedUntil);
        continue;
      }
      member.node?.step(m);
      member.node?.raft.checkInvariants();
    }
    const sink = {
      send: (m: Message) => {
        if (m.type === MessageType.snapshot) this.#snapshotChunks++;
        this.#network.send(m, now);
      },
      applied: (member: SimMember, entry: Entry, applied: KvApplied | undefined) =>
        this.#onApplied(member, entry, applied),
      readState: (member: SimMember, readState: ReadState) => this.#onReadState(member, readState),
    };
    for (const member of this.#members.values()) {
      if (member.alive && now >= member.pausedUntil) {
        member.process(now, () => this.#random.int(this.#config.syncTicksMax + 1), sink);
      }
    }
    this.#serveReads();
    this.#leases.drive();
    this.#checkLeaders();
    this.#operator.collect(this.#operatorHost, now);
    const conf = this.#operatorHost.leader()?.node?.raft.confState();
    this.#watchers.act(
      this.#members,
      conf === undefined ? undefined : [...conf.voters, ...conf.learners],
      now,
    );
  }

  #onReadState(member: SimMember, readState: ReadState): void {
    const key = decoder.decode(readState.context);
    for (const client of this.#clients) {
      const proposed = client.call?.proposed;
      if (proposed?.member === member.id && key === `read-${client.call?.requestId}`)
        proposed.index = readState.index;
    }
  }

  /** Serves each confirmed read once its member has applied up to the read point (§6.4 step 4). */
  #serveReads(): void {
    for (const client of this.#clients) {
      const call = client.call;
      const proposed = call?.proposed;
      if (call === undefined || proposed === undefined || !isRead(call.operation.input)) continue;
      const member = this.#members.get(proposed.member);
      if (proposed.index === undefined) {
        // The request or its confirmation was lost (a leader change): ask again; reads are idempotent.
        if (this.#now - proposed.issuedAt > READ_RETRY_TICKS) call.proposed = undefined;
        continue;
      }
      if (member?.node === undefined || member.node.raft.log.applied < proposed.index) continue;
      this.#serveRead(client, call, member, true);
    }
  }

  /** Answers a read from `member`'s applied state (linearizable: after its ReadIndex). */
  #serveRead(client: SimClient, call: PendingCall, member: SimMember, linearizable: boolean): void {
    const output = member.machine.execute(call.operation.input);
    const violation = this.#revisions.served(call.operation, member.machine.revision, linearizable);
    if (violation !== undefined) this.#violations.push(violation);
    this.#answer(client, call, output);
  }

  /** A snapshot's sender learns the stream failed, as from a real transport. */
  #reportSnapshot(m: Message, delivered: boolean): void {
    if (m.type !== MessageType.snapshot) return;
    this.#members.get(m.from)?.node?.reportSnapshot(m.to, delivered);
  }

  #clientsAct(): void {
    for (const client of this.#clients) {
      if (client.call === undefined) {
        if (this.#opsIssued >= this.#config.opsTotal) continue;
        this.#opsIssued++;
        const operation: HistoryOperation = {
          clientId: client.id,
          input: this.#workload.next(client.id, this.#opsIssued, this.#now),
          call: this.#clock++,
          ret: Number.POSITIVE_INFINITY,
          output: undefined,
        };
        const requestId = ++this.#requestId;
        this.#history.push(operation);
        this.#revisions.issued(operation, requestId);
        client.call = {
          operation,
          requestId,
          proposed: undefined,
          deadline: this.#now + this.#config.callTicksMax,
        };
      }
      const call = client.call;
      if (this.#now >= call.deadline && !this.#healed) {
        // The client gives up: the call may or may not take effect (ret stays Infinity).
        this.#abandonCall(client, call);
        continue;
      }
      if (call.proposed === undefined) this.#propose(client, call);
    }
    this.#proposeKeepAlives();
  }

  /**
   * Proposes the keep-alives each member's lessor renewed this tick: two or
   * more in one entry (as a Tessera leader proposes those it took in one
   * turn), one alone as a single keep-alive (as a leader proposes one a
   * follower forwarded).
   */
  #proposeKeepAlives(): void {
    for (const [memberId, renewed] of this.#keepAlives) {
      const node = this.#members.get(memberId)?.node;
      const [first] = renewed;
      if (node === undefined || first === undefined) continue;
      const data =
        renewed.length === 1
          ? encodeRequest({
              clientId: first.client.id,
              requestId: first.call.requestId,
              command: first.call.operation.input,
            })
          : encodeRequest({
              clientId: LESSOR_CLIENT_ID,
              requestId: ++this.#requestId,
              command: {
                op: 'keepAlives',
                calls: renewed.map(({ client, call, lease }) => ({
                  clientId: client.id,
                  requestId: call.requestId,
                  lease,
                })),
              },
            });
      try {
        const index = node.propose(data);
        for (const { call } of renewed) call.proposed = { member: memberId, index, issuedAt: this.#now };
        if (renewed.length > 1) this.#leases.stats.keptAliveBatches++;
      } catch (error) {
        for (const { client } of renewed) this.#refused(client, error);
      }
    }
    this.#keepAlives.clear();
  }

  /** The client stops waiting for `call`: its outcome stays unknown. */
  #abandonCall(client: SimClient, call: PendingCall): void {
    client.call = undefined;
    this.#workload.answered(client.id, call.operation.input, undefined, call.proposed?.issuedAt ?? this.#now);
  }

  /** `call` returned `output`, proposed at `proposedAt` (a read: the tick its read point was asked). */
  #answer(client: SimClient, call: PendingCall, output: KvCommandOutput): void {
    const { operation } = call;
    operation.output = output;
    operation.ret = this.#clock++;
    client.call = undefined;
    const proposedAt = call.proposed?.issuedAt ?? this.#now;
    this.#workload.answered(client.id, operation.input, output, proposedAt);
    this.#leases.answered(operation.input, output, proposedAt);
  }

  #propose(client: SimClient, call: PendingCall): void {
    // Reads are balanced over members half the time, as etcd clients spread load; a follower forwards the
    // ReadIndex to the leader it knows, which may be a deposed one.
    const balanced = isRead(call.operation.input) && this.#random.int(2) === 0;
    const member = this.#members.get(balanced ? this.#randomMemberId() : client.leaderGuess);
    const node = member?.node;
    if (member === undefined || node === undefined || this.#now < member.pausedUntil) {
      client.leaderGuess = this.#randomMemberId();
      return;
    }
    try {
      const { input } = call.operation;
      if (input.op === 'range' && (input.serializable || this.#config.bugs.includes('range-stale-read'))) {
        // A serializable range is served from this member's applied state at once (the
        // `range-stale-read` test bug serves a linearizable one the same way).
        this.#serveRead(client, call, member, !input.serializable);
        return;
      }
      if (isRead(input)) {
        node.readIndex(encoder.encode(`read-${call.requestId}`));
        call.proposed = { member: member.id, index: undefined, issuedAt: this.#now };
        return;
      }
      if (input.op === 'keepAlive') {
        // A keep-alive goes to the leader's lessor; elsewhere the client looks for the leader.
        const renewal = SimLeases.renewBeforeKeepAlive(member, input.lease);
        if (renewal === 'not leader') client.leaderGuess = node.raft.lead || this.#randomMemberId();
        if (renewal !== 'renewed') return;
        const renewed = this.#keepAlives.get(member.id) ?? [];
        renewed.push({ client, call, lease: input.lease });
        this.#keepAlives.set(member.id, renewed);
        return;
      }
      const index = node.propose(
        encodeRequest({ clientId: client.id, requestId: call.requestId, command: call.operation.input }),
      );
      call.proposed = { member: member.id, index, issuedAt: this.#now };
    } catch (error) {
      this.#refused(client, error);
    }
  }

  /** A member refused `client`'s proposal: it asks the leader hinted at next; an error not of refusal is a bug. */
  #refused(client: SimClient, error: unknown): void {
    if (error instanceof NotLeaderError) {
      client.leaderGuess = error.leaderHint !== 0 ? error.leaderHint : this.#randomMemberId();
    } else if (!(error instanceof LimitExceededError || error instanceof UnavailableError)) {
      throw error;
    }
  }

  #onApplied(member: SimMember, entry: Entry, applied: KvApplied | undefined): void {
    const revisionViolation = this.#revisions.applied(member.id, member.machine.revision, applied);
    if (revisionViolation !== undefined) this.#violations.push(revisionViolation);
    // State-machine safety (thesis §3.6.3): every member applies the same entry at an index.
    const key = applied === undefined ? '' : `${applied.clientId}/${applied.requestId}`;
    const first = this.#appliedAt.get(entry.index);
    if (first === undefined) {
      this.#appliedAt.set(entry.index, { term: entry.term, key });
    } else if (first.term !== entry.term || first.key !== key) {
      this.#violations.push(
        `state machine safety: member ${member.id} applied ${entry.term}/${key} at index ${entry.index}, another applied ${first.term}/${first.key}`,
      );
    }
    this.#leases.applied(member, entry, applied);
    for (const client of this.#clients) {
      const call = client.call;
      if (
        call?.proposed === undefined ||
        isRead(call.operation.input) ||
        call.proposed.member !== member.id ||
        call.proposed.index !== entry.index
      ) {
        continue;
      }
      const answer = (applied?.batch ?? (applied === undefined ? [] : [applied])).find(
        (one) => one.clientId === client.id && one.requestId === call.requestId,
      );
      if (answer !== undefined) {
        this.#answer(client, call, answer.output);
      } else {
        // Another entry won this index: ours was never committed; propose again.
        call.proposed = undefined;
      }
    }
    // A call whose proposer crashed re-proposes elsewhere only if it is still pending; see #clientsAct.
  }

  #checkLeaders(): void {
    for (const member of this.#members.values()) {
      const raft = member.node?.raft;
      if (raft?.role !== 'leader') continue;
      for (let index = this.#commitTermKnownTo + 1; index <= raft.log.committed; index++) {
        this.#commitTermOf.set(index, raft.term);
      }
      this.#commitTermKnownTo = Math.max(this.#commitTermKnownTo, raft.log.committed);
    }
    for (const member of this.#members.values()) {
      const raft = member.node?.raft;
      if (raft?.role !== 'leader') continue;
      const previous = this.#leaderOfTerm.get(raft.term);
      if (previous === undefined) {
        this.#leaderOfTerm.set(raft.term, member.id);
        this.#checkLeaderCompleteness(member);
        if (!this.#healed && this.#random.next() < this.#config.leaderIsolationRate) {
          const others = [...this.#members.keys()].filter((id) => id !== member.id);
          const blocked = new Set(others.flatMap((id) => [`${id}>${member.id}`, `${member.id}>${id}`]));
          this.#network.partition = { name: `isolate-new-leader(${member.id})`, blocked };
        }
      } else if (previous !== member.id) {
        this.#violations.push(
          `election safety: members ${previous} and ${member.id} both lead term ${raft.term}`,
        );
      }
    }
    for (const client of this.#clients) {
      // A proposer that crashed will never answer: the call's outcome is unknown, and the client re-proposes it.
      const call = client.call;
      if (call?.proposed !== undefined && !this.#members.get(call.proposed.member)?.alive) {
        this.#abandonCall(client, call);
      }
    }
  }

  /** Leader completeness (thesis §3.6.3): a new leader's log holds every entry committed in an earlier term. */
  #checkLeaderCompleteness(member: SimMember): void {
    const log = member.node?.raft.log;
    if (log === undefined) return;
    const leaderTerm = member.node?.raft.term ?? 0;
    for (const [index, { term }] of this.#appliedAt) {
      const commitTerm = this.#commitTermOf.get(index);
      // Unknown commit term (its leader stepped down within the tick): no verdict rather than a false one.
      if (index < log.firstIndex() || commitTerm === undefined || commitTerm >= leaderTerm) continue;
      const ours = log.term(index);
      if (ours !== term) {
        this.#violations.push(
          `leader completeness: new leader ${member.id} (term ${member.node?.raft.term}) has term ${ours} at index ${index}, applied with term ${term}`,
        );
        return;
      }
    }
  }
}
