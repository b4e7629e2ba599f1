/**
 * The data the Raft core speaks: entries, hard state, messages and the
 * `Ready` batch. Everything here is plain data, serializable with the codec.
 *
 * @module
 */

/** A member id. Positive; 0 means "none". */
export type NodeId = number;

/** No member (no leader known, no vote cast). */
export const NONE: NodeId = 0;

/** What an entry carries. */
export const EntryType = {
  /** Application data (or empty: a new leader's no-op). */
  normal: 0,
  /** A membership change; `data` encodes a {@link ConfChange}. */
  confChange: 1,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

/** One log entry. */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What must survive a crash besides the log (thesis §3.8: currentTerm, votedFor, and commit for fast restart). */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

/** The membership at a point in the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** A snapshot's position in the log and the membership there. */
export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

/** A state-machine snapshot: metadata plus opaque bytes (as a store saves it). */
export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

/**
 * A snapshot as the core knows it: its place in the log and the size of its
 * data. The bytes themselves stay in the driver's `SnapshotStore`; the core
 * names them by offset (see {@link SnapshotChunk}), so no member holds a
 * whole snapshot in memory.
 */
export interface SnapshotRef {
  readonly metadata: SnapshotMetadata;
  readonly totalBytes: number;
}

/**
 * A piece of a snapshot in flight: the snapshot's identity, where this
 * piece starts, how many bytes it has, and the whole data's length.
 *
 * The core emits chunks with `data` empty: before sending, the driver
 * fills in bytes [`offset`, `offset + length`) of the snapshot at
 * `metadata.index` from its `SnapshotStore` (`fillSnapshotChunk`). A
 * follower's acknowledgement (`snapshotResponse`) carries the same shape
 * with no data, `length` 0 and `offset` set to the bytes it holds.
 */
export interface SnapshotChunk {
  readonly metadata: SnapshotMetadata;
  readonly offset: number;
  readonly length: number;
  readonly totalBytes: number;
  readonly data: Uint8Array;
}

/** Every message kind. Local kinds never cross the network. */
export const MessageType = {
  /** local: start an election */
  hup: 1,
  /** local: leader sends heartbeats */
  beat: 2,
  /** a proposal (local, or forwarded from a follower) */
  propose: 3,
  append: 4,
  appendResponse: 5,
  vote: 6,
  voteResponse: 7,
  preVote: 8,
  preVoteResponse: 9,
  heartbeat: 10,
  heartbeatResponse: 11,
  /** local: leader checks it heard from a quorum */
  checkQuorum: 12,
  snapshot: 13,
  readIndex: 14,
  readIndexResponse: 15,
  /** a leadership transfer request passed to the leader; `index` names the transferee */
  transferLeader: 16,
  /** the leader tells the transferee to campaign now */
  timeoutNow: 17,
  /** a follower acknowledges snapshot chunks (see {@link SnapshotChunk}) */
  snapshotResponse: 18,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** A Raft message. Fields unused by a kind are left at 0 / empty. */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /** append: term of the entry before `entries`; vote: candidate's last log term. */
  readonly logTerm: number;
  /** append: index of the entry before `entries`; vote: candidate's last log index; responses: see kind. */
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  /** On a rejected append: the follower's best guess of where the logs agree (fast backtracking). */
  readonly rejectHint: number;
  /** Opaque bytes carried through (ReadIndex request contexts). */
  readonly context: Uint8Array;
  /** snapshot and snapshotResponse: the chunk, or its acknowledgement. */
  readonly snapshot: SnapshotChunk | undefined;
}

/** The volatile state worth reporting (who leads, what this member is). */
export interface SoftState {
  readonly lead: NodeId;
  readonly role: Role;
}

/** A member's role. */
export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** A linearizable read point: once `index` is applied, reads for `context` may be served. */
export interface ReadState {
  readonly index: number;
  readonly context: Uint8Array;
}

/**
 * Everything the caller must do after a step or tick, in this order:
 *
 * 1. Send {@link Ready.messages} at once: they carry no promise about this
 *    member's own disk (a leader's appends, heartbeats and snapshot chunks,
 *    whose bytes the caller fills in from its snapshot store), so the
 *    leader's write overlaps replication (thesis §10.2.1).
 * 2. Write {@link Ready.snapshotChunks} in order into the snapshot store's
 *    receive (a chunk at offset 0 starts a new one, aborting the one
 *    before). When {@link Ready.snapshot} is set, the last of them
 *    completed it (no chunk is taken after it until `advance()`): commit
 *    the receive (durable), then persist
 *    {@link Ready.entries} and {@link Ready.hardState} (fsync).
 * 3. Only then send {@link Ready.messagesAfterPersist} (votes, vote requests,
 *    append acknowledgements): each promises something about what is on
 *    this member's disk.
 * 4. Restore the state machine from {@link Ready.snapshot} when set, then
 *    apply {@link Ready.committedEntries} in order (after step 2: some may
 *    be in this very batch's `entries`).
 * 5. Call `advance()`.
 */
export interface Ready {
  readonly softState: SoftState | undefined;
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader, whole in the snapshot store once step 2 is done. */
  readonly snapshot: SnapshotRef | undefined;
  /** Chunks of a snapshot being received, accepted in order, with their bytes. */
  readonly snapshotChunks: readonly SnapshotChunk[];
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly readStates: readonly ReadState[];
}

const EMPTY_BYTES = new Uint8Array(0);

/** A message with every field not given at its zero value. */
export function message(fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    from: NONE,
    to: NONE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: EMPTY_BYTES,
    snapshot: undefined,
    ...fields,
  };
}

/** Bytes an entry counts for in size limits (payload plus a fixed overhead). */
export function entryBytes(entry: Entry): number {
  return entry.data.length + 16;
}

/** Whether two hard states are equal. */
export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
