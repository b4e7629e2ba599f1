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
import type { NodeId, Snapshot, SnapshotChunk, SnapshotMetadata } from './types.ts';

/** Default most snapshot bytes in one message. */
export const SNAPSHOT_CHUNK_BYTES_DEFAULT = 1024 * 1024;
/** Default most chunks in flight to one follower. */
export const SNAPSHOT_CHUNKS_INFLIGHT_DEFAULT = 4;
/** Most bytes a snapshot may have: a follower refuses a bigger one (one buffer holds it). */
export const SNAPSHOT_BYTES_MAX = 2 ** 31 - 1;

const EMPTY_BYTES = new Uint8Array(0);

/** The leader's side of one transfer: what to send next, given what was acknowledged. */
export class SnapshotSender {
  readonly #snapshot: Snapshot;
  readonly #chunkBytes: number;
  readonly #chunksInflight: number;
  /** Offset of the next chunk to send. */
  #sent = 0;
  /** Bytes the follower confirmed holding. */
  #acked = 0;
  /** Whether the empty-data case sent its one chunk. */
  #sentEmpty = false;
  /** An acknowledgement arrived since the last {@link onSilence}. */
  #heard = false;

  constructor(snapshot: Snapshot, chunkBytes: number, chunksInflight: number) {
    this.#snapshot = snapshot;
    this.#chunkBytes = chunkBytes;
    this.#chunksInflight = chunksInflight;
  }

  get index(): number {
    return this.#snapshot.metadata.index;
  }

  /** The chunks the window allows now, in order. */
  nextChunks(): SnapshotChunk[] {
    const { data, metadata } = this.#snapshot;
    const chunks: SnapshotChunk[] = [];
    if (data.length === 0) {
      if (!this.#sentEmpty) chunks.push({ metadata, offset: 0, totalBytes: 0, data });
      this.#sentEmpty = true;
      return chunks;
    }
    const windowEnd = this.#acked + this.#chunkBytes * this.#chunksInflight;
    while (this.#sent < data.length && this.#sent < windowEnd) {
      const end = Math.min(data.length, this.#sent + this.#chunkBytes);
      chunks.push({
        metadata,
        offset: this.#sent,
        totalBytes: data.length,
        data: data.subarray(this.#sent, end),
      });
      this.#sent = end;
    }
    return chunks;
  }

  /** The follower holds `received` bytes: slide the window, or rewind to resend what it lacks. */
  onAck(received: number): void {
    this.#heard = true;
    this.#acked = Math.max(this.#acked, Math.min(received, this.#snapshot.data.length));
    // Holding less than we sent means a chunk was lost (or the follower restarted): resend from there.
    if (received < this.#sent) this.#sent = received;
    if (received < this.#acked) this.#acked = received;
  }

  /**
   * A heartbeat round passed: if no acknowledgement came since the last
   * one, chunks or their acknowledgements were lost; resend from what was
   * acknowledged.
   */
  onSilence(): void {
    if (!this.#heard) {
      this.#sent = this.#acked;
      this.#sentEmpty = false;
    }
    this.#heard = false;
  }
}

/** The follower's side: the chunks of one snapshot from one leader, assembled in order. */
export class SnapshotReceiver {
  readonly from: NodeId;
  readonly term: number;
  readonly metadata: SnapshotMetadata;
  readonly #buffer: Uint8Array;
  #received = 0;

  constructor(from: NodeId, term: number, chunk: SnapshotChunk) {
    this.from = from;
    this.term = term;
    this.metadata = chunk.metadata;
    this.#buffer = new Uint8Array(chunk.totalBytes);
  }

  /** Whether `chunk`, sent by `from` in `term`, belongs to this transfer. */
  matches(from: NodeId, term: number, chunk: SnapshotChunk): boolean {
    return (
      from === this.from &&
      term === this.term &&
      chunk.metadata.index === this.metadata.index &&
      chunk.metadata.term === this.metadata.term &&
      chunk.totalBytes === this.#buffer.length
    );
  }

  get received(): number {
    return this.#received;
  }

  get complete(): boolean {
    return this.#received === this.#buffer.length;
  }

  /** Takes the chunk if it is the next one; ignores it otherwise (a duplicate or one past a gap). */
  accept(chunk: SnapshotChunk): void {
    if (chunk.offset !== this.#received || chunk.offset + chunk.data.length > this.#buffer.length) return;
    this.#buffer.set(chunk.data, chunk.offset);
    this.#received += chunk.data.length;
  }

  /** The whole snapshot, once {@link complete}. */
  snapshot(): Snapshot {
    return { metadata: this.metadata, data: this.#buffer };
  }
}

/** The acknowledgement of a chunk: the snapshot's identity and the bytes held, no data. */
export function snapshotAck(metadata: SnapshotMetadata, received: number, totalBytes: number): SnapshotChunk {
  return { metadata, offset: received, totalBytes, data: EMPTY_BYTES };
}
