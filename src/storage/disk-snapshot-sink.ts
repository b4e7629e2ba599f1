/**
 * {@link DiskSnapshotSink}: a snapshot received in chunks into a temporary
 * file, for `DiskSnapshotStore.receive`.
 *
 * @module
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { CancelledError, InvalidArgumentError, TooLargeError } from '../base/errors.ts';
import type { SnapshotSink } from '../raft/stores.ts';
import type { SnapshotMetadata, SnapshotRef } from '../raft/types.ts';
import { unlinkIfPresent, writeFully } from './files.ts';
import {
  crc32Continue,
  encodeSnapshotHeader,
  encodeSnapshotMetadata,
  SNAPSHOT_FILE_HEADER_BYTES,
} from './snapshot-file.ts';

/** What a sink needs from its store. */
export interface SnapshotSinkHost {
  readonly snapshotBytesMax: number;
  /**
   * Makes the received snapshot the latest, in turn with the store's other
   * installs: checks it is not overtaken, calls `finish` (which completes
   * and syncs the temporary file and returns its path), then renames it
   * into place.
   */
  installReceived(metadata: SnapshotMetadata, finish: () => Promise<string>): Promise<SnapshotRef>;
}

/**
 * A receive in flight. Chunks are written to a temporary file as they
 * arrive (never all held in memory) and checksummed on the way; `commit`
 * writes the header, fsyncs, and renames the file into place. Until then
 * the store's latest snapshot is unchanged, and a crash leaves only a
 * temporary file, deleted at the next open.
 */
export class DiskSnapshotSink implements SnapshotSink {
  readonly metadata: SnapshotMetadata;
  readonly #host: SnapshotSinkHost;
  readonly #temporary: string;
  readonly #metadataBytes: Buffer;
  #bytesWritten = 0;
  // Running CRC-32 of the metadata and every chunk accepted.
  #crc: number;
  #state: 'open' | 'committing' | 'committed' | { readonly cancelled: string } = 'open';
  // Invariant: resolves with the temporary file once every chunk accepted so far is written to it.
  #written: Promise<FileHandle>;
  #closed = false;
  #cleanup: Promise<void> = Promise.resolve();

  /** Starts writing `temporary`. Use `DiskSnapshotStore.receive`. */
  constructor(host: SnapshotSinkHost, metadata: SnapshotMetadata, temporary: string) {
    this.#host = host;
    this.metadata = metadata;
    this.#temporary = temporary;
    const metadataBytes = encodeSnapshotMetadata(metadata);
    this.#metadataBytes = metadataBytes;
    this.#crc = crc32Continue(metadataBytes, 0);
    this.#written = (async () => {
      const handle = await open(temporary, 'w');
      await writeFully(handle, metadataBytes, SNAPSHOT_FILE_HEADER_BYTES);
      return handle;
    })();
    // A failure to open surfaces on the next write or commit.
    this.#written.catch(() => undefined);
  }

  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  write(offset: number, bytes: Uint8Array): Promise<void> {
    try {
      this.#checkOpen('write to');
      if (offset !== this.#bytesWritten) {
        throw new InvalidArgumentError(
          `Cannot write snapshot ${this.metadata.index} at ${offset}: ${this.#bytesWritten} bytes received so far`,
          { details: { offset, expectedOffset: this.#bytesWritten } },
        );
      }
      const total = this.#bytesWritten + bytes.length;
      if (total > this.#host.snapshotBytesMax) {
        throw new TooLargeError(
          `Cannot write snapshot ${this.metadata.index}: ${total} bytes is over snapshotBytesMax ${this.#host.snapshotBytesMax}`,
        );
      }
    } catch (error) {
      return Promise.reject(error);
    }
    // A copy: the caller may reuse its buffer before the write runs.
    const chunk = new Uint8Array(bytes);
    const position = SNAPSHOT_FILE_HEADER_BYTES + this.#metadataBytes.length + offset;
    this.#bytesWritten += chunk.length;
    this.#crc = crc32Continue(chunk, this.#crc);
    this.#written = this.#written.then(async (handle) => {
      await writeFully(handle, chunk, position);
      return handle;
    });
    return this.#written.then(
      () => undefined,
      (error: unknown) => {
        this.cancel(`a write failed: ${(error as Error).message}`);
        throw error;
      },
    );
  }

  commit(): Promise<SnapshotRef> {
    try {
      this.#checkOpen('commit');
    } catch (error) {
      return Promise.reject(error);
    }
    this.#state = 'committing';
    const finish = async (): Promise<string> => {
      const handle = await this.#written;
      const header = encodeSnapshotHeader(this.#metadataBytes.length, this.#bytesWritten, this.#crc);
      await writeFully(handle, header, 0);
      await handle.sync();
      this.#closed = true;
      await handle.close();
      return this.#temporary;
    };
    return this.#host.installReceived(this.metadata, finish).then(
      (snapshot) => {
        this.#state = 'committed';
        return snapshot;
      },
      (error: unknown) => {
        this.#state = 'open';
        this.cancel(`the commit failed: ${(error as Error).message}`);
        throw error;
      },
    );
  }

  abort(): void {
    this.cancel('aborted');
  }

  /**
   * Ends an open receive, deleting its temporary file; later calls reject
   * with `CancelledError`. Does nothing once committing or committed.
   */
  cancel(reason: string): void {
    if (this.#state !== 'open') return;
    this.#state = { cancelled: reason };
    this.#cleanup = this.#written
      .then((handle) => (this.#closed ? undefined : handle.close()))
      .catch(() => undefined)
      .then(() => unlinkIfPresent(this.#temporary))
      .catch(() => undefined);
  }

  /** Whether it was committed or cancelled (nothing more will happen to it). */
  get finished(): boolean {
    return this.#state === 'committed' || typeof this.#state === 'object';
  }

  /** Resolves once a cancelled receive's file is deleted. */
  settled(): Promise<void> {
    return this.#cleanup;
  }

  #checkOpen(action: string): void {
    const state = this.#state;
    if (state === 'committed' || state === 'committing') {
      throw new InvalidArgumentError(`Cannot ${action} snapshot ${this.metadata.index}: already committed`);
    }
    if (state !== 'open') {
      throw new CancelledError(`Cannot ${action} snapshot ${this.metadata.index}: ${state.cancelled}`);
    }
  }
}
