/**
 * `InstallSnapshot` in bounded chunks (Raft paper Figure 13; thesis §5.3):
 * the leader streams a snapshot's data to a follower that fell behind the
 * compacted log, a window of chunks at a time; the follower accepts chunks
 * only in order and acknowledges how many bytes it holds, so a lost or
 * reordered chunk costs a resend from that point, not the whole snapshot.
 * No message carries more than one chunk, so heartbeats and votes never
 * queue behind a large snapshot.
 *
 * @module
 */
import {
  type Message,
  MessageType,
  type NodeId,
  type SnapshotChunk,
  type SnapshotMetadata,
  type SnapshotRef,
} from './types.ts';

/** Default most snapshot bytes in one message. */
export const SNAPSHOT_CHUNK_BYTES_DEFAULT = 1024 * 1024;
/** Default most chunks in flight to one follower. */
export const SNAPSHOT_CHUNKS_INFLIGHT_DEFAULT = 4;
/** Most bytes a snapshot may have: a follower refuses a bigger one (the snapshot file's length is 32 bits). */
export const SNAPSHOT_BYTES_MAX = 2 ** 31 - 1;

/**
 * Heartbeat rounds without an acknowledgement before the leader resends
 * (chunks are read from disk before they leave, so a heartbeat can overtake
 * them: one silent round is not yet a loss).
 */
export const SNAPSHOT_SILENT_ROUNDS = 3;

const EMPTY_BYTES = new Uint8Array(0);

/**
 * The leader's side of one transfer: which byte ranges to send next, given
 * what was acknowledged. It holds no data: the chunks it names are filled
 * in by the driver ({@link fillSnapshotChunk}).
 */
export class SnapshotSender {
  readonly #snapshot: SnapshotRef;
  readonly #chunkBytes: number;
  readonly #chunksInflight: number;
  /** Offset of the next chunk to send. */
  #sent = 0;
  /** Bytes the follower confirmed holding. */
  #acked = 0;
  /** Whether the empty-data case sent its one chunk. */
  #sentEmpty = false;
  /** Heartbeat rounds since the last acknowledgement. */
  #silentRounds = 0;
  /** The offset the last resend started from (-1: none). */
  #rewoundTo = -1;
  /** After a loss, one chunk at a time until one is taken (a resent window could be lost whole again). */
  #recovering = false;

  constructor(snapshot: SnapshotRef, chunkBytes: number, chunksInflight: number) {
    this.#snapshot = snapshot;
    this.#chunkBytes = chunkBytes;
    this.#chunksInflight = chunksInflight;
  }

  get index(): number {
    return this.#snapshot.metadata.index;
  }

  /** The chunks the window allows now, in order, without their bytes. */
  nextChunks(): SnapshotChunk[] {
    const { totalBytes, metadata } = this.#snapshot;
    const chunks: SnapshotChunk[] = [];
    if (totalBytes === 0) {
      if (!this.#sentEmpty) chunks.push({ metadata, offset: 0, length: 0, totalBytes, data: EMPTY_BYTES });
      this.#sentEmpty = true;
      return chunks;
    }
    const windowEnd = this.#acked + this.#chunkBytes * (this.#recovering ? 1 : this.#chunksInflight);
    while (this.#sent < totalBytes && this.#sent < windowEnd) {
      const end = Math.min(totalBytes, this.#sent + this.#chunkBytes);
      chunks.push({ metadata, offset: this.#sent, length: end - this.#sent, totalBytes, data: EMPTY_BYTES });
      this.#sent = end;
    }
    return chunks;
  }

  /**
   * The follower holds `received` bytes. When it took the chunk this
   * answers (`taken`), the window slides. When it did not (a chunk after a
   * gap, or of a transfer it no longer holds), the chunks from `received`
   * on are resent, once per point per heartbeat round: the chunks already
   * in flight behind the lost one answer the same, and must not trigger a
   * resend each.
   */
  onAck(received: number, taken: boolean): void {
    this.#silentRounds = 0;
    this.#acked = Math.max(this.#acked, Math.min(received, this.#snapshot.totalBytes));
    if (taken) this.#recovering = false;
    if (taken || received >= this.#sent) return;
    if (received === this.#rewoundTo) return;
    this.#rewoundTo = received;
    this.#recovering = true;
    this.#sent = received;
    if (received < this.#acked) this.#acked = received;
  }

  /**
   * A heartbeat round passed. After {@link SNAPSHOT_SILENT_ROUNDS} rounds
   * in a row with no acknowledgement, chunks or their acknowledgements were
   * lost: resend from what was acknowledged.
   */
  onSilence(): void {
    // A round later, answers to chunks sent before the last resend have come in: a gap at the same
    // point again means the resent chunk was lost too.
    this.#rewoundTo = -1;
    this.#silentRounds++;
    if (this.#silentRounds < SNAPSHOT_SILENT_ROUNDS) return;
    this.#silentRounds = 0;
    this.#sent = this.#acked;
    this.#recovering = true;
    this.#sentEmpty = false;
  }
}

/**
 * The follower's side: which chunks of one snapshot from one leader were
 * taken, in order. The bytes go to the driver (`Ready.snapshotChunks`),
 * which writes them to its snapshot store.
 */
export class SnapshotReceiver {
  readonly from: NodeId;
  readonly term: number;
  readonly metadata: SnapshotMetadata;
  readonly totalBytes: number;
  #received = 0;

  constructor(from: NodeId, term: number, chunk: SnapshotChunk) {
    this.from = from;
    this.term = term;
    this.metadata = chunk.metadata;
    this.totalBytes = chunk.totalBytes;
  }

  /** Whether `chunk`, sent by `from` in `term`, belongs to this transfer. */
  matches(from: NodeId, term: number, chunk: SnapshotChunk): boolean {
    return (
      from === this.from &&
      term === this.term &&
      chunk.metadata.index === this.metadata.index &&
      chunk.metadata.term === this.metadata.term &&
      chunk.totalBytes === this.totalBytes
    );
  }

  get received(): number {
    return this.#received;
  }

  get complete(): boolean {
    return this.#received === this.totalBytes;
  }

  /**
   * Takes the chunk if it is the next one and whole (its bytes filled in);
   * ignores it otherwise (a duplicate, one past a gap, or a malformed one).
   *
   * @returns whether it was taken.
   */
  accept(chunk: SnapshotChunk): boolean {
    if (chunk.offset !== this.#received || chunk.data.length !== chunk.length) return false;
    if (chunk.offset + chunk.length > this.totalBytes) return false;
    if (chunk.length === 0 && this.totalBytes !== 0) return false;
    this.#received += chunk.length;
    return true;
  }

  /** The snapshot received, once {@link complete}. */
  snapshot(): SnapshotRef {
    return { metadata: this.metadata, totalBytes: this.totalBytes };
  }
}

/**
 * The acknowledgement of a chunk: the snapshot's identity, the bytes held
 * (`offset`) and, as `length`, the bytes of the chunk answered that were
 * taken (0 when it was not: a duplicate, one after a gap, or of a transfer
 * not held). No data.
 */
export function snapshotAck(
  metadata: SnapshotMetadata,
  received: number,
  totalBytes: number,
  taken = 0,
): SnapshotChunk {
  return { metadata, offset: received, length: taken, totalBytes, data: EMPTY_BYTES };
}

/** Whether `m` is a snapshot chunk whose bytes the driver has yet to fill in. */
export function isUnfilledSnapshotChunk(m: Message): boolean {
  return (
    m.type === MessageType.snapshot &&
    m.snapshot !== undefined &&
    m.snapshot.length > 0 &&
    m.snapshot.data.length === 0
  );
}

/**
 * `m` with its snapshot chunk's bytes: `data` must be bytes [`offset`,
 * `offset + length`) of the snapshot at the chunk's index.
 *
 * @throws {RangeError} when `m` carries no chunk or `data` has the wrong length.
 */
export function fillSnapshotChunk(m: Message, data: Uint8Array): Message {
  const chunk = m.snapshot;
  if (chunk === undefined || data.length !== chunk.length) {
    throw new RangeError(
      `Cannot fill the snapshot chunk: ${data.length} bytes for a chunk of ${chunk?.length ?? 'none'}`,
    );
  }
  return { ...m, snapshot: { ...chunk, data } };
}
