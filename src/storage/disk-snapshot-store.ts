/**
 * {@link DiskSnapshotStore}: the `SnapshotStore` seam on disk, one file per
 * snapshot (format in `snapshot-file.ts`).
 *
 * @module
 */
import { mkdir, open, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { CancelledError, CompactedError, InvalidArgumentError, TooLargeError } from '../base/errors.ts';
import { getDefaultLogger, type Logger } from '../base/logger.ts';
import { SNAPSHOT_BYTES_MAX } from '../raft/snapshot-transfer.ts';
import type { SnapshotSink, SnapshotStore } from '../raft/stores.ts';
import type { Snapshot, SnapshotMetadata, SnapshotRef } from '../raft/types.ts';
import { DiskSnapshotSink } from './disk-snapshot-sink.ts';
import { CorruptionError } from './errors.ts';
import { isErrorCode, readFully, syncDirectory, unlinkIfPresent, writeFully } from './files.ts';
import {
  checkSnapshotFile,
  crc32Continue,
  crcOf,
  encodeSnapshotHeader,
  encodeSnapshotMetadata,
  parseSnapshotFileName,
  SNAPSHOT_FILE_HEADER_BYTES,
  SNAPSHOT_FILE_VERSION_TRAILER,
  type SnapshotFile,
  snapshotFileName,
} from './snapshot-file.ts';

/** Options of {@link DiskSnapshotStore.open}. */
export interface DiskSnapshotStoreOptions {
  /** The largest snapshot accepted, in bytes; the core's {@link SNAPSHOT_BYTES_MAX} by default (it fits the file's u32 length). */
  snapshotBytesMax?: number;
  /** Where corrupt snapshots found on open are reported. */
  logger?: Logger;
}

const TEMPORARY = /^snapshot-[0-9a-f]{16}\.snap\.\d+\.tmp$/;

interface Latest extends SnapshotFile {
  readonly path: string;
}

/**
 * A {@link SnapshotStore} in a directory. Each snapshot is written to a
 * temporary file, fsynced, renamed to `snapshot-<16 hex index>.snap` and
 * the directory fsynced: a crash leaves the old latest or the new one,
 * whole. The older file is deleted once the newer one is durable. Saves,
 * commits and deletions run one at a time, in call order.
 *
 * Only the latest snapshot's metadata and size are kept in memory; its
 * bytes are read from the file, a chunk at a time (`readChunk`), so no
 * snapshot is ever held whole in memory. Files are checked (checksum) a
 * piece at a time on open and before a received one is installed.
 *
 * @example
 * ```ts
 * const snapshots = await DiskSnapshotStore.open('/var/lib/tessera/snap');
 * await snapshots.save({ metadata, data });
 * const chunk = await snapshots.readChunk(metadata.index, 0, 64 * 1024);
 * ```
 */
export class DiskSnapshotStore implements SnapshotStore {
  readonly snapshotBytesMax: number;
  readonly #dir: string;
  #latest: Latest | undefined;
  #sink: DiskSnapshotSink | undefined;
  readonly #created = new Set<DiskSnapshotSink>();
  // Invariant: settles after every install started so far; never rejects.
  #queue: Promise<void> = Promise.resolve();
  #temporaries = 0;
  #stopped: string | undefined;

  private constructor(dir: string, snapshotBytesMax: number, latest: Latest | undefined) {
    this.#dir = dir;
    this.snapshotBytesMax = snapshotBytesMax;
    this.#latest = latest;
  }

  /**
   * Opens the store in `dir` (created when missing). Temporary files left
   * by a crash are deleted. When the newest snapshot file fails its
   * checksum, the one before it (left by a crash before its deletion) is
   * used if present, and the corrupt one renamed to `*.corrupt`.
   *
   * @throws {CorruptionError} (rejects) when snapshot files exist and none is whole.
   * @throws {RangeError} when `snapshotBytesMax` is not a positive integer up to {@link SNAPSHOT_BYTES_MAX}.
   */
  static async open(dir: string, options: DiskSnapshotStoreOptions = {}): Promise<DiskSnapshotStore> {
    const bytesMax = options.snapshotBytesMax ?? SNAPSHOT_BYTES_MAX;
    if (!Number.isSafeInteger(bytesMax) || bytesMax < 1 || bytesMax > SNAPSHOT_BYTES_MAX) {
      throw new RangeError(
        `Cannot open snapshot store: snapshotBytesMax ${bytesMax} is not an integer in [1, ${SNAPSHOT_BYTES_MAX}]`,
      );
    }
    const logger = options.logger ?? getDefaultLogger();
    await mkdir(dir, { recursive: true });
    const found: { index: number; path: string }[] = [];
    for (const file of await readdir(dir)) {
      if (TEMPORARY.test(file)) await unlinkIfPresent(join(dir, file));
      const index = parseSnapshotFileName(file);
      if (index !== undefined) found.push({ index, path: join(dir, file) });
    }
    found.sort((a, b) => b.index - a.index);
    const corrupt: CorruptionError[] = [];
    let latest: Latest | undefined;
    for (const { index, path } of found) {
      if (latest !== undefined) {
        await unlinkIfPresent(path); // superseded; a crash came before its deletion
        continue;
      }
      try {
        const file = await checkSnapshotFile(path);
        if (file.snapshot.metadata.index !== index) {
          throw new CorruptionError(
            `Cannot open the snapshot: ${path} holds index ${file.snapshot.metadata.index}`,
            {
              details: { file: path, offset: 0 },
            },
          );
        }
        latest = { ...file, path };
      } catch (error) {
        if (!(error instanceof CorruptionError)) throw error;
        logger.error(
          { file: path, error: error.message },
          'A snapshot file is corrupt: trying the one before it',
        );
        corrupt.push(error);
      }
    }
    if (latest === undefined && corrupt[0] !== undefined) throw corrupt[0];
    for (const error of corrupt) await rename(error.file as string, `${error.file}.corrupt`);
    return new DiskSnapshotStore(dir, bytesMax, latest);
  }

  latest(): SnapshotRef | undefined {
    return this.#latest?.snapshot;
  }

  /** Saves `snapshot` durably (see the class doc). */
  save(snapshot: Snapshot): Promise<void> {
    return this.#enqueue(async () => {
      const { index } = snapshot.metadata;
      this.#check('save', index);
      if (snapshot.data.length > this.snapshotBytesMax) {
        throw new TooLargeError(
          `Cannot save snapshot at ${index}: ${snapshot.data.length} bytes is over snapshotBytesMax ${this.snapshotBytesMax}`,
        );
      }
      const temporary = this.#temporaryPath(index);
      try {
        const metadata = encodeSnapshotMetadata(snapshot.metadata);
        const crc = crc32Continue(snapshot.data, crc32Continue(metadata, 0));
        const handle = await open(temporary, 'w');
        try {
          const head = Buffer.concat([
            encodeSnapshotHeader(metadata.length, snapshot.data.length, crc),
            metadata,
          ]);
          await writeFully(handle, head, 0);
          await writeFully(handle, snapshot.data, head.length);
          await handle.sync();
        } finally {
          await handle.close();
        }
        const file = {
          snapshot: { metadata: snapshot.metadata, totalBytes: snapshot.data.length },
          dataOffset: SNAPSHOT_FILE_HEADER_BYTES + metadata.length,
        };
        await this.#installFile(temporary, file);
      } finally {
        await unlinkIfPresent(temporary);
      }
    });
  }

  /**
   * Makes the file at `path` the data of a new latest snapshot without
   * copying it: the file is moved into the store's directory (a rename:
   * it must be on the same file system), checksummed where it lies, and
   * the metadata and header are appended after it (format version 2, see
   * `snapshot-file.ts`); then, as for any snapshot, it is synced and
   * renamed into place. Once renamed, the file is the store's, whether
   * this succeeds or not; refused before (a lower index, a failed rename),
   * it is left where it was.
   *
   * @throws {InvalidArgumentError} (rejects) when its index is below the latest's.
   * @throws {TooLargeError} (rejects) when it is larger than `snapshotBytesMax`.
   * @throws the rename's error (rejects; `EXDEV` across file systems), with the file left where it was.
   */
  adoptFile(metadata: SnapshotMetadata, path: string): Promise<SnapshotRef> {
    return this.#enqueue(async () => {
      const { index } = metadata;
      this.#check('adopt', index);
      const temporary = this.#temporaryPath(index);
      await rename(path, temporary);
      try {
        const handle = await open(temporary, 'r+');
        let dataBytes: number;
        try {
          dataBytes = (await handle.stat()).size;
          if (dataBytes > this.snapshotBytesMax) {
            throw new TooLargeError(
              `Cannot adopt snapshot at ${index}: ${dataBytes} bytes is over snapshotBytesMax ${this.snapshotBytesMax}`,
            );
          }
          const encoded = encodeSnapshotMetadata(metadata);
          const crc = crc32Continue(encoded, await crcOf(handle, 0, dataBytes));
          const header = encodeSnapshotHeader(encoded.length, dataBytes, crc, SNAPSHOT_FILE_VERSION_TRAILER);
          await writeFully(handle, Buffer.concat([encoded, header]), dataBytes);
          await handle.sync();
        } finally {
          await handle.close();
        }
        const file = { snapshot: { metadata, totalBytes: dataBytes }, dataOffset: 0 };
        await this.#installFile(temporary, file);
        return file.snapshot;
      } finally {
        await unlinkIfPresent(temporary);
      }
    });
  }

  receive(metadata: SnapshotMetadata): SnapshotSink {
    this.#check('receive', metadata.index);
    this.#sink?.cancel('superseded by another receive');
    const sink = this.#newSink(metadata);
    this.#sink = sink;
    return sink;
  }

  create(metadata: SnapshotMetadata): SnapshotSink {
    this.#check('create', metadata.index);
    for (const earlier of this.#created) if (earlier.finished) this.#created.delete(earlier);
    const sink = this.#newSink(metadata, () => this.#created.delete(sink));
    this.#created.add(sink);
    return sink;
  }

  #newSink(metadata: SnapshotMetadata, done?: () => void): DiskSnapshotSink {
    return new DiskSnapshotSink(
      {
        snapshotBytesMax: this.snapshotBytesMax,
        installReceived: async (received, finish) => {
          try {
            return await this.#installReceived(received, finish);
          } finally {
            done?.();
          }
        },
      },
      metadata,
      this.#temporaryPath(metadata.index),
    );
  }

  #installReceived(metadata: SnapshotMetadata, finish: () => Promise<string>): Promise<SnapshotRef> {
    return this.#enqueue(async () => {
      this.#check('commit', metadata.index);
      const temporary = await finish();
      // Read back and checked before it becomes visible: readChunk serves these bytes.
      const file = await checkSnapshotFile(temporary);
      await this.#installFile(temporary, file);
      return file.snapshot;
    });
  }

  /** Renames a synced temporary file into place, then deletes the previous latest. */
  async #installFile(temporary: string, file: SnapshotFile): Promise<void> {
    const { index } = file.snapshot.metadata;
    this.#check('install', index);
    const path = join(this.#dir, snapshotFileName(index));
    await rename(temporary, path);
    await syncDirectory(this.#dir);
    const previous = this.#latest;
    this.#latest = { ...file, path };
    if (previous !== undefined && previous.path !== path) await unlinkIfPresent(previous.path);
  }

  async readChunk(index: number, offset: number, bytesMax: number): Promise<Uint8Array> {
    const latest = this.#latest;
    if (latest !== undefined && index < latest.snapshot.metadata.index) {
      throw new CompactedError(
        `Cannot read snapshot ${index}: superseded by ${latest.snapshot.metadata.index}`,
      );
    }
    if (latest === undefined || index > latest.snapshot.metadata.index) {
      throw new RangeError(
        `Cannot read snapshot ${index}: the latest is at ${latest?.snapshot.metadata.index ?? 'none'}`,
      );
    }
    const size = latest.snapshot.totalBytes;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > size) {
      throw new RangeError(`Cannot read snapshot ${index} at ${offset}: it has ${size} bytes`);
    }
    if (!(bytesMax >= 1))
      throw new RangeError(`Cannot read snapshot ${index}: bytesMax ${bytesMax} is below 1`);
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(latest.path, 'r');
    } catch (error) {
      if (isErrorCode(error, 'ENOENT')) throw new CompactedError(`Cannot read snapshot ${index}: superseded`);
      throw error;
    }
    try {
      const length = Math.min(bytesMax, size - offset);
      if (length <= 0) return new Uint8Array(0);
      const chunk = await readFully(handle, length, latest.dataOffset + offset);
      return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    } finally {
      await handle.close();
    }
  }

  #temporaryPath(index: number): string {
    this.#temporaries++;
    return join(this.#dir, `${snapshotFileName(index)}.${this.#temporaries}.tmp`);
  }

  #enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work);
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** @throws when the store is stopped, or `index` is below the latest's. */
  #check(action: string, index: number): void {
    if (this.#stopped !== undefined) {
      throw new CancelledError(`Cannot ${action} snapshot ${index}: the store was ${this.#stopped}`);
    }
    const latestIndex = this.#latest?.snapshot.metadata.index;
    if (latestIndex !== undefined && index < latestIndex) {
      throw new InvalidArgumentError(
        `Cannot ${action} snapshot at ${index}: the latest is at ${latestIndex}`,
        {
          details: { index, latestIndex },
        },
      );
    }
  }

  /** Waits for the saves and commits started, then refuses new ones. Does nothing the second time. */
  async close(): Promise<void> {
    await this.#queue;
    await this.#stop('closed');
  }

  /**
   * Stops as a crash would: a save or commit under way stops before its
   * next step (before or after its rename, so the old snapshot or the new
   * one is latest on disk, whole), the receive in flight is dropped, and
   * later calls reject with `CancelledError`.
   */
  async abandon(): Promise<void> {
    await this.#stop('abandoned');
  }

  async #stop(reason: string): Promise<void> {
    this.#stopped ??= reason;
    const sinks = [...this.#created, ...(this.#sink === undefined ? [] : [this.#sink])];
    for (const sink of sinks) sink.cancel(`the store was ${reason}`);
    await this.#queue;
    await Promise.all(sinks.map((sink) => sink.settled()));
    this.#sink = undefined;
    this.#created.clear();
  }
}
