/**
 * A synchronous, deterministic network of Raft members for tests (after
 * etcd/raft's `network`): every Ready is carried out in the documented
 * order against a {@link MemoryStorage}, and messages are delivered until
 * the cluster is quiet. Links can be cut, members isolated, and messages
 * filtered or rewritten.
 *
 * @module
 */
import { SeededRandom } from '../base/random.ts';
import { MemoryStorage, SnapshotAssembler } from './memory-storage.ts';
import type { RaftConfig } from './raft.ts';
import { RawNode } from './raw-node.ts';
import { type Entry, EntryType, type Message, type NodeId, type ReadState } from './types.ts';

/** One member of a {@link TestNetwork}. */
export interface TestMember {
  readonly id: NodeId;
  readonly node: RawNode;
  readonly storage: MemoryStorage;
  /** Where chunks of a snapshot being received collect. */
  readonly snapshots: SnapshotAssembler;
  /** Entries applied, in order (no-ops included). */
  readonly applied: Entry[];
  /** Read points confirmed, in order. */
  readonly readStates: ReadState[];
}

/** Returns the message to deliver (possibly rewritten), or undefined to drop it. */
export type MessageFilter = (m: Message) => Message | undefined;

/** Rounds of delivery before {@link TestNetwork.settle} gives up (a livelock is a bug). */
export const SETTLE_ROUNDS_MAX = 10_000;

export class TestNetwork {
  readonly members = new Map<NodeId, TestMember>();
  readonly #cut = new Set<string>();
  #queue: Message[] = [];
  filter: MessageFilter | undefined;

  /** A cluster of `size` voters with ids 1..size; `seed` drives every member's jitter. */
  constructor(size: number, seed = 1, config: Partial<RaftConfig> = {}) {
    const voters = Array.from({ length: size }, (_, i) => i + 1);
    for (const id of voters) {
      const storage = new MemoryStorage({ voters, learners: [] });
      const node = new RawNode({ id, storage, random: new SeededRandom(seed * 1000 + id), ...config });
      this.members.set(id, {
        id,
        node,
        storage,
        snapshots: new SnapshotAssembler(),
        applied: [],
        readStates: [],
      });
    }
    // Apply the bootstrap membership changes, so every member knows the cluster.
    this.settle();
  }

  /**
   * Starts member `id` knowing no membership, as a server joining an
   * existing cluster does: it learns the membership from the leader's log
   * or snapshot once a change adds it.
   */
  addMember(id: NodeId, config: Partial<RaftConfig> = {}): TestMember {
    const storage = new MemoryStorage({ voters: [], learners: [] });
    const node = new RawNode({ id, storage, random: new SeededRandom(id * 7), ...config });
    const member = { id, node, storage, snapshots: new SnapshotAssembler(), applied: [], readStates: [] };
    this.members.set(id, member);
    return member;
  }

  member(id: NodeId): TestMember {
    const member = this.members.get(id);
    if (member === undefined) throw new RangeError(`No member ${id}`);
    return member;
  }

  /** Drops every message between `a` and `b`, both ways. */
  cut(a: NodeId, b: NodeId): void {
    this.#cut.add(`${a}-${b}`).add(`${b}-${a}`);
  }

  /** Cuts `id` off from everyone. */
  isolate(id: NodeId): void {
    for (const other of this.members.keys()) if (other !== id) this.cut(id, other);
  }

  /** Restores every link. */
  heal(): void {
    this.#cut.clear();
  }

  /** Carries out one member's Ready, if it has one, queueing its messages. */
  #process(member: TestMember): boolean {
    if (!member.node.hasReady()) return false;
    const ready = member.node.ready();
    this.#send(member, ready.messages);
    member.snapshots.write(ready.snapshotChunks);
    if (ready.snapshot !== undefined) member.storage.applySnapshot(member.snapshots.take(ready.snapshot));
    member.storage.append(ready.entries);
    if (ready.hardState !== undefined) member.storage.setHardState(ready.hardState);
    this.#send(member, ready.messagesAfterPersist);
    member.applied.push(...ready.committedEntries);
    member.readStates.push(...ready.readStates);
    member.node.advance();
    member.node.raft.checkInvariants();
    return true;
  }

  /** Queues `messages`, snapshot chunks with their bytes (a chunk of a superseded snapshot is reported lost). */
  #send(member: TestMember, messages: readonly Message[]): void {
    for (const m of messages) {
      const filled = member.storage.fillChunk(m);
      if (filled === undefined) member.node.reportSnapshot(m.to, false);
      else this.#queue.push(filled);
    }
  }

  /** Delivers messages and processes Readies until nothing moves. */
  settle(): void {
    for (let round = 0; round < SETTLE_ROUNDS_MAX; round++) {
      let moved = false;
      for (const member of this.members.values()) moved = this.#process(member) || moved;
      const queue = this.#queue;
      this.#queue = [];
      for (const original of queue) {
        if (this.#cut.has(`${original.from}-${original.to}`)) continue;
        const m = this.filter === undefined ? original : this.filter(original);
        if (m === undefined) continue;
        const to = this.members.get(m.to)?.node;
        to?.step(m);
        to?.raft.checkInvariants();
        moved = true;
      }
      if (!moved) return;
    }
    throw new Error(`Network did not settle within ${SETTLE_ROUNDS_MAX} rounds`);
  }

  /** Ticks every member `ticks` times, settling after each. */
  tick(ticks: number): void {
    for (let i = 0; i < ticks; i++) {
      for (const member of this.members.values()) {
        member.node.tick();
        member.node.raft.checkInvariants();
      }
      this.settle();
    }
  }

  /** The current leaders (by their own account). */
  leaders(): NodeId[] {
    return [...this.members.values()].filter((m) => m.node.raft.role === 'leader').map((m) => m.id);
  }

  /** Campaigns `id` and settles. */
  elect(id: NodeId): void {
    this.member(id).node.campaign();
    this.settle();
  }

  /** Proposes text at `id` and settles; returns the entry index. */
  propose(id: NodeId, text: string): number {
    const index = this.member(id).node.propose(new TextEncoder().encode(text));
    this.settle();
    return index;
  }
}

/** The non-empty entries a member applied, as text. */
export function appliedTexts(member: TestMember): string[] {
  return member.applied
    .filter((entry) => entry.type === EntryType.normal && entry.data.length > 0)
    .map((entry) => new TextDecoder().decode(entry.data));
}
