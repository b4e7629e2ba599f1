/**
 * A Tessera member: the pure Raft core (`RawNode`) driven by real disks,
 * sockets and timers, following the `Ready` contract (see `raft/types.ts`):
 *
 * 1. send `messages` at once (a leader's appends leave while its own write
 *    is still going: thesis §10.2.1);
 * 2. write the snapshot, entries and hard state, then one sync: every
 *    proposal that arrived while the previous sync ran is in this batch,
 *    which is the group commit;
 * 3. send `messagesAfterPersist` (acknowledgements and votes promise what
 *    is on disk);
 * 4. apply committed entries to the LMDB state (the applied index in the
 *    same transaction), answer their proposers;
 * 5. `advance()`; snapshot and compact when the log has grown enough.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import {
  ConnectionLostError,
  DeadlineExceededError,
  errorFromWire,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NoSpaceError,
  NotLeaderError,
  OutcomeUnknownError,
  ProposalDroppedError,
  UnavailableError,
} from '../base/errors.ts';
import type { Logger } from '../base/logger.ts';
import { SeededRandom } from '../base/random.ts';
import { type AutoCompaction, AutoCompactor } from '../kv/auto-compactor.ts';
import type { KvCommand } from '../kv/kv-command.ts';
import { LeaseDriver } from '../kv/lease-driver.ts';
import { leaseNotFoundError } from '../kv/lease-ops.ts';
import { LEASE_KEEPALIVES_MAX } from '../kv/limits.ts';
import type {
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseKeepAlivesResponse,
  LeaseRevokeResponse,
  RangeRequest,
  RangeResponse,
  WatchRequest,
  WatchResponse,
} from '../kv/types.ts';
import { type ConfChange, ConfChangeType } from '../raft/conf-change.ts';
import { RawNode } from '../raft/raw-node.ts';
import { fillSnapshotChunk, isUnfilledSnapshotChunk } from '../raft/snapshot-transfer.ts';
import {
  bootstrapStores,
  type LogStore,
  type SnapshotSink,
  type SnapshotStore,
  type StableStore,
  storageFromStores,
} from '../raft/stores.ts';
import {
  type Entry,
  EntryType,
  type Message,
  MessageType,
  NONE,
  type NodeId,
  type Ready,
  type SnapshotChunk,
} from '../raft/types.ts';
import { CorruptionError } from '../storage/errors.ts';
import type {
  KvOutcome,
  LeaseTimeToLiveResponse,
  MemberStatus,
  NodeStatus,
  PeerItem,
  ProposeAnswer,
  ProposeResult,
} from './api.ts';
import { encodeMemberInfo, type MemberInfo, memberIdOf } from './member.ts';
import { NodeMetrics } from './metrics.ts';
import { PeerTransport } from './peer-transport.ts';
import {
  type AppliedResult,
  encodeKvEntry,
  encodePublish,
  kvEntryCommand,
  kvEntryIdentity,
  kvEntryType,
  type LmdbState,
} from './state.ts';
import { WAITERS_MAX, Waiters } from './waiters.ts';

/** Default milliseconds per Raft tick (etcd's heartbeat interval). */
export const TICK_MS_DEFAULT = 100;
/** Default ticks per election timeout (so 1-2 s, etcd's default). */
export const ELECTION_TICKS_SERVER_DEFAULT = 10;
/** Default applied entries between snapshots (etcd's `--snapshot-count`). */
export const SNAPSHOT_ENTRIES_DEFAULT = 100_000;
/** Share of the leader's log a learner must hold to be promoted (etcd's `readyPercent`). */
export const LEARNER_READY_FRACTION = 0.9;
/**
 * Log bytes appended since the last snapshot that start a new one, however
 * few the entries: the log since the last snapshot is held in memory, so
 * large values must not wait for the entry count.
 */
export const SNAPSHOT_LOG_BYTES_DEFAULT = 64 * 1024 * 1024;
/**
 * Log bytes since the last snapshot, as a share of that snapshot's size,
 * that the entry count (`snapshotEntries`) also waits for. A snapshot
 * writes the whole state: with a large state and small entries (lease
 * keep-alives, small puts) one every 100,000 entries would cost far more
 * than the log it lets go (etcd's are cheap: its backend is durable by
 * itself, ours is not synced). So the cost of each image is spread over
 * at least a quarter of its size in log.
 */
export const SNAPSHOT_LOG_SHARE_OF_IMAGE = 0.25;
/**
 * How much later than its thresholds a member may snapshot: each member
 * scales `snapshotEntries` and `snapshotLogBytes` by a factor in
 * [1, 1 + this) fixed by its id. Members reach the thresholds together
 * (they apply the same log), and three images built at once on a
 * two-core machine took `etcdctl check perf --load=m`'s slowest write
 * from about 200 to 650-760 ms.
 */
export const SNAPSHOT_STAGGER = 0.3;
/** The factor in [1, 1 + {@link SNAPSHOT_STAGGER}) member `id` scales its snapshot thresholds by. */
export function snapshotStaggerOf(id: NodeId): number {
  return 1 + SNAPSHOT_STAGGER * ((id % 1009) / 1009);
}
/** Times `snapshotEntries` after which a snapshot starts whatever the bytes: the log since the last is in memory. */
export const SNAPSHOT_ENTRIES_CAP_FACTOR = 4;
/** Entries kept in the log behind a snapshot, so slightly slow followers need no snapshot (etcd: 5000). */
export const SNAPSHOT_CATCHUP_ENTRIES_DEFAULT = 5000;
/** How long a proposal or read may wait for its outcome. */
export const REQUEST_TIMEOUT_MS = 10_000;
/** Default time between progress notifications of an idle watch that asked for them (etcd: 10 minutes). */
export const WATCH_PROGRESS_MS_DEFAULT = 10 * 60 * 1000;
/** Attempts at a lease id the member picks before giving up (a clash of random 48-bit ids is rare). */
const LEASE_ID_ATTEMPTS = 3;

/** Durable stores the node writes its log, hard state and snapshots to. */
export interface NodeStores {
  readonly log: LogStore;
  readonly stable: StableStore;
  readonly snapshots: SnapshotStore;
  close(): Promise<void>;
}

/** What a member needs to run. */
export interface NodeOptions {
  readonly self: MemberInfo;
  /** Founding members by name with their peer addresses (`new` clusters only). */
  readonly initialCluster: ReadonlyMap<string, string>;
  /** `new`: found a cluster with `initialCluster`; `existing`: join one (after `member add`). */
  readonly initialClusterState: 'new' | 'existing';
  readonly stores: NodeStores;
  readonly state: LmdbState;
  readonly logger: Logger;
  /** Mutual TLS between members. */
  readonly peerTls?: { cert: Buffer; key: Buffer; ca: Buffer } | undefined;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly snapshotEntries?: number;
  readonly snapshotCatchupEntries?: number;
  /** Log bytes since the last snapshot that start a new one (default {@link SNAPSHOT_LOG_BYTES_DEFAULT}). */
  readonly snapshotLogBytes?: number;
  /** Time between progress notifications of an idle watch that asked for them. */
  readonly watchProgressMs?: number;
  /** History the leader keeps before compacting it (default: periodic, one hour). */
  readonly autoCompaction?: AutoCompaction;
}

/** History kept by default: an hour (etcd keeps all until told otherwise, and its database fills up). */
export const AUTO_COMPACTION_DEFAULT: AutoCompaction = { mode: 'periodic', retentionMs: 3_600_000 };

/** A running member. */
export class TesseraNode {
  readonly id: NodeId;
  readonly info: MemberInfo;
  readonly metrics = new NodeMetrics();
  readonly #options: NodeOptions;
  readonly #stores: NodeStores;
  readonly #state: LmdbState;
  readonly #logger: Logger;
  readonly #raw: RawNode;
  readonly #transport: PeerTransport;
  readonly #proposals = new Waiters<AppliedResult>();
  readonly #reads = new Waiters<number>();
  /**
   * The ReadIndex round that linearizable reads join until the Raft loop
   * starts it (see {@link linearizableBarrier}); undefined when none waits.
   */
  #readRound: { readonly context: Buffer; readonly index: Promise<number> } | undefined;
  /** Entry index → the proposal appended there (its key and bytes), to answer it or fail it when another entry took the index. */
  readonly #proposalIndex = new Map<number, { key: string; data: Uint8Array }>();
  /** Called (and cleared) after every batch of applied entries: the idle watch streams waiting for one. */
  readonly #appliedBatchListeners = new Set<() => void>();
  /** Waiters for the applied index to reach a value. */
  #appliedWaiters: { index: number; resolve: () => void }[] = [];
  readonly #incarnation = randomBytes(4).readUInt32BE(0) & 0x7fffffff;
  /** The lessor and what drives it (see `kv/lease-driver.ts`); its clock is `performance.now()`. */
  readonly #leases: LeaseDriver;
  #requestCounter = 0;
  #ticker: NodeJS.Timeout | undefined;
  #busy = false;
  #again = false;
  /** Messages of Readies that persisted nothing, sent after their answers (see #handleReady). */
  #afterAnswers: Message[] = [];
  /** The keep-alives this leader took and has not proposed yet, one entry per batch. */
  #keepAlives: KeepAliveBatch[] = [];
  /** Keep-alive batches proposed and not yet answered (see #proposeKeepAlives). */
  #keepAlivesInFlight = 0;
  #closed = false;
  #lastLeader: NodeId = NONE;
  /** Leader changes this member has seen (a forwarded proposal tells from it whether its leader changed meanwhile). */
  #leaderChangesSeen = 0;
  #snapshotIndex: number;
  #snapshotting = false;
  /** The snapshot being received from the leader, chunk by chunk. */
  #receiving: SnapshotSink | undefined;
  /** Per peer: the snapshot chunk reads queued, so chunks leave in order. */
  readonly #chunkReads = new Map<NodeId, Promise<void>>();
  /** A compaction point a finished snapshot allows, for the loop to carry out (0: none). */
  #compactTo = 0;
  /** Bytes of entries appended since the last snapshot started. */
  #logBytesSinceSnapshot = 0;
  readonly #compactor: AutoCompactor;
  /** The term this member leads in (0: it does not), as its compactor last knew. */
  #compactorTerm = 0;
  #compacting = false;
  readonly alarms = new Set<string>();
  /** Peers that reached us before our directory knew them (bounded by the members that exist). */
  readonly #learnedPeers = new Map<NodeId, string>();
  /** The directory the peer addresses were last built from. */
  #peersFrom: ReadonlyMap<NodeId, MemberInfo> | undefined;

  private constructor(options: NodeOptions, raw: RawNode) {
    this.#options = options;
    this.info = options.self;
    this.id = memberIdOf(options.self.name);
    this.#stores = options.stores;
    this.#state = options.state;
    this.#logger = options.logger;
    this.#raw = raw;
    this.#snapshotIndex = options.stores.snapshots.latest()?.metadata.index ?? 0;
    this.#compactor = new AutoCompactor(options.autoCompaction ?? AUTO_COMPACTION_DEFAULT, performance.now());
    this.#leases = new LeaseDriver(
      {
        lessor: { leasesMax: options.state.limits.leasesMax },
        // etcd extends by its election timeout, time for clients to find the new leader.
        promoteExtendMs:
          (options.electionTicks ?? ELECTION_TICKS_SERVER_DEFAULT) * (options.tickMs ?? TICK_MS_DEFAULT),
      },
      performance.now(),
    );
    this.#leases.reset(options.state.leaseTimers(), performance.now());
    this.#transport = new PeerTransport({
      selfId: this.id,
      selfAddress: options.self.peer,
      tls: options.peerTls,
      logger: options.logger,
      onUnreachable: (id, lost) => {
        this.#raw.reportUnreachable(id);
        if (lost.some((m) => m.type === MessageType.snapshot)) this.#raw.reportSnapshot(id, false);
      },
      onMessages: (from, address, messages) => this.stepMessages(from, address, messages),
      onPropose: (data) => this.answerForwarded(data),
      onQueueBytes: (id, bytes) => this.metrics.peerQueueBytes.set({ peer: String(id) }, bytes),
    });
    this.#updatePeers();
  }

  /** The founding members this member was started with (`--initial-cluster`): name → peer address. */
  get initialCluster(): ReadonlyMap<string, string> {
    return this.#options.initialCluster;
  }

  /** Opens a member from its stores and state; founds the cluster on first start when `new`. */
  static async start(options: NodeOptions): Promise<TesseraNode> {
    const { stores, state } = options;
    const id = memberIdOf(options.self.name);
    const fresh = stores.log.lastIndex() === 0 && stores.snapshots.latest() === undefined;
    if (fresh && options.initialClusterState === 'new') {
      const voters = [...options.initialCluster.keys()].map(memberIdOf);
      if (!voters.includes(id)) {
        throw new RangeError(
          `Cannot found the cluster: --initial-cluster does not name ${options.self.name}`,
        );
      }
      const contexts = new Map<NodeId, Uint8Array>();
      for (const [name, peer] of options.initialCluster) {
        // Every founding member must write identical bootstrap entries (same index and term, same bytes),
        // so they carry only what all know: names and peer addresses. Members publish the rest.
        contexts.set(memberIdOf(name), encodeMemberInfo({ name, peer, client: '', http: '' }));
      }
      await bootstrapStores(stores, { voters: voters.sort((a, b) => a - b), learners: [] }, contexts);
    }
    const snapshot = stores.snapshots.latest();
    const restoring = state.restoring;
    if (restoring !== undefined && (snapshot === undefined || snapshot.metadata.index < restoring)) {
      throw new CorruptionError(
        `Cannot start: a restore of snapshot ${restoring} was cut short and the snapshot store holds ${snapshot?.metadata.index ?? 'none'}`,
      );
    }
    // A snapshot installed just before a crash may not have reached LMDB yet, or its restore was cut short.
    if (snapshot !== undefined && (state.applied < snapshot.metadata.index || restoring !== undefined)) {
      await state.restore(stores.snapshots, snapshot);
    }
    const logEnd = Math.max(stores.log.lastIndex(), snapshot?.metadata.index ?? 0);
    if (state.applied > logEnd) {
      // Applied entries are synced in the WAL first; losing them is damage (or a wrong data directory), and
      // going on could unsay a vote or an acknowledgement this member gave.
      throw new CorruptionError(
        `Cannot start: the state applied entry ${state.applied} but the log ends at ${logEnd}; the WAL lost synced entries`,
      );
    }
    // The commit index is synced only with entries and votes: a member that applied past it before a
    // crash knows those entries were committed.
    const hardState = stores.stable.hardState();
    const knownCommitted = Math.max(state.applied, stores.log.firstIndex() - 1);
    if (hardState.commit < knownCommitted && knownCommitted <= logEnd) {
      stores.stable.setHardState({ ...hardState, commit: knownCommitted });
      await stores.stable.sync();
    }
    const raw = new RawNode({
      id,
      storage: storageFromStores(stores),
      random: new SeededRandom(randomBytes(4).readUInt32BE(0)),
      electionTicks: options.electionTicks ?? ELECTION_TICKS_SERVER_DEFAULT,
      applied: state.applied,
      ...(state.applied > 0 ? { confState: state.confState } : {}),
    });
    const node = new TesseraNode(options, raw);
    node.#ticker = setInterval(() => node.#tick(), options.tickMs ?? TICK_MS_DEFAULT);
    node.#schedule();
    return node;
  }

  #tick(): void {
    if (this.#closed) return;
    this.#raw.tick();
    this.#driveLeases();
    this.#driveCompaction();
    this.#schedule();
  }

  /**
   * Automatic compaction: the leader proposes a compaction when its
   * compactor says so (one at a time); a member that does not lead forgets
   * its samples. The store frees compacted history a bounded step per
   * Ready, so writes are never held up for long.
   */
  #driveCompaction(): void {
    const now = performance.now();
    const raft = this.#raw.raft;
    const term = raft.role === 'leader' ? raft.term : 0;
    if (term !== this.#compactorTerm) {
      this.#compactorTerm = term;
      this.#compactor.reset(now);
    }
    if (term === 0 || this.#compacting || this.alarms.size > 0) return;
    const revision = this.#compactor.due(now, this.#state.revision, this.#state.compactRevision);
    if (revision === 0) return;
    this.#compacting = true;
    const { data, key } = this.encodeCommand({ type: 'compact', request: { revision } });
    void this.propose(data, false, key)
      .then(() => this.#logger.info({ revision }, 'compacted history automatically'))
      .catch((error: Error) =>
        this.#logger.info(
          { error: error.message, revision },
          'an automatic compaction failed; will try again',
        ),
      )
      .finally(() => {
        this.#compacting = false;
      });
  }

  /**
   * The lessor's tick: a leading one has its expired leases revoked and
   * its checkpoints made through the log. Only this term's promoted leader
   * proposes, and never forwards: a revoke is decided by the leader alone.
   * A lost proposal is harmless: the lessor reports the lease again after
   * its retry time, and a lost checkpoint leaves an older, larger TTL.
   */
  #driveLeases(): void {
    const raft = this.#raw.raft;
    const { revokes, checkpoints } = this.#leases.due(raft, performance.now());
    if (this.alarms.size > 0) return;
    const proposeQuietly = (command: KvCommand): void => {
      const { data, key } = this.encodeCommand(command);
      void this.propose(data, false, key).catch((error: Error) =>
        this.#logger.debug({ error: error.message, command: command.type }, 'a lessor proposal failed'),
      );
    };
    for (const id of revokes) proposeQuietly({ type: 'leaseRevoke', request: { id } });
    if (checkpoints.length > 0) proposeQuietly({ type: 'leaseCheckpoint', request: { checkpoints } });
  }

  /** Feeds messages from peer `from`, which listens at `address`. */
  stepMessages(from: NodeId, address: string, messages: readonly Message[]): void {
    if (this.#closed) return;
    this.#learnPeer(from, address);
    for (const m of messages) {
      if (m.to !== this.id) continue;
      try {
        this.#raw.step(m);
      } catch (error) {
        this.#logger.warn({ error: (error as Error).message, type: m.type }, 'dropped a bad peer message');
      }
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    setImmediate(() => void this.#loop());
  }

  async #loop(): Promise<void> {
    try {
      do {
        this.#again = false;
        // Proposed (synchronously, up to the wait for its outcome) before the Ready is taken.
        this.#proposeKeepAlives();
        // A snapshot that finished while no Ready was due (an idle member) compacts the log now, not at the next write.
        if (this.#compactTo > 0 && this.alarms.size === 0) this.#compactLog();
        this.#startReadRound();
        while (!this.#closed && this.alarms.size === 0 && this.#raw.hasReady()) {
          await this.#handleReady(this.#raw.ready());
        }
      } while (this.#again && !this.#closed);
    } catch (error) {
      // A write that failed (ENOSPC, EIO) or a bug: stop the Raft loop rather than go on past a step not
      // carried out, and say so; what was acknowledged is on disk.
      const code = (error as NodeJS.ErrnoException).code;
      const errno = typeof code === 'string' && /^E[A-Z]+$/.test(code);
      this.alarms.add(
        code === 'ENOSPC' || code === 'NO_SPACE' ? 'NOSPACE' : errno ? `DISK_ERROR:${code}` : 'INTERNAL',
      );
      this.#logger.error(
        { error: (error as Error).message, stack: (error as Error).stack },
        'the Raft loop failed; this member stops taking writes',
      );
    } finally {
      this.#busy = false;
    }
  }

  async #handleReady(ready: Ready): Promise<void> {
    this.#onSoftState();
    // A Ready that only commits (a leader's commit broadcast, mostly) hands its messages over once
    // the answers it brings are queued (see the end), so those are written first: sending the
    // broadcast first put two peer writes (~40 us of CPU each) between a proposal's commit and its
    // answer. Ready messages never wait on persistence, so a later send is always safe; queued ones
    // go before any later Ready's, in order. A/B in one cluster, alternating, five rounds of 3 s
    // each: single-client put p50 0.69-0.74 ms against 0.74-0.80 (lower in every adjacent pair).
    const afterAnswers =
      ready.committedEntries.length > 0 &&
      ready.entries.length === 0 &&
      ready.snapshot === undefined &&
      ready.snapshotChunks.length === 0;
    if (afterAnswers) this.#afterAnswers.push(...ready.messages);
    else {
      this.#sendMessagesAfterAnswers();
      this.#send(ready.messages);
    }
    // Appends on the wire before this member's own WAL write and fdatasync (sends are otherwise
    // written at the end of the turn, after them): A/B, four rounds each, single-client puts
    // 1,055/s against 1,005 natively and 641 against 580 through etcd3, 256 clients 15.0k/s against 14.0k.
    if (!afterAnswers && ready.messages.length > 0) this.#transport.flush();
    const { log, stable, snapshots } = this.#stores;
    if (this.#compactTo > 0) this.#compactLog();
    for (const chunk of ready.snapshotChunks) {
      // A chunk at offset 0 starts a transfer (the core's rule): a new receive, aborting any earlier one.
      if (chunk.offset === 0 || this.#receiving === undefined)
        this.#receiving = snapshots.receive(chunk.metadata);
      await this.#receiving.write(chunk.offset, chunk.data);
    }
    if (ready.snapshot !== undefined) {
      const receiving = this.#receiving;
      this.#receiving = undefined;
      if (receiving?.metadata.index !== ready.snapshot.metadata.index) {
        throw new Error(
          `Raft contract broken: snapshot ${ready.snapshot.metadata.index} completed unreceived`,
        );
      }
      await receiving.commit();
      log.resetTo(ready.snapshot.metadata.index, ready.snapshot.metadata.term);
    }
    if (ready.entries.length > 0) {
      log.append(ready.entries);
      for (const entry of ready.entries) this.#logBytesSinceSnapshot += entry.data.length;
    }
    // A new term or vote must be durable before any message says so; a commit index alone need not be
    // (etcd's MustSync): on restart it is at least what was applied (see start). It is written now and
    // made durable by the next sync.
    const hardState = ready.hardState;
    const previous = stable.hardState();
    const voted =
      hardState !== undefined && (hardState.term !== previous.term || hardState.vote !== previous.vote);
    if (hardState !== undefined) stable.setHardState(hardState);
    if (ready.snapshot !== undefined || ready.entries.length > 0 || voted) {
      const stopTimer = this.metrics.fsyncSeconds.startTimer();
      await Promise.all([log.sync(), stable.sync()]);
      stopTimer();
    }
    this.#send(ready.messagesAfterPersist);
    if (ready.snapshot !== undefined) {
      await this.#state.restore(snapshots, ready.snapshot);
      this.#leases.reset(this.#state.leaseTimers(), performance.now());
      this.#snapshotIndex = ready.snapshot.metadata.index;
      this.metrics.snapshots.inc({ kind: 'installed' });
    }
    for (const readState of ready.readStates) {
      this.#reads.resolve(Buffer.from(readState.context).toString('hex'), readState.index);
    }
    if (ready.committedEntries.length > 0) await this.#apply(ready.committedEntries);
    this.#raw.advance();
    this.#releaseAppliedWaiters();
    if (ready.committedEntries.length > 0 || ready.snapshot !== undefined) this.#wakeWatchers();
    // The directory is a new object exactly when applying changed it.
    if (this.#state.members !== this.#peersFrom) this.#updatePeers();
    // Compacted history is freed a bounded step per Ready, so a compaction never holds up writes for long.
    if (this.#state.compactionPending) {
      this.#state.compactStep();
      if (this.#state.compactionPending) this.#schedule();
    }
    this.#maybeSnapshot();
    // A tick runs once the microtasks have: the answers' chains, which queue them on their
    // connections (whose flushes are then due before the peer links'), and forwarded proposals'
    // results, which share a write with the broadcast to their member.
    if (afterAnswers && this.#afterAnswers.length > 0)
      process.nextTick(() => this.#sendMessagesAfterAnswers());
  }

  #sendMessagesAfterAnswers(): void {
    if (this.#afterAnswers.length === 0 || this.#closed) return;
    const messages = this.#afterAnswers;
    this.#afterAnswers = [];
    this.#send(messages);
  }

  /**
   * Hands messages to the transport. Snapshot chunks first get their bytes
   * from the snapshot store, read in order per peer off the Raft loop; a
   * chunk of a snapshot since superseded tells the core the transfer
   * failed, and it starts again from the latest.
   */
  #send(messages: readonly Message[]): void {
    const direct: Message[] = [];
    for (const m of messages) {
      if (!isUnfilledSnapshotChunk(m)) {
        direct.push(m);
        continue;
      }
      this.metrics.snapshotChunksSent.inc();
      const chunk = m.snapshot as SnapshotChunk;
      const previous = this.#chunkReads.get(m.to) ?? Promise.resolve();
      const read = previous.then(async () => {
        try {
          const data = await this.#stores.snapshots.readChunk(
            chunk.metadata.index,
            chunk.offset,
            chunk.length,
          );
          if (!this.#closed) this.#transport.send([fillSnapshotChunk(m, data)]);
        } catch (error) {
          this.#logger.info(
            { peer: m.to, index: chunk.metadata.index, error: (error as Error).message },
            'cannot read a snapshot chunk to send; the transfer starts again',
          );
          if (!this.#closed) {
            this.#raw.reportSnapshot(m.to, false);
            this.#schedule();
          }
        }
      });
      this.#chunkReads.set(m.to, read);
      void read.finally(() => {
        if (this.#chunkReads.get(m.to) === read) this.#chunkReads.delete(m.to);
      });
    }
    if (direct.length > 0) this.#transport.send(direct);
  }

  async #apply(entries: readonly Entry[]): Promise<void> {
    this.metrics.commits.inc(entries.length);
    const results = await this.#state.apply(entries);
    this.metrics.applies.inc(entries.length);
    entries.forEach((entry, i) => {
      const result = results[i];
      this.#mirrorLeases(entry, result);
      const key = result === undefined ? undefined : `${result.clientId}/${result.requestId}`;
      if (key !== undefined) this.#proposals.resolve(key, result);
      const waiting = this.#proposalIndex.get(entry.index);
      if (waiting === undefined) return;
      this.#proposalIndex.delete(entry.index);
      if (waiting.key === key) return;
      if (Buffer.compare(waiting.data, entry.data) === 0) {
        this.#proposals.resolve(waiting.key, undefined); // not a KV request: its bytes are its identity
      } else {
        this.#proposals.reject(
          waiting.key,
          new ProposalDroppedError(`Proposal dropped: a new leader replaced entry ${entry.index}; retry`),
        );
      }
    });
  }

  /** Tells the lessor what an applied entry changed, and promotes it at this leader's own first entry. */
  #mirrorLeases(entry: Entry, result: AppliedResult): void {
    const nowMs = performance.now();
    for (const change of result?.leases ?? []) this.#leases.mirror(change, nowMs);
    if (entry.type === EntryType.normal && entry.data.length === 0)
      this.#leases.appliedEmpty(entry.term, this.#raw.raft, nowMs);
  }

  #releaseAppliedWaiters(): void {
    const applied = this.#state.applied;
    const ready = this.#appliedWaiters.filter((waiter) => waiter.index <= applied);
    this.#appliedWaiters = this.#appliedWaiters.filter((waiter) => waiter.index > applied);
    for (const waiter of ready) waiter.resolve();
  }

  #onSoftState(): void {
    const raft = this.#raw.raft;
    this.metrics.isLeader.set(raft.role === 'leader' ? 1 : 0);
    this.metrics.term.set(raft.term);
    if (raft.lead !== this.#lastLeader) {
      // Reads forwarded to the old leader may never be answered: fail them now; reads are safe to retry.
      if (this.#lastLeader !== NONE) {
        this.#reads.rejectAll(new UnavailableError('The leader changed during the read; retry'));
        this.#readRound = undefined;
      }
      this.#leaderChangesSeen++;
      if (raft.lead !== NONE) this.metrics.leaderChanges.inc();
      this.#lastLeader = raft.lead;
      if (raft.lead !== NONE) this.#maybePublish();
    }
  }

  /** Tells the cluster this member's addresses if its directory entry lacks them. */
  #maybePublish(): void {
    const known = this.#state.members.get(this.id);
    const self = this.info;
    if (
      known?.client === self.client &&
      known.http === self.http &&
      known.peer === self.peer &&
      known.etcd === self.etcd
    )
      return;
    void this.propose(encodePublish(this.id, self)).catch((error: Error) =>
      this.#logger.debug(
        { error: error.message },
        'publishing member addresses failed; retrying on next leader',
      ),
    );
  }

  #learnPeer(from: NodeId, address: string): void {
    if (!this.#state.members.has(from) && this.#learnedPeers.get(from) !== address) {
      // A member not in our directory yet (we are joining, or it is): answer it where it says it listens.
      this.#learnedPeers.set(from, address);
      this.#updatePeers();
    }
  }

  /**
   * Peer `from` (listening at `address`) dialed this member: the stream of
   * what this member sends it, for as long as the link lives.
   *
   * @throws {UnavailableError} when this member is shutting down.
   */
  acceptPeer(from: NodeId, address: string, signal: AbortSignal): AsyncIterable<PeerItem> {
    if (this.#closed) throw new UnavailableError('Cannot accept a peer link: this member is shutting down');
    this.#learnPeer(from, address);
    return this.#transport.accept(from, signal);
  }

  /** Carries out a proposal a follower forwarded here (it fails `NOT_LEADER` unless this member leads). */
  async answerForwarded(data: Uint8Array): Promise<ProposeAnswer> {
    const type = kvEntryType(data);
    if (type === 'leaseKeepAlives') {
      // Its leases were renewed by no lessor here: only the leader that renewed them proposes one.
      throw new InvalidArgumentError('Cannot carry out forwarded keep-alives in one entry: forward each');
    }
    const command = type === 'leaseKeepAlive' ? keepAliveOf(data) : undefined;
    if (command !== undefined) await this.#renewBeforeKeepAlive(command);
    const { index, outcome } = await this.propose(data, false);
    return { index, output: outcome ?? null };
  }

  /** The outcome of a proposal this member forwarded to `from` over a link `from` dialed. */
  forwardedResult(from: NodeId, result: ProposeResult): void {
    this.#transport.proposeResult(from, result);
  }

  #updatePeers(): void {
    this.#peersFrom = this.#state.members;
    const addresses = new Map<NodeId, string>();
    for (const [name, peer] of this.#options.initialCluster) addresses.set(memberIdOf(name), peer);
    for (const [id, address] of this.#learnedPeers) {
      if (this.#state.members.has(id)) this.#learnedPeers.delete(id);
      else addresses.set(id, address);
    }
    for (const [id, info] of this.#state.members) if (info.peer !== '') addresses.set(id, info.peer);
    this.#transport.setPeers(addresses);
  }

  /**
   * Starts a snapshot in the background once enough was applied since the
   * last: the image streams from an LMDB read transaction while the Raft
   * loop goes on ticking and replicating. The log is compacted by the loop
   * afterwards (it is the log's only writer).
   */
  #maybeSnapshot(): void {
    const stagger = snapshotStaggerOf(this.id);
    const every = Math.round((this.#options.snapshotEntries ?? SNAPSHOT_ENTRIES_DEFAULT) * stagger);
    const bytes = Math.round((this.#options.snapshotLogBytes ?? SNAPSHOT_LOG_BYTES_DEFAULT) * stagger);
    const since = this.#state.applied - this.#snapshotIndex;
    if (this.#snapshotting || this.#closed || since <= 0) return;
    const image = this.#stores.snapshots.latest()?.totalBytes ?? 0;
    const due =
      this.#logBytesSinceSnapshot >= bytes ||
      since >= every * SNAPSHOT_ENTRIES_CAP_FACTOR ||
      (since >= every && this.#logBytesSinceSnapshot >= image * SNAPSHOT_LOG_SHARE_OF_IMAGE);
    if (!due) return;
    this.#snapshotting = true;
    this.#logBytesSinceSnapshot = 0;
    void this.#takeSnapshot()
      .catch((error: Error) => this.#logger.warn({ error: error.message }, 'snapshot failed; will try again'))
      .finally(() => {
        this.#snapshotting = false;
      });
  }

  async #takeSnapshot(): Promise<void> {
    const { log, snapshots } = this.#stores;
    const { index } = await this.#state.snapshotInto(snapshots, (at) => log.term(at));
    this.#snapshotIndex = Math.max(this.#snapshotIndex, index);
    this.metrics.snapshots.inc({ kind: 'created' });
    const keep = this.#options.snapshotCatchupEntries ?? SNAPSHOT_CATCHUP_ENTRIES_DEFAULT;
    this.#compactTo = Math.max(this.#compactTo, index - keep);
    this.#schedule();
  }

  /** Compacts the log up to what the last snapshot allows; called from the loop, the log's only writer. */
  #compactLog(): void {
    const { log } = this.#stores;
    if (
      this.#compactTo >= log.firstIndex() &&
      this.#compactTo <= this.#snapshotIndex &&
      this.#compactTo <= log.lastIndex()
    ) {
      log.compact(this.#compactTo);
    }
    this.#compactTo = 0;
  }

  #checkWritable(): void {
    if (this.alarms.size > 0) {
      throw new NoSpaceError(
        `Cannot write: member ${this.info.name} has alarms ${[...this.alarms].join(', ')}`,
      );
    }
    if (this.#closed) throw new UnavailableError(`Cannot write: member ${this.info.name} is shutting down`);
  }

  /**
   * Replicates `data` as one entry and resolves with its result once
   * applied here. A follower forwards it to the leader, unless `forward`
   * is false (a proposal forwarded to us is never forwarded again).
   *
   * @throws {NotLeaderError} when not leading and `forward` is false.
   * @throws {UnavailableError} when no leader is known (safe to retry).
   * @throws {ProposalDroppedError} when a new leader replaced the entry (safe to retry).
   * @throws {DeadlineExceededError} when the outcome is unknown after {@link REQUEST_TIMEOUT_MS}.
   */
  async propose(
    data: Uint8Array,
    forward = true,
    key = this.#keyOf(data),
  ): Promise<{ index: number; outcome: KvOutcome | undefined }> {
    try {
      return await this.#propose(data, forward, key);
    } catch (error) {
      this.metrics.proposalsFailed.inc();
      throw error;
    }
  }

  async #propose(
    data: Uint8Array,
    forward: boolean,
    key: string,
  ): Promise<{ index: number; outcome: KvOutcome | undefined }> {
    this.#checkWritable();
    const raft = this.#raw.raft;
    if (raft.role !== 'leader' && forward) {
      const leader = raft.lead;
      if (leader === NONE) {
        throw new UnavailableError('Cannot propose: no leader is known; retry', {
          details: { reason: 'NO_LEADER' },
        });
      }
      const changesBefore = this.#leaderChangesSeen;
      const answer = await this.#transport.propose(leader, data).catch((error: unknown) => {
        throw this.#leaderChangesSeen !== changesBefore ? leaderFailed(leader, error) : error;
      });
      await this.waitApplied(answer.index);
      return { index: answer.index, outcome: answer.output ?? undefined };
    }
    const index = this.#raw.propose(data);
    this.metrics.proposals.inc();
    this.#proposalIndex.set(index, { key, data });
    this.#schedule();
    const result = await this.#proposals.wait(key, REQUEST_TIMEOUT_MS, () => {
      this.#proposalIndex.delete(index);
      return new DeadlineExceededError(
        `Proposal at index ${index} has no outcome after ${REQUEST_TIMEOUT_MS} ms`,
      );
    });
    return { index, outcome: result?.outcome };
  }

  #keyOf(data: Uint8Array): string {
    const identity = kvEntryIdentity(data);
    return identity === undefined
      ? `opaque/${++this.#requestCounter}/${this.#incarnation}`
      : `${identity.clientId}/${identity.requestId}`;
  }

  /** A KV command as an entry from this member, with an id no earlier incarnation used. */
  encodeCommand(command: KvCommand): { data: Uint8Array; key: string } {
    const requestId = this.#incarnation * 2 ** 21 + (++this.#requestCounter % 2 ** 21);
    return { data: encodeKvEntry({ clientId: this.id, requestId, command }), key: `${this.id}/${requestId}` };
  }

  /**
   * Runs a KV command through the log and answers with the store's
   * response once it is applied here.
   *
   * @throws the store's typed error when it refused the command (nothing changed).
   */
  async write(command: KvCommand, forward = true): Promise<{ index: number; response: unknown }> {
    const { data, key } = this.encodeCommand(command);
    const { index, outcome } = await this.propose(data, forward, key);
    if (outcome === undefined) throw new InternalError(`Entry ${index} applied without a KV outcome`);
    if (outcome.error !== undefined) {
      throw errorFromWire(outcome.error.code, outcome.error.message, outcome.error.details);
    }
    return { index, response: outcome.response };
  }

  /**
   * Creates a lease of `ttl` seconds with id `id`, or, when `id` is 0, one
   * this member picks (a random 48-bit id, picked again on a clash).
   *
   * @throws the store's typed error (a lease `id` exists, a bad TTL, too many leases).
   */
  async leaseGrant(ttl: number, id = 0): Promise<LeaseGrantResponse> {
    for (let attempt = 1; ; attempt++) {
      const pick = id === 0 ? randomBytes(6).readUIntBE(0, 6) || 1 : id;
      try {
        return (await this.write({ type: 'leaseGrant', request: { id: pick, ttl } }))
          .response as LeaseGrantResponse;
      } catch (error) {
        const clash = error instanceof InvalidArgumentError && error.details?.['reason'] === 'LEASE_EXISTS';
        if (id !== 0 || !clash || attempt >= LEASE_ID_ATTEMPTS) throw error;
      }
    }
  }

  /** Ends a lease, deleting its keys (one revision). */
  async leaseRevoke(id: number): Promise<LeaseRevokeResponse> {
    return (await this.write({ type: 'leaseRevoke', request: { id } })).response as LeaseRevokeResponse;
  }

  /**
   * Renews a lease: the leader's lessor renews it, then an entry commits
   * recording the full TTL (see `LeaseKeepAliveRequest`), which only the
   * term's leader can commit; the answer promises the TTL from before the
   * proposal. At the leader, the keep-alives of one turn share one entry
   * (`leaseKeepAlives`; those taken while one is in flight wait for it, see
   * `#proposeKeepAlives`): 256 clients renewed 84,000-93,000 times a second
   * at 10-12 us of server CPU each, against 26,600-36,000 at 35-49 with an
   * entry each. A follower passes its keep-alive to the leader alone.
   *
   * @throws {InvalidArgumentError} when the lease does not exist (`details.reason` `LEASE_NOT_FOUND`).
   */
  async leaseKeepAlive(id: number): Promise<LeaseKeepAliveResponse> {
    const command = { type: 'leaseKeepAlive', request: { id } } as const;
    if (this.#raw.raft.role !== 'leader')
      return (await this.write(command)).response as LeaseKeepAliveResponse;
    await this.#renewBeforeKeepAlive(command);
    return new Promise((resolve, reject) => {
      let batch = this.#keepAlives.at(-1);
      if (batch === undefined || batch.ids.length >= LEASE_KEEPALIVES_MAX) {
        batch = { ids: [], waiters: [] };
        this.#keepAlives.push(batch);
        // The Raft loop proposes it when it next runs (an immediate, after this turn's I/O callbacks:
        // the keep-alives of every request read in it), before it takes a Ready, so they share that
        // Ready with the writes read beside them. (A tick would not do: node's http2 delivers each DATA
        // frame of a read in a callback of its own, ticks and microtasks run after each, and the etcd
        // door's keep-alives would go one per entry.)
        this.#schedule();
      }
      batch.ids.push(id);
      batch.waiters.push({ resolve, reject });
    });
  }

  /**
   * Proposes the keep-alives taken since the last batches were proposed,
   * renewed by this leader's lessor, an entry per batch, and answers each.
   * Only here: a batch is never forwarded (a member that stopped leading
   * meanwhile fails them all `NOT_LEADER`, and the clients renew at the new
   * leader, which gates them itself).
   *
   * While batches are in flight, those taken meanwhile wait for them to be
   * answered and then go together (as Nagle's algorithm holds small
   * segments while one is unacknowledged): every entry costs each member a
   * Ready (a WAL write and fdatasync, an append and its answer, an apply),
   * and keep-alives, which answer in seconds, do not need an entry per
   * loop turn. A keep-alive alone is proposed at once. 256 etcd3 clients
   * renewing at the leader through the etcd door (three A/B pairs in one
   * cluster): 912-1,072 entries a second became 778-844, each member's CPU
   * per keep-alive 14.6-17.3 us at the leader and 5.3-6.1 at a follower
   * became 13.5-15.0 and 4.4-5.3, and 39,400-44,700 keep-alives a second
   * became 44,500-49,600.
   */
  #proposeKeepAlives(): void {
    if (this.#keepAlives.length === 0 || this.#keepAlivesInFlight > 0) return;
    for (const batch of this.#keepAlives.splice(0)) void this.#proposeKeepAliveBatch(batch);
  }

  async #proposeKeepAliveBatch(batch: KeepAliveBatch): Promise<void> {
    this.#keepAlivesInFlight++;
    try {
      const { response } = await this.write({ type: 'leaseKeepAlives', request: { ids: batch.ids } }, false);
      const { revision, ttls } = response as LeaseKeepAlivesResponse;
      batch.ids.forEach((id, i) => {
        const ttl = ttls[i] ?? -1;
        const waiter = batch.waiters[i] as KeepAliveBatch['waiters'][number];
        if (ttl >= 0) waiter.resolve({ revision, id, ttl });
        else waiter.reject(leaseNotFoundError(id, 'keep alive lease'));
      });
    } catch (error) {
      for (const waiter of batch.waiters) waiter.reject(error);
    } finally {
      this.#keepAlivesInFlight--;
      if (this.#keepAlivesInFlight === 0 && this.#keepAlives.length > 0) this.#schedule();
    }
  }

  /**
   * Renews the lease in the leading lessor just before its keep-alive is
   * proposed here. Waits (a tick at a time) while this leader has not
   * promoted its lessor, or while the lease's revoke is under way (its
   * keep-alive then answers `LEASE_NOT_FOUND`).
   *
   * @throws {NotLeaderError} when this member does not lead.
   * @throws {UnavailableError} when it cannot renew within the request timeout.
   */
  async #renewBeforeKeepAlive(command: { request: { id: number } }): Promise<void> {
    const tickMs = this.#options.tickMs ?? TICK_MS_DEFAULT;
    for (let waited = 0; waited < REQUEST_TIMEOUT_MS; waited += tickMs) {
      this.#checkWritable();
      const raft = this.#raw.raft;
      const gate = this.#leases.beforeKeepAlive(raft, command.request.id, performance.now());
      if (gate === 'renewed') return;
      if (gate === 'not leader') {
        throw new NotLeaderError(
          `Cannot keep lease ${command.request.id} alive: member ${this.info.name} does not lead`,
          {
            details: { leaderHint: raft.lead },
          },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, tickMs));
    }
    throw new UnavailableError(
      `Cannot keep lease ${command.request.id} alive: the leader's lessor did not take it; retry`,
    );
  }

  /**
   * What a lease has left (etcd `LeaseTimeToLive`): the leader's live TTL
   * in seconds (-1 when the lease does not exist), its granted TTL and,
   * with `keys`, its keys. Only the leader knows the live TTL: it confirms
   * its leadership first (ReadIndex), so a deposed leader never answers.
   *
   * @throws {NotLeaderError} when this member does not lead (the caller asks the leader).
   */
  async leaseTimeToLive(id: number, keys: boolean): Promise<LeaseTimeToLiveResponse> {
    const notLeader = (): NotLeaderError =>
      new NotLeaderError(`Cannot read lease ${id}: member ${this.info.name} does not lead`, {
        details: { leaderHint: this.#raw.raft.lead },
      });
    // Only the leader's lessor knows the live TTL: no quorum round on a member that cannot answer.
    if (this.#raw.raft.role !== 'leader') throw notLeader();
    await this.linearizableBarrier('lease time-to-live');
    const tickMs = this.#options.tickMs ?? TICK_MS_DEFAULT;
    for (let waited = 0; ; waited += tickMs) {
      const raft = this.#raw.raft;
      const lessor = this.#leases.leading(raft);
      if (lessor !== undefined) {
        const info = this.#state.leaseTimeToLive(id);
        if (info === undefined) return { id, ttl: -1, grantedTtl: 0, keys: [] };
        const ttl = lessor.timeToLive(id, performance.now());
        return { id, ttl, grantedTtl: info.grantedTtl, keys: keys ? [...info.keys] : [] };
      }
      if (raft.role !== 'leader') throw notLeader();
      // A leader that has not applied its own first entry yet: its lessor leads in a moment.
      if (waited >= REQUEST_TIMEOUT_MS) {
        throw new UnavailableError(`Cannot read lease ${id}: the leader's lessor is not leading yet; retry`);
      }
      await new Promise((resolve) => setTimeout(resolve, tickMs));
    }
  }

  /** Every lease id, ascending; linearizable. */
  async leaseList(): Promise<number[]> {
    await this.linearizableBarrier('lease list');
    return this.#state.leaseList();
  }

  /**
   * A watch on this member (etcd's watches are local to the member that
   * serves them): a first response with no events once the watcher exists,
   * then its events as they are applied here, whole revisions in order
   * (see `WatchHub.take`), and with `progressNotify` an empty response
   * carrying the revision every `watchProgressMs` while idle. The last
   * response of a watcher that ended carries `cancelled` (compacted, or too
   * slow: watch again from `resumeRevision`). Ends when `signal` aborts.
   *
   * @throws {CompactedError} when `startRevision` was compacted.
   * @throws {UnavailableError} (from the iterator) when a snapshot install
   * replaced this member's store: watch again from the last revision seen.
   */
  async *watch(
    request: WatchRequest,
    progressNotify: boolean,
    signal: AbortSignal,
  ): AsyncGenerator<WatchResponse> {
    const hub = this.#state.hub;
    const watchId = hub.watch(request);
    const progressMs = this.#options.watchProgressMs ?? WATCH_PROGRESS_MS_DEFAULT;
    try {
      yield { watchId, revision: hub.revision, events: [], fragment: false };
      let progressAt = performance.now() + progressMs;
      while (!signal.aborted && !this.#closed) {
        if (this.#state.hub !== hub || this.#state.restoring !== undefined) {
          throw new UnavailableError(
            `Watch ${watchId} ended: member ${this.info.name} installed a snapshot; watch again from the last revision seen`,
          );
        }
        const response = hub.take(watchId);
        if (response.events.length > 0 || response.cancelled !== undefined) {
          yield response;
          if (response.cancelled !== undefined) return;
          progressAt = performance.now() + progressMs;
          continue;
        }
        if (progressNotify && performance.now() >= progressAt) {
          const revision = hub.progress(watchId);
          if (revision !== undefined) yield { watchId, revision, events: [], fragment: false };
          progressAt = performance.now() + progressMs;
        }
        // Still reading history: the next step may find events with no write to wake it (yield to
        // the loop between steps, so a long replay does not hold up everything else).
        if (hub.catchingUp(watchId)) await new Promise((resolve) => setImmediate(resolve));
        else await this.#nextAppliedBatch(signal, Math.max(1, progressAt - performance.now()));
      }
    } finally {
      hub.cancel(watchId);
    }
  }

  /** Resolves after the next applied batch, after `ms`, or when `signal` aborts, whichever comes first. */
  #nextAppliedBatch(signal: AbortSignal, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#appliedBatchListeners.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.#appliedBatchListeners.add(done);
    });
  }

  #wakeWatchers(): void {
    const listeners = [...this.#appliedBatchListeners];
    this.#appliedBatchListeners.clear();
    for (const listener of listeners) listener();
  }

  /**
   * A linearizable range read (ReadIndex, thesis §6.4), or with
   * `serializable` this member's applied state at once.
   */
  async range(
    request: RangeRequest,
    serializable: boolean,
  ): Promise<{ response: RangeResponse; index: number }> {
    if (!serializable) await this.linearizableBarrier('range read');
    return { response: this.#state.range(request), index: this.#state.applied };
  }

  /**
   * Resolves once this member's state includes every write committed before
   * the call (ReadIndex, thesis §6.4): what it then reads is linearizable.
   */
  async linearizableBarrier(what = 'read'): Promise<void> {
    if (this.alarms.size > 0) {
      // The Raft loop stopped with the disk: no quorum round can run here. Reads are safe to retry elsewhere.
      throw new UnavailableError(
        `Cannot confirm the ${what}: member ${this.info.name} has alarms ${[...this.alarms].join(', ')}; read from another member or with serializable`,
      );
    }
    let round = this.#readRound;
    if (round === undefined) {
      const context = randomBytes(12);
      const index = this.#reads.wait(
        context.toString('hex'),
        REQUEST_TIMEOUT_MS,
        () => new DeadlineExceededError(`The ${what} was not confirmed in ${REQUEST_TIMEOUT_MS} ms`),
      );
      round = { context, index };
      this.#readRound = round;
      this.#schedule();
    }
    await this.waitApplied(await round.index);
  }

  /**
   * Starts the ReadIndex round reads joined since the last (etcd batches
   * its reads the same way, in `linearizableReadLoop`): one quorum round,
   * one heartbeat per follower, for every read that arrived before it.
   * Safe because the round starts after each of them arrived: the index it
   * confirms covers every write acknowledged before any of them began.
   * Reads arriving later join the next round.
   */
  #startReadRound(): void {
    const round = this.#readRound;
    if (round === undefined) return;
    this.#readRound = undefined;
    this.metrics.readIndexRounds.inc();
    try {
      this.#raw.readIndex(round.context);
    } catch (error) {
      // No leader known (NOT_LEADER naming none): every read of the round fails with it, safe to retry.
      this.#reads.reject(round.context.toString('hex'), error as Error);
    }
  }

  /** Resolves once this member applied up to `index`. */
  waitApplied(index: number): Promise<void> {
    if (this.#state.applied >= index) return Promise.resolve();
    if (this.#appliedWaiters.length >= WAITERS_MAX) {
      return Promise.reject(new UnavailableError(`Cannot wait: ${WAITERS_MAX} requests already wait here`));
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        index,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      // A member that stopped catching up (cut off, or its disk failed) must not hold callers forever.
      const timer = setTimeout(() => {
        this.#appliedWaiters = this.#appliedWaiters.filter((w) => w !== waiter);
        reject(
          new DeadlineExceededError(
            `Member ${this.info.name} did not apply up to ${index} in ${REQUEST_TIMEOUT_MS} ms`,
          ),
        );
      }, REQUEST_TIMEOUT_MS);
      this.#appliedWaiters.push(waiter);
    });
  }

  /** Proposes a membership change and resolves once it is applied here. */
  async changeMembership(change: ConfChange): Promise<void> {
    this.#checkWritable();
    const index = this.#raw.proposeConfChange(change);
    this.#schedule();
    await this.waitApplied(index);
    // The index may have gone to another entry (a new leader): check the change is what now holds.
    const { voters, learners } = this.#state.confState;
    const holds =
      change.type === ConfChangeType.remove
        ? !voters.includes(change.nodeId) && !learners.includes(change.nodeId)
        : (change.type === ConfChangeType.addVoter ? voters : learners).includes(change.nodeId);
    if (!holds) {
      throw new ProposalDroppedError(
        `Membership change at index ${index} did not take effect (a new leader replaced it); retry`,
      );
    }
  }

  /**
   * Promotes learner `id` to voter (on the leader), once its log matches at
   * least {@link LEARNER_READY_FRACTION} of the leader's, as etcd's
   * `isLearnerReady` asks: a learner that never started, or lags far
   * behind, would count toward the quorum without helping reach it.
   *
   * @throws {FailedPreconditionError} (rejects; `details.reason`
   *   `LEARNER_NOT_READY`) when the learner is behind.
   */
  async promoteLearner(id: NodeId): Promise<void> {
    const raft = this.#raw.raft;
    if (raft.role === 'leader' && raft.confState().learners.includes(id)) {
      const learnerMatch = raft.progress.get(id)?.match ?? 0;
      const leaderMatch = raft.progress.get(raft.id)?.match ?? raft.log.lastIndex();
      if (learnerMatch < leaderMatch * LEARNER_READY_FRACTION) {
        throw new FailedPreconditionError(
          `Cannot promote learner ${id}: its log reaches entry ${learnerMatch} of the leader's ${leaderMatch}; promote it once it caught up`,
          { details: { reason: 'LEARNER_NOT_READY', learnerMatch, leaderMatch } },
        );
      }
    }
    await this.changeMembership({ type: ConfChangeType.addVoter, nodeId: id, context: new Uint8Array() });
  }

  /** Hands leadership to `id`. */
  transferLeadership(id: NodeId): void {
    this.#raw.transferLeadership(id);
    this.#schedule();
  }

  /** This member's view of itself and the cluster. */
  status(): NodeStatus {
    const raft = this.#raw.raft;
    const members: MemberStatus[] = [];
    const { voters, learners } = raft.confState();
    for (const [ids, role] of [
      [voters, 'voter'],
      [learners, 'learner'],
    ] as const) {
      for (const id of ids) {
        const info = this.#state.members.get(id) ?? { name: '', peer: '', client: '', http: '' };
        members.push({ id, role, ...info });
      }
    }
    return {
      id: this.id,
      name: this.info.name,
      pid: process.pid,
      role: raft.role,
      leaderId: raft.lead,
      leaderName: this.#state.members.get(raft.lead)?.name ?? null,
      term: raft.term,
      commit: raft.log.committed,
      applied: this.#state.applied,
      revision: this.#state.revision,
      members,
      alarms: [...this.alarms],
    };
  }

  /** The current Raft term (what {@link status} says, without building the rest). */
  get term(): number {
    return this.#raw.raft.term;
  }

  /** The store's revision as of the applied index (what {@link status} says, without building the rest). */
  get revision(): number {
    return this.#state.revision;
  }

  /** The store's compact revision as of the applied index: history below it is gone. */
  get compactRevision(): number {
    return this.#state.compactRevision;
  }

  /** Bytes of the state's LMDB file (its high-water mark: LMDB reuses freed pages in place). */
  get stateBytes(): number {
    return this.#state.diskBytes;
  }

  /**
   * Writes an image of the state as of one applied index, as a snapshot
   * holds it (see `LmdbState.writeImage`): `begin` is told the applied
   * index and the store revision the image holds, and returns where its
   * bytes go. For copies taken out of the member (etcd's
   * Maintenance.Snapshot); Raft's own snapshots are taken by the member.
   */
  writeImage(
    begin: (at: { applied: number; revision: number }) => Promise<(bytes: Uint8Array) => Promise<void>>,
  ): Promise<{ applied: number }> {
    return this.#state.writeImage(({ applied }) => {
      // `writeImage` calls `begin` right after opening its read transaction, with no await between: no
      // entry is applied in between, so the revision read here is the image's.
      if (applied !== this.#state.applied) {
        throw new Error(`Invariant: the image is at ${applied} but the state applied ${this.#state.applied}`);
      }
      return begin({ applied, revision: this.#state.revision });
    });
  }

  /** A learner or voter change for `member add`. */
  static addChange(info: MemberInfo, voter: boolean): ConfChange {
    return {
      type: voter ? ConfChangeType.addVoter : ConfChangeType.addLearner,
      nodeId: memberIdOf(info.name),
      context: encodeMemberInfo(info),
    };
  }

  /** Stops: no more ticks, finishes the Ready in progress (its writes synced), closes peers and stores. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#ticker);
    this.#wakeWatchers();
    while (this.#busy || this.#snapshotting) await new Promise((resolve) => setTimeout(resolve, 5));
    this.#transport.close();
    // A pending proposal may still commit through another member: its outcome is unknown, not refused.
    this.#proposals.rejectAll(
      new ConnectionLostError(`Member ${this.info.name} shut down before the proposal's outcome was known`),
    );
    this.#reads.rejectAll(new UnavailableError(`Member ${this.info.name} shut down`));
    this.#readRound = undefined;
    await this.#stores.close();
    await this.#state.close();
  }
}

/**
 * What a proposal forwarded to `leader` fails with when the leader changed
 * while it waited: an answer that never came (timed out, or the link was
 * lost after it was sent) becomes etcd's `ErrTimeoutDueToLeaderFail`
 * ("request timed out, possibly due to previous leader failure"): the
 * outcome is unknown. As etcd does, the wait is not cut short: the old
 * leader still answers if the new one kept the entry. Other failures
 * (certainly not applied) stay as they are.
 */
function leaderFailed(leader: NodeId, error: unknown): unknown {
  if (!(error instanceof DeadlineExceededError || error instanceof ConnectionLostError)) return error;
  return new OutcomeUnknownError(
    `Leader ${leader} changed before it answered the proposal forwarded to it (${error.message}); it may or may not have been applied`,
    { cause: error, details: { reason: 'LEADER_FAILED' } },
  );
}

/** Keep-alives proposed together, and who waits for each, in order. */
interface KeepAliveBatch {
  readonly ids: number[];
  readonly waiters: { resolve(response: LeaseKeepAliveResponse): void; reject(error: unknown): void }[];
}

/** The keep-alive a KV entry carries, if it is one (a forwarded proposal the leader must renew first). */
function keepAliveOf(data: Uint8Array): { request: { id: number } } | undefined {
  // Checked and copied only when it is one (see kvEntryType): most forwarded proposals are puts, whose
  // values a full decode copies.
  const command = kvEntryCommand(data);
  return command?.type === 'leaseKeepAlive' ? command : undefined;
}
