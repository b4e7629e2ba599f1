/**
 * {@link MemorySnapshotStore}: the {@link SnapshotStore} seam in memory,
 * with a crash model (see `memory-stores.ts`).
 *
 * @module
 */
import { CancelledError, CompactedError, InvalidArgumentError, TooLargeError } from '../base/errors.ts';
import { SNAPSHOT_BYTES_MAX } from './snapshot-transfer.ts';
import type { SnapshotSink, SnapshotStore } from './stores.ts';
import type { Snapshot, SnapshotMetadata, SnapshotRef } from './types.ts';

/** Runs `work` now and hands back its outcome as a settled promise. */
function settledNow<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Options of {@link MemorySnapshotStore}. */
export interface MemorySnapshotStoreOptions {
  /** The largest snapshot accepted, in bytes; the core's {@link SNAPSHOT_BYTES_MAX} by default. */
  snapshotBytesMax?: number;
}

/**
 * A {@link SnapshotStore} in memory. A save or commit is durable at once;
 * `crash()` drops the receive in flight. The store keeps the bytes it is
 * given by `save` (the caller must not modify them) and copies chunks.
 */
export class MemorySnapshotStore implements SnapshotStore {
  readonly snapshotBytesMax: number;
  #latest: Snapshot | undefined;
  #sink: MemorySnapshotSink | undefined;
  readonly #created = new Set<MemorySnapshotSink>();

  /** @throws {RangeError} when `snapshotBytesMax` is not a positive integer. */
  constructor(options: MemorySnapshotStoreOptions = {}) {
    const bytesMax = options.snapshotBytesMax ?? SNAPSHOT_BYTES_MAX;
    if (!Number.isSafeInteger(bytesMax) || bytesMax < 1) {
      throw new RangeError(
        `Cannot create snapshot store: snapshotBytesMax ${bytesMax} is not a positive integer`,
      );
    }
    this.snapshotBytesMax = bytesMax;
  }

  latest(): SnapshotRef | undefined {
    const latest = this.#latest;
    return latest === undefined ? undefined : { metadata: latest.metadata, totalBytes: latest.data.length };
  }

  /** The latest snapshot with its bytes (synchronous: they are in memory). */
  latestWithData(): Snapshot | undefined {
    return this.#latest;
  }

  save(snapshot: Snapshot): Promise<void> {
    return settledNow(() => this.#install(snapshot));
  }

  #install(snapshot: Snapshot): void {
    this.#checkIndex('save', snapshot.metadata.index);
    if (snapshot.data.length > this.snapshotBytesMax) {
      throw new TooLargeError(
        `Cannot save snapshot at ${snapshot.metadata.index}: ${snapshot.data.length} bytes is over snapshotBytesMax ${this.snapshotBytesMax}`,
      );
    }
    this.#latest = snapshot;
  }

  #checkIndex(action: string, index: number): void {
    const latestIndex = this.#latest?.metadata.index;
    if (latestIndex !== undefined && index < latestIndex) {
      throw new InvalidArgumentError(
        `Cannot ${action} snapshot at ${index}: the latest is at ${latestIndex}`,
        {
          details: { index, latestIndex },
        },
      );
    }
  }

  receive(metadata: SnapshotMetadata): SnapshotSink {
    this.#checkIndex('receive', metadata.index);
    this.#sink?.cancel('superseded by another receive');
    const sink = new MemorySnapshotSink(metadata, this.snapshotBytesMax, (snapshot) => {
      this.#install(snapshot);
      this.#sink = undefined;
    });
    this.#sink = sink;
    return sink;
  }

  create(metadata: SnapshotMetadata): SnapshotSink {
    this.#checkIndex('create', metadata.index);
    const sink = new MemorySnapshotSink(metadata, this.snapshotBytesMax, (snapshot) => {
      this.#install(snapshot);
      this.#created.delete(sink);
    });
    this.#created.add(sink);
    return sink;
  }

  readChunk(index: number, offset: number, bytesMax: number): Promise<Uint8Array> {
    return settledNow(() => {
      const latest = this.#latest;
      if (latest !== undefined && index < latest.metadata.index) {
        throw new CompactedError(`Cannot read snapshot ${index}: superseded by ${latest.metadata.index}`);
      }
      if (latest === undefined || index > latest.metadata.index) {
        throw new RangeError(
          `Cannot read snapshot ${index}: the latest is at ${latest?.metadata.index ?? 'none'}`,
        );
      }
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > latest.data.length) {
        throw new RangeError(
          `Cannot read snapshot ${index} at ${offset}: it has ${latest.data.length} bytes`,
        );
      }
      if (!(bytesMax >= 1))
        throw new RangeError(`Cannot read snapshot ${index}: bytesMax ${bytesMax} is below 1`);
      return latest.data.slice(offset, offset + bytesMax);
    });
  }

  /** Loses the receive in flight; saved and committed snapshots stay. */
  crash(): void {
    this.#sink?.cancel('lost in a crash');
    this.#sink = undefined;
    for (const sink of this.#created) sink.cancel('lost in a crash');
    this.#created.clear();
  }
}

/** A receive in flight of a {@link MemorySnapshotStore}. */
class MemorySnapshotSink implements SnapshotSink {
  readonly metadata: SnapshotMetadata;
  readonly #bytesMax: number;
  readonly #install: (snapshot: Snapshot) => void;
  #chunks: Uint8Array[] = [];
  #bytesWritten = 0;
  #state: 'open' | 'committed' | { cancelled: string } = 'open';

  constructor(metadata: SnapshotMetadata, bytesMax: number, install: (snapshot: Snapshot) => void) {
    this.metadata = metadata;
    this.#bytesMax = bytesMax;
    this.#install = install;
  }

  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  write(offset: number, bytes: Uint8Array): Promise<void> {
    return settledNow(() => {
      this.#checkOpen('write to');
      if (offset !== this.#bytesWritten) {
        throw new InvalidArgumentError(
          `Cannot write snapshot ${this.metadata.index} at ${offset}: ${this.#bytesWritten} bytes received so far`,
          { details: { offset, expectedOffset: this.#bytesWritten } },
        );
      }
      if (this.#bytesWritten + bytes.length > this.#bytesMax) {
        throw new TooLargeError(
          `Cannot write snapshot ${this.metadata.index}: ${this.#bytesWritten + bytes.length} bytes is over snapshotBytesMax ${this.#bytesMax}`,
        );
      }
      this.#chunks.push(bytes.slice());
      this.#bytesWritten += bytes.length;
    });
  }

  commit(): Promise<SnapshotRef> {
    return settledNow(() => {
      this.#checkOpen('commit');
      const data = new Uint8Array(this.#bytesWritten);
      let at = 0;
      for (const chunk of this.#chunks) {
        data.set(chunk, at);
        at += chunk.length;
      }
      const snapshot: Snapshot = { metadata: this.metadata, data };
      this.#install(snapshot);
      this.#state = 'committed';
      this.#chunks = [];
      return { metadata: snapshot.metadata, totalBytes: data.length };
    });
  }

  abort(): void {
    if (this.#state === 'open') this.cancel('aborted');
  }

  /** Ends the receive, dropping its data; later calls reject with `CancelledError`. */
  cancel(reason: string): void {
    if (this.#state !== 'open') return;
    this.#state = { cancelled: reason };
    this.#chunks = [];
  }

  #checkOpen(action: string): void {
    const state = this.#state;
    if (state === 'committed') {
      throw new InvalidArgumentError(`Cannot ${action} snapshot ${this.metadata.index}: already committed`);
    }
    if (state !== 'open') {
      throw new CancelledError(`Cannot ${action} snapshot ${this.metadata.index}: ${state.cancelled}`);
    }
  }
}
