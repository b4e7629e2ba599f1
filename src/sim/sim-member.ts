/**
 * One simulated member: a `RawNode` driven by the Ready contract against a
 * {@link SimDisk}, with a KV machine applied in order, crashes that lose
 * unsynced writes, restarts from what was durable, and pauses.
 *
 * @module
 */
import { SeededRandom } from '../base/random.ts';
import { LeaseDriver } from '../kv/lease-driver.ts';
import type { Lessor } from '../kv/lessor.ts';
import type { LessorOptions } from '../kv/limits.ts';
import type { Event } from '../kv/types.ts';
import type { RaftBug } from '../raft/raft.ts';
import { RawNode } from '../raft/raw-node.ts';
import {
  type ConfState,
  type Entry,
  EntryType,
  type Message,
  type NodeId,
  type ReadState,
  type Ready,
  type Snapshot,
} from '../raft/types.ts';
import type { KvApplied } from './kv-machine.ts';
import { MvccMachine, type MvccMachineOptions } from './mvcc-machine.ts';
import { isRaftBug, type SimBug } from './sim-config.ts';
import { SimDisk } from './sim-disk.ts';

/** Where a member's output goes. */
export interface SimMemberSink {
  /** A message leaves the member at tick `now`. */
  send(ready: Ready['messages'][number]): void;
  /** The member applied `entry`, answering `applied` (undefined for no-ops). */
  applied(member: SimMember, entry: Entry, applied: KvApplied | undefined): void;
  /** A ReadIndex request of this member was confirmed. */
  readState(member: SimMember, readState: ReadState): void;
}

interface PendingReady {
  readonly ready: Ready;
  /** The snapshot the Ready completed, with its bytes. */
  readonly received: Snapshot | undefined;
  readonly syncAt: number;
}

/** Virtual milliseconds per tick: etcd's default heartbeat interval, so 10 election ticks make its 1 s election timeout. */
export const TICK_MS = 100;

/**
 * The extension a lessor gives every lease when it starts leading (etcd
 * passes its election timeout): time for clients to find the new leader.
 */
export const LESSOR_PROMOTE_EXTEND_MS = 10 * TICK_MS;

/** What a member needs of the run besides its settings. */
export interface SimMemberWorld {
  /** The virtual time in ticks (one clock for the run; a member reads it, never sets it). */
  readonly now: () => number;
  /** Told of every write the member applies. */
  readonly onWrite?: (member: SimMember, revision: number, events: readonly Event[]) => void;
}

/**
 * A member of the simulated cluster.
 *
 * Leases: each member owns a {@link Lessor}, told of every lease change its
 * store applies and reset from the store after a restore. It leads, so it
 * keeps deadlines, only between applying the empty entry of a term in which
 * this member leads (etcd promotes there: every entry of earlier terms,
 * checkpoints included, is applied by then) and the member's first moment
 * as anything but that term's leader. The run drives it each tick (see
 * `sim-leases.ts`); a follower's lessor never decides an expiry, unless the
 * `lease-expire-on-follower` test bug keeps every lessor leading.
 */
export class SimMember {
  readonly id: NodeId;
  readonly disk: SimDisk;
  readonly #seed: number;
  readonly #bugs: readonly RaftBug[];
  readonly #machineOptions: MvccMachineOptions;
  readonly #snapshotEntries: number;
  node: RawNode | undefined;
  machine: MvccMachine;
  /** This incarnation's lease driver and lessor (a restart makes new ones, as a process restart would). */
  leases: LeaseDriver;
  readonly #lessorOptions: LessorOptions;
  /** The `lease-expire-on-follower` test bug: the lessor leads from the start, whatever the role. */
  readonly #lessorAlwaysLeads: boolean;
  readonly #now: () => number;
  #pending: PendingReady | undefined;
  #restarts = 0;
  /** Tick until which the member is down (crashed) or frozen (paused). */
  downUntil = 0;
  pausedUntil = 0;

  readonly #checkQuorum: boolean;
  readonly #snapshotChunkBytes: number;

  constructor(
    id: NodeId,
    confState: ConfState,
    seed: number,
    settings: {
      bugs: readonly SimBug[];
      snapshotEntries: number;
      checkQuorum: boolean;
      snapshotChunkBytes: number;
      lessor: LessorOptions;
    },
    world: SimMemberWorld,
  ) {
    const { bugs, snapshotEntries } = settings;
    const onWrite = world.onWrite;
    this.#now = world.now;
    this.#machineOptions = {
      ...(onWrite === undefined ? {} : { onWrite: (revision, events) => onWrite(this, revision, events) }),
      skipWatchEvent: bugs.includes('watch-skip-event'),
      splitTxn: bugs.includes('txn-partial-apply'),
      keepAliveBatchUnchecked: bugs.includes('keepalive-batch-unchecked'),
      onLease: (change) => this.leases.mirror(change, this.nowMs),
    };
    this.#lessorOptions = settings.lessor;
    this.#lessorAlwaysLeads = bugs.includes('lease-expire-on-follower');
    this.leases = this.#newLeaseDriver();
    this.machine = new MvccMachine(this.#machineOptions);
    this.#checkQuorum = settings.checkQuorum;
    this.#snapshotChunkBytes = settings.snapshotChunkBytes;
    this.id = id;
    this.disk = new SimDisk(confState);
    this.#seed = seed;
    this.#bugs = bugs.filter(isRaftBug);
    this.#snapshotEntries = snapshotEntries;
    this.#start();
  }

  #start(): void {
    const snapshot = this.disk.storage.snapshot();
    this.leases = this.#newLeaseDriver();
    this.machine = new MvccMachine(this.#machineOptions);
    const data = this.disk.latestSnapshot()?.data;
    if (data !== undefined) this.#restore(data);
    this.node = new RawNode({
      id: this.id,
      storage: this.disk.storage,
      // A fresh stream per incarnation, still fixed by the run's seed.
      random: new SeededRandom(this.#seed * 7919 + this.id * 104_729 + this.#restarts),
      applied: snapshot.metadata.index,
      bugs: this.#bugs,
      checkQuorum: this.#checkQuorum,
      snapshotChunkBytes: this.#snapshotChunkBytes,
    });
    this.#pending = undefined;
  }

  get alive(): boolean {
    return this.node !== undefined;
  }

  /** The virtual time in milliseconds, as this member's lessor reads it. */
  get nowMs(): number {
    return this.#now() * TICK_MS;
  }

  /** This incarnation's lessor. */
  get lessor(): Lessor {
    return this.leases.lessor;
  }

  #newLeaseDriver(): LeaseDriver {
    return new LeaseDriver(
      {
        lessor: this.#lessorOptions,
        promoteExtendMs: LESSOR_PROMOTE_EXTEND_MS,
        alwaysLead: this.#lessorAlwaysLeads,
      },
      this.nowMs,
    );
  }

  /** The member's Raft role (a crashed member is nobody's leader). */
  get raftRole(): { role: string; term: number } {
    const raft = this.node?.raft;
    return raft === undefined ? { role: 'down', term: 0 } : { role: raft.role, term: raft.term };
  }

  /**
   * The lessor, if it leads and this member still leads the term it was
   * promoted in; demotes it first when the member no longer does.
   */
  leadingLessor(): Lessor | undefined {
    return this.leases.leading(this.raftRole);
  }

  /** Restores the machine from a snapshot image and the lessor from the machine's leases. */
  #restore(data: Uint8Array): void {
    this.machine.restore(data);
    const leases = this.machine.leases();
    this.leases.reset(leases, this.nowMs);
  }

  /** Crashes: in-memory state and unsynced writes are gone. */
  crash(now: number, downTicks: number): void {
    this.node = undefined;
    this.#pending = undefined;
    this.disk.crash();
    this.downUntil = now + downTicks;
  }

  /** Restarts from the durable state. */
  restart(): void {
    this.#restarts++;
    this.#start();
  }

  /**
   * Carries out Readies until none is left or a disk sync is still running.
   * The order is the contract's: send `messages`, write, (sync), send
   * `messagesAfterPersist`, apply, advance.
   */
  process(now: number, syncTicks: () => number, sink: SimMemberSink): void {
    const node = this.node;
    if (node === undefined) return;
    for (let round = 0; round < 100; round++) {
      if (this.#pending === undefined) {
        if (!node.hasReady()) return;
        const ready = node.ready();
        this.#send(node, ready.messages, sink);
        for (const readState of ready.readStates) sink.readState(this, readState);
        const received = this.disk.write(ready);
        this.#pending = { ready, received, syncAt: now + syncTicks() };
      }
      const { ready, received, syncAt } = this.#pending;
      if (now < syncAt) return;
      this.disk.sync();
      this.#send(node, ready.messagesAfterPersist, sink);
      if (received !== undefined) this.#restore(received.data);
      for (const entry of ready.committedEntries) {
        if (ready.snapshot !== undefined && entry.index <= ready.snapshot.metadata.index) continue;
        // Membership changes take effect in the core (RawNode.advance); the KV machine sees only data.
        const applied = entry.type === EntryType.normal ? this.machine.apply(entry.data) : undefined;
        if (entry.type === EntryType.normal && entry.data.length === 0)
          this.leases.appliedEmpty(entry.term, this.raftRole, this.nowMs);
        sink.applied(this, entry, applied);
      }
      this.#pending = undefined;
      node.advance();
      node.raft.checkInvariants();
      this.#maybeSnapshot(node);
    }
    throw new Error(`Member ${this.id} did not settle within 100 Ready rounds in one tick`);
  }

  /** Sends `messages`, snapshot chunks with their bytes (one of a superseded snapshot is reported lost). */
  #send(node: RawNode, messages: readonly Message[], sink: SimMemberSink): void {
    for (const m of messages) {
      const filled = this.disk.fillChunk(m);
      if (filled === undefined) node.reportSnapshot(m.to, false);
      else sink.send(filled);
    }
  }

  #maybeSnapshot(node: RawNode): void {
    const applied = node.raft.log.applied;
    const snapshotIndex = this.disk.storage.snapshot().metadata.index;
    if (applied - snapshotIndex < this.#snapshotEntries) return;
    this.disk.compact(applied, node.raft.confState(), this.machine.snapshot());
  }
}
