/**
 * {@link Wal}: the write-ahead log of a member's Raft log and hard state,
 * in segment files (format in `wal-record.ts` and `wal-segment.ts`,
 * recovery in `wal-recovery.ts`).
 *
 * Group commit: `append` only encodes records into an in-memory buffer;
 * `sync()` writes everything appended since the last sync with one write
 * and one `fdatasync`, however many appends it covers. A `sync()` called
 * while one is running waits for the next, and all such calls share it, so
 * a thousand proposers cost two fdatasyncs, not a thousand. Nothing reaches
 * the file before `sync()`: what a crash can lose is exactly what no sync
 * has covered (the page cache never holds half-decided data), which is
 * also what lets a test simulate a crash by dropping the object.
 *
 * @module
 */
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CancelledError, LimitExceededError, NoSpaceError, TooLargeError } from '../base/errors.ts';
import type { Logger } from '../base/logger.ts';
import { syncDirectory, writeFullySync, zeroFill } from './files.ts';
import { type WalOptions, type WalStats, walSettings, walStatsZero } from './wal-options.ts';
import {
  encodeWalRecord,
  positionAfter,
  WAL_POSITION_EMPTY,
  WAL_RECORD_HEADER_BYTES,
  type WalCheckpoint,
  type WalPosition,
  type WalRecord,
  WalRecordType,
} from './wal-record.ts';
import { recoverWal, type WalRecovery, type WalReplay } from './wal-recovery.ts';
import {
  createSegmentFile,
  createSpareSegmentFile,
  installSegmentFile,
  type SegmentName,
  SPARE_SEGMENT_FILE,
  segmentFileName,
} from './wal-segment.ts';

export * from './wal-options.ts';

interface Segment {
  readonly name: SegmentName;
  readonly path: string;
  readonly checkpoint: WalCheckpoint;
  /** Bytes the file is preallocated to: appends past it go to a new segment. */
  readonly capacity: number;
  /** Whether its file and checkpoint are synced. */
  durable: boolean;
  /** Whether a synced reset record is in it (every earlier segment is then dead). */
  hasReset: boolean;
}

/** Records bound for one segment, waiting for a sync. */
interface Piece {
  readonly segment: Segment;
  /** Whether the segment's file must be created first. */
  readonly create: boolean;
  /** Where in the file the first byte goes. */
  readonly offset: number;
  readonly chunks: Buffer[];
  bytes: number;
  /** The position after its last record. */
  position: WalPosition;
  hasReset: boolean;
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

/**
 * The write-ahead log of one member.
 *
 * Not safe for concurrent writers (the Raft loop is the only one); `sync()`
 * may be called from anywhere at any time. After a write or fdatasync
 * fails, the WAL refuses everything (the failed batch may be half on disk,
 * and a retried fsync can report success for pages the kernel dropped):
 * reopen it, and recovery cuts what was torn.
 *
 * @example
 * ```ts
 * const wal = await Wal.open(dir, { start(checkpoint) {}, record(record) {} });
 * wal.append([{ type: WalRecordType.hardState, hardState: { term: 1, vote: 1, commit: 0 } }]);
 * await wal.sync(); // durable now
 * await wal.close();
 * ```
 */
export class Wal {
  /** Counters, for tests and metrics. */
  readonly stats: WalStats = walStatsZero();
  /** Largest record body accepted. */
  readonly recordBytesMax: number;
  readonly #dir: string;
  readonly #segmentBytes: number;
  readonly #bufferBytesMax: number;
  readonly #logger: Logger;
  // Invariant: non-empty once open; the last one is where appends go, its file made or not yet.
  #segments: Segment[] = [];
  // The file of the newest segment made; older ones are closed.
  #handle: FileHandle | undefined;
  // Invariant: where the next record goes in the last segment, pending bytes counted.
  #tailOffset = 0;
  #position: WalPosition;
  #durablePosition: WalPosition;
  // Invariant: #pendingBytes is the sum of the pieces' bytes; pieces are in file order.
  #pending: Piece[] = [];
  #pendingBytes = 0;
  #flushing: Promise<void> | undefined;
  // The next segment's file, zeros made ahead of need (see #createSegment); undefined when its making failed.
  #spare: Promise<FileHandle | undefined> | undefined;
  // Invariant: set only while #flushing is, and then #pending is not empty.
  #next: Deferred | undefined;
  #failure: Error | undefined;
  #closed = false;

  private constructor(dir: string, options: WalOptions, position: WalPosition) {
    const settings = walSettings(options);
    this.recordBytesMax = settings.recordBytesMax;
    this.#segmentBytes = settings.segmentBytes;
    this.#bufferBytesMax = settings.bufferBytesMax;
    this.#logger = settings.logger;
    this.#dir = dir;
    this.#position = position;
    this.#durablePosition = position;
  }

  /**
   * Opens the WAL in `dir` (created when missing), replaying what it holds
   * into `replay` first (see `wal-recovery.ts`: a torn tail is cut and
   * logged; corruption throws).
   *
   * @throws {CorruptionError} (rejects) when synced data is corrupt.
   * @throws {RangeError} (rejects) when an option is out of range.
   */
  static async open(dir: string, replay: WalReplay, options: WalOptions = {}): Promise<Wal> {
    const wal = new Wal(dir, options, WAL_POSITION_EMPTY);
    await mkdir(dir, { recursive: true });
    const recovery = await recoverWal(dir, wal.recordBytesMax, replay, wal.#logger);
    wal.#position = recovery.position;
    wal.#durablePosition = recovery.position;
    try {
      if (recovery.segments.length === 0) {
        wal.#startSegment();
        await wal.sync();
      } else {
        await wal.#reopenTail(recovery);
        await wal.#release();
      }
    } catch (error) {
      await wal.#handle?.close();
      throw error;
    }
    wal.#prepareSpare();
    return wal;
  }

  async #reopenTail(recovery: WalRecovery): Promise<void> {
    this.#segments = recovery.segments.map((segment) => ({
      ...segment,
      capacity: this.#segmentBytes,
      durable: true,
    }));
    const last = this.#segments[this.#segments.length - 1] as Segment;
    const handle = await open(last.path, 'r+');
    this.#handle = handle;
    const { size } = await handle.stat();
    const capacity = Math.max(size, this.#segmentBytes);
    this.#segments[this.#segments.length - 1] = { ...last, capacity };
    this.#tailOffset = recovery.tailOffset;
    // A torn record is zeroed rather than truncated away, which would drop the preallocation too.
    if (recovery.dirtyEnd > recovery.tailOffset)
      await zeroFill(handle, recovery.tailOffset, recovery.dirtyEnd);
    if (size < capacity) await zeroFill(handle, size, capacity);
    if (recovery.dirtyEnd > recovery.tailOffset || size < capacity) await handle.datasync();
  }

  /** Where the log stands after every record appended (synced or not). */
  get position(): WalPosition {
    return this.#position;
  }

  /** Where the log stands after the last synced record. */
  get durablePosition(): WalPosition {
    return this.#durablePosition;
  }

  /** Bytes appended and not yet handed to a sync. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /**
   * Appends records, all or none; durable once a later `sync()` resolves.
   * A checkpoint record is the WAL's own: do not append one.
   *
   * @throws {TooLargeError} when a record's body is over `recordBytesMax`.
   * @throws {LimitExceededError} when the records would take the bytes
   * waiting for a sync past `bufferBytesMax`: call `sync()` more often.
   * @throws {CancelledError} after `close()` or `abandon()`; the error of a
   * failed sync after one failed.
   */
  append(records: readonly WalRecord[]): void {
    this.#checkUsable('append to');
    const encoded = records.map((record) => {
      if (record.type === WalRecordType.checkpoint) throw new TypeError('Cannot append a checkpoint record');
      const bytes = encodeWalRecord(record);
      const body = bytes.length - WAL_RECORD_HEADER_BYTES;
      if (body > this.recordBytesMax) {
        throw new TooLargeError(
          `Cannot append a WAL record of ${body} bytes: recordBytesMax is ${this.recordBytesMax}`,
        );
      }
      return bytes;
    });
    const total = encoded.reduce((sum, bytes) => sum + bytes.length, 0);
    if (this.#pendingBytes + total > this.#bufferBytesMax) {
      throw new LimitExceededError(
        `Cannot append ${total} bytes to the WAL: ${this.#pendingBytes} bytes wait for sync() and bufferBytesMax is ${this.#bufferBytesMax}`,
      );
    }
    records.forEach((record, i) => {
      const bytes = encoded[i] as Buffer;
      if (this.#tailOffset + bytes.length > this.#lastSegment().capacity) this.#startSegment();
      this.#position = positionAfter(this.#position, record);
      this.#addToTail(bytes, record.type === WalRecordType.reset);
    });
    this.stats.appends += records.length;
  }

  #lastSegment(): Segment {
    return this.#segments[this.#segments.length - 1] as Segment;
  }

  /** Plans a new segment after the last one, starting with its checkpoint; its file is made at the next sync. */
  #startSegment(): void {
    const sequence = (this.#segments[this.#segments.length - 1]?.name.sequence ?? 0) + 1;
    const { base, last, hardState } = this.#position;
    const checkpoint: WalCheckpoint = { sequence, base, last, hardState };
    const name = { sequence, firstIndex: checkpoint.last.index + 1 };
    this.#segments.push({
      name,
      path: join(this.#dir, segmentFileName(name)),
      checkpoint,
      capacity: this.#segmentBytes,
      durable: false,
      hasReset: false,
    });
    this.#tailOffset = 0;
    const bytes = encodeWalRecord({ type: WalRecordType.checkpoint, checkpoint });
    this.#addToTail(bytes, false);
  }

  #addToTail(bytes: Buffer, isReset: boolean): void {
    const segment = this.#lastSegment();
    let piece = this.#pending[this.#pending.length - 1];
    if (piece?.segment !== segment) {
      piece = {
        segment,
        create: !segment.durable && this.#tailOffset === 0,
        offset: this.#tailOffset,
        chunks: [],
        bytes: 0,
        position: this.#position,
        hasReset: false,
      };
      this.#pending.push(piece);
    }
    piece.chunks.push(bytes);
    piece.bytes += bytes.length;
    piece.position = this.#position;
    piece.hasReset ||= isReset;
    this.#tailOffset += bytes.length;
    this.#pendingBytes += bytes.length;
  }

  /**
   * Makes every record appended so far durable: one write and one
   * fdatasync for everything appended since the last sync (two of each
   * when the batch starts a new segment). While a sync runs, later calls
   * share the one that follows it.
   *
   * @throws {NoSpaceError} (rejects) when the disk is full; the WAL then
   * refuses everything until reopened.
   * @throws {CancelledError} (rejects) after `close()` or `abandon()`.
   */
  sync(): Promise<void> {
    this.stats.syncs++;
    try {
      this.#checkUsable('sync');
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#pending.length === 0) return this.#flushing ?? Promise.resolve();
    if (this.#flushing === undefined) return this.#startFlush();
    this.#next ??= deferred();
    return this.#next.promise;
  }

  #startFlush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    const flushing = this.#flush(batch).then(
      () => this.#flushDone(undefined),
      (error: unknown) => {
        const failure = this.#fail(error);
        this.#flushDone(failure);
        throw failure;
      },
    );
    this.#flushing = flushing;
    return flushing;
  }

  #flushDone(failure: Error | undefined): void {
    this.#flushing = undefined;
    const next = this.#next;
    this.#next = undefined;
    if (next === undefined) return;
    if (failure !== undefined) next.reject(failure);
    else this.#startFlush().then(next.resolve, next.reject);
  }

  async #flush(batch: readonly Piece[]): Promise<void> {
    this.stats.flushes++;
    for (const piece of batch) {
      if (piece.create) await this.#createSegment(piece.segment);
      const handle = this.#handle;
      if (handle === undefined) throw new Error('WAL invariant broken: no segment file is open');
      const bytes =
        piece.chunks.length === 1 ? (piece.chunks[0] as Buffer) : Buffer.concat(piece.chunks, piece.bytes);
      this.stats.writes += writeFullySync(handle, bytes, piece.offset);
      await handle.datasync();
      this.stats.fdatasyncs++;
      this.stats.bytesWritten += piece.bytes;
      piece.segment.durable = true;
      piece.segment.hasReset ||= piece.hasReset;
      this.#durablePosition = piece.position;
    }
    await this.#release();
  }

  /**
   * Makes the file of a new segment: the spare one renamed into place when
   * it is ready or nearly (zero-filling and syncing 64 MiB inline would hold
   * up this sync, and every write behind it, for tens to hundreds of
   * milliseconds), else made now. Then starts the next spare.
   */
  async #createSegment(segment: Segment): Promise<void> {
    const file = segmentFileName(segment.name);
    // A new segment has the configured size (#startSegment), the spare's.
    const spare = await this.#spare;
    this.#spare = undefined;
    let handle: FileHandle;
    if (spare === undefined) {
      handle = await createSegmentFile(this.#dir, file, segment.capacity);
    } else {
      try {
        await installSegmentFile(this.#dir, SPARE_SEGMENT_FILE, file);
      } catch (error) {
        await spare.close();
        throw error;
      }
      handle = spare;
    }
    this.#prepareSpare();
    const previous = this.#handle;
    this.#handle = handle;
    this.stats.segmentsCreated++;
    await previous?.close();
    this.#logger.info({ file: segment.path, checkpoint: segment.checkpoint }, 'Started a WAL segment');
  }

  /**
   * Starts making the spare segment in the background, unless one is made
   * or being made. A failure (a full disk) only means the next segment is
   * made when needed, which reports it.
   */
  #prepareSpare(): void {
    if (this.#spare !== undefined || this.#closed) return;
    this.#spare = createSpareSegmentFile(this.#dir, this.#segmentBytes).catch((error: unknown) => {
      this.#logger.warn({ error: (error as Error).message }, 'Cannot make the spare WAL segment');
      return undefined;
    });
  }

  /** Closes and deletes the spare segment (on close: a reopen would delete it anyway). */
  async #dropSpare(): Promise<void> {
    const spare = await this.#spare;
    this.#spare = undefined;
    if (spare === undefined) return;
    await spare.close();
    await unlink(join(this.#dir, SPARE_SEGMENT_FILE)).catch(() => undefined);
  }

  /**
   * Deletes the segments before the newest one recovery could start from:
   * one whose checkpoint's entries are all compacted (durably), or that
   * holds a durable reset. One at a time, oldest first, each unlink synced,
   * so a crash leaves a suffix of segments, never a gap.
   */
  async #release(): Promise<void> {
    const base = this.#durablePosition.base.index;
    let keepFrom = 0;
    for (let i = 1; i < this.#segments.length; i++) {
      const segment = this.#segments[i] as Segment;
      if (!segment.durable) break;
      if (segment.hasReset || segment.checkpoint.last.index <= base) keepFrom = i;
    }
    for (let i = 0; i < keepFrom; i++) {
      const segment = this.#segments[0] as Segment;
      await unlink(segment.path);
      await syncDirectory(this.#dir);
      this.#segments.shift();
      this.stats.segmentsDeleted++;
      this.#logger.info({ file: segment.path }, 'Deleted a WAL segment below the compaction point');
    }
  }

  #fail(error: unknown): Error {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const failure =
      code === 'ENOSPC' || code === 'EDQUOT'
        ? new NoSpaceError(`Cannot sync the WAL in ${this.#dir}: the disk is full`, { cause: error })
        : error instanceof Error
          ? error
          : new Error(String(error));
    this.#failure ??= failure;
    this.#logger.error(
      { dir: this.#dir, error: failure.message },
      'The WAL failed a write: it refuses writes until reopened',
    );
    return this.#failure;
  }

  #checkUsable(action: string): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#closed) throw new CancelledError(`Cannot ${action} the WAL in ${this.#dir}: it is closed`);
  }

  /** Syncs what was appended, then closes the files. Does nothing when already closed. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#failure === undefined) await this.sync();
    this.#closed = true;
    await this.#handle?.close();
    this.#handle = undefined;
    await this.#dropSpare();
  }

  /**
   * Closes the files without writing what no sync has covered, as a crash
   * would (for tests, and for giving up after a failed sync). Waits for a
   * batch already being written; a sync waiting behind it rejects with
   * `CancelledError`.
   */
  async abandon(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending = [];
    this.#pendingBytes = 0;
    const next = this.#next;
    this.#next = undefined;
    next?.reject(new CancelledError(`Cannot sync the WAL in ${this.#dir}: it was abandoned`));
    await this.#flushing?.catch(() => undefined);
    await this.#handle?.close();
    this.#handle = undefined;
    await this.#dropSpare();
  }
}
