/**
 * One simulated member: a `RawNode` driven by the Ready contract against a
 * {@link SimDisk}, with a KV machine applied in order, crashes that lose
 * unsynced writes, restarts from what was durable, and pauses.
 *
 * @module
 */
import { SeededRandom } from '../base/random.ts';
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

/** A member of the simulated cluster. */
export class SimMember {
  readonly id: NodeId;
  readonly disk: SimDisk;
  readonly #seed: number;
  readonly #bugs: readonly RaftBug[];
  readonly #machineOptions: MvccMachineOptions;
  readonly #snapshotEntries: number;
  node: RawNode | undefined;
  machine: MvccMachine;
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
    },
    onWrite?: (member: SimMember, revision: number, events: readonly Event[]) => void,
  ) {
    const { bugs, snapshotEntries } = settings;
    this.#machineOptions = {
      ...(onWrite === undefined ? {} : { onWrite: (revision, events) => onWrite(this, revision, events) }),
      skipWatchEvent: bugs.includes('watch-skip-event'),
    };
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
    this.machine = new MvccMachine(this.#machineOptions);
    const data = this.disk.latestSnapshot()?.data;
    if (data !== undefined) this.machine.restore(data);
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
      if (received !== undefined) this.machine.restore(received.data);
      for (const entry of ready.committedEntries) {
        if (ready.snapshot !== undefined && entry.index <= ready.snapshot.metadata.index) continue;
        // Membership changes take effect in the core (RawNode.advance); the KV machine sees only data.
        const applied = entry.type === EntryType.normal ? this.machine.apply(entry.data) : undefined;
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
