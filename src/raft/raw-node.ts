/**
 * `RawNode`: the Ready/advance driver around {@link Raft} (etcd's RawNode).
 *
 * The caller loops: feed ticks, messages and proposals in; when
 * `hasReady()`, take `ready()`, carry it out in the order its type
 * documents, then `advance()`.
 *
 * @example
 * ```ts
 * const node = new RawNode({ id: 1, storage, random: new SeededRandom(1) });
 * node.tick();
 * if (node.hasReady()) {
 *   const ready = node.ready();
 *   send(ready.messages);
 *   persist(ready);                  // snapshot, entries, hard state, fsync
 *   send(ready.messagesAfterPersist);
 *   apply(ready.committedEntries);
 *   node.advance();
 * }
 * ```
 *
 * @module
 */
import { type ConfChange, decodeConfChange } from './conf-change.ts';
import { Raft, type RaftConfig } from './raft.ts';
import {
  type Entry,
  EntryType,
  type HardState,
  hardStateEqual,
  type Message,
  MessageType,
  type NodeId,
  type Ready,
  type SoftState,
} from './types.ts';

/** Default most bytes of committed entries handed out in one Ready. */
export const COMMITTED_BYTES_PER_READY_MAX_DEFAULT = 64 * 1024 * 1024;

const LOCAL_TYPES: ReadonlySet<number> = new Set([
  MessageType.hup,
  MessageType.beat,
  MessageType.checkQuorum,
]);

interface PendingReady {
  readonly lastEntry: Entry | undefined;
  readonly snapshotIndex: number | undefined;
  readonly committedEntries: readonly Entry[];
}

/** Drives a {@link Raft} member through Ready batches. */
export class RawNode {
  readonly raft: Raft;
  readonly #committedBytesPerReadyMax: number;
  #previousSoftState: SoftState;
  #previousHardState: HardState;
  #pending: PendingReady | undefined;

  constructor(config: RaftConfig & { committedBytesPerReadyMax?: number }) {
    this.raft = new Raft(config);
    this.#committedBytesPerReadyMax =
      config.committedBytesPerReadyMax ?? COMMITTED_BYTES_PER_READY_MAX_DEFAULT;
    this.#previousSoftState = this.raft.softState();
    this.#previousHardState = this.raft.hardState();
  }

  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now. */
  campaign(): void {
    this.raft.campaign();
  }

  /**
   * Feeds in a message from a peer.
   *
   * @throws {RangeError} for local-only message kinds, which a peer must never send.
   */
  step(m: Message): void {
    if (LOCAL_TYPES.has(m.type))
      throw new RangeError(`Cannot step message type ${m.type} from the network: it is local`);
    this.raft.step(m);
  }

  /**
   * The transport tells whether a snapshot reached member `id`. Until it
   * does, the leader sends that member nothing else; a real transport knows
   * (the snapshot stream succeeded or failed), and must say so.
   */
  reportSnapshot(id: NodeId, delivered: boolean): void {
    this.raft.reportSnapshot(id, delivered);
  }

  /** The transport could not reach member `id`: the leader stops streaming to it and probes. */
  reportUnreachable(id: NodeId): void {
    this.raft.reportUnreachable(id);
  }

  /** Asks for a linearizable read point; see {@link Raft.readIndex}. */
  readIndex(context: Uint8Array): void {
    this.raft.readIndex(context);
  }

  /** Proposes `data`; see {@link Raft.propose} for what it returns and throws. */
  propose(data: Uint8Array): number {
    return this.raft.propose(data);
  }

  /**
   * Proposes a membership change; see {@link Raft.proposeConfChange}. The
   * change takes effect on this member in the `advance()` after its entry
   * is applied (it arrives in `committedEntries` with type `confChange`);
   * `raft.confState()` then shows the new membership.
   */
  proposeConfChange(change: ConfChange): number {
    return this.raft.proposeConfChange(change);
  }

  /** Hands leadership to voter `to`; see {@link Raft.transferLeadership}. */
  transferLeadership(to: NodeId): void {
    this.raft.transferLeadership(to);
  }

  /** Whether there is anything to do. */
  hasReady(): boolean {
    if (this.#pending !== undefined) return false;
    const raft = this.raft;
    const soft = raft.softState();
    return (
      soft.lead !== this.#previousSoftState.lead ||
      soft.role !== this.#previousSoftState.role ||
      !hardStateEqual(raft.hardState(), this.#previousHardState) ||
      raft.log.unstableEntries().length > 0 ||
      raft.log.unstableSnapshot() !== undefined ||
      raft.snapshotChunks.length > 0 ||
      raft.log.hasNextCommittedEntries() ||
      raft.messages.length > 0 ||
      raft.messagesAfterPersist.length > 0 ||
      raft.readStates.length > 0
    );
  }

  /**
   * The next batch of work. Call {@link advance} once it is done, before
   * asking for another.
   *
   * @throws {Error} when the previous Ready was not advanced.
   */
  ready(): Ready {
    if (this.#pending !== undefined)
      throw new Error('Cannot take a Ready: the previous one was not advanced');
    const raft = this.raft;
    const soft = raft.softState();
    const hard = raft.hardState();
    const entries = raft.log.unstableEntries();
    const snapshot = raft.log.unstableSnapshot();
    const committedEntries = raft.log.nextCommittedEntries(this.#committedBytesPerReadyMax);
    const ready: Ready = {
      softState:
        soft.lead !== this.#previousSoftState.lead || soft.role !== this.#previousSoftState.role
          ? soft
          : undefined,
      hardState: hardStateEqual(hard, this.#previousHardState) ? undefined : hard,
      entries,
      snapshot,
      snapshotChunks: raft.snapshotChunks,
      committedEntries,
      messages: raft.messages,
      messagesAfterPersist: raft.messagesAfterPersist,
      readStates: raft.readStates,
    };
    raft.readStates = [];
    raft.snapshotChunks = [];
    raft.messages = [];
    raft.messagesAfterPersist = [];
    this.#previousSoftState = soft;
    this.#previousHardState = hard;
    this.#pending = {
      lastEntry: entries[entries.length - 1],
      snapshotIndex: snapshot?.metadata.index,
      committedEntries,
    };
    return ready;
  }

  /** The last Ready was carried out: its writes are durable and its committed entries applied. */
  advance(): void {
    const pending = this.#pending;
    if (pending === undefined) throw new Error('Cannot advance: no Ready was taken');
    this.#pending = undefined;
    const raft = this.raft;
    if (pending.snapshotIndex !== undefined) {
      raft.log.stableSnapshotTo(pending.snapshotIndex);
      // The state machine was restored from the snapshot: everything up to it is applied.
      if (pending.snapshotIndex > raft.log.applied) raft.log.appliedTo(pending.snapshotIndex);
    }
    if (pending.lastEntry !== undefined) raft.persisted(pending.lastEntry.index, pending.lastEntry.term);
    const lastCommitted = pending.committedEntries[pending.committedEntries.length - 1];
    if (lastCommitted !== undefined) {
      for (const entry of pending.committedEntries) {
        // Entries a snapshot in this batch covered were not applied one by one; its membership is in force.
        if (entry.type !== EntryType.confChange || entry.index <= (pending.snapshotIndex ?? 0)) continue;
        raft.log.appliedTo(entry.index);
        raft.applyConfChange(decodeConfChange(entry.data));
      }
      raft.log.appliedTo(lastCommitted.index);
      raft.reduceUncommittedBytes(pending.committedEntries);
    }
  }
}
