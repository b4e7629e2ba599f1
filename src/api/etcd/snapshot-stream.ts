/**
 * The bytes etcd's Maintenance.Snapshot streams, for Tessera: the
 * member's state image (what its Raft snapshots hold, see
 * `LmdbState.writeImage`), taken at one applied index, then zero bytes up
 * to a whole number of {@link SNAPSHOT_BLOCK_BYTES} blocks, in chunks,
 * then the SHA-256 of all of that as the last chunk, as etcd appends the
 * SHA-256 of its database. The padding is there because
 * `etcdctl snapshot save` (3.4) refuses a download that is not whole
 * 512-byte blocks plus the 32-byte digest (a bbolt file is whole pages);
 * a reader finds the image's end at its `end` record.
 *
 * The image is first written to a temporary file, then streamed from it:
 * the LMDB read transaction the image is read in then lasts as long as the
 * disk write, not as long as the client takes to read (a long read
 * transaction keeps LMDB from reusing pages), and the size is known
 * before the first chunk, so `remaining_bytes` is exact.
 *
 * The image is Tessera's (MessagePack records), not a bbolt database:
 * `etcdctl snapshot save` stores it (checking its length), but
 * `etcdctl snapshot status` and `snapshot restore` cannot read it.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnavailableError } from '../../base/errors.ts';
import type { TesseraNode } from '../../server/node.ts';

/** Image bytes per chunk (etcd sends 32 KiB chunks). */
export const SNAPSHOT_CHUNK_BYTES = 32 * 1024;

/** The stream's image bytes are a whole number of these blocks (see the module comment). */
export const SNAPSHOT_BLOCK_BYTES = 512;

/** Snapshots one member streams at once; each takes a temporary copy of the state on disk. */
export const SNAPSHOTS_IN_FLIGHT_MAX = 2;

/** One chunk of the stream. */
export interface SnapshotChunk {
  /** The store revision the image holds. */
  readonly revision: number;
  /** Image bytes after this chunk (0 for the last image chunk and for the checksum). */
  readonly remainingBytes: number;
  readonly blob: Uint8Array;
}

/** Options of {@link snapshotStreamer}. */
export interface SnapshotStreamerOptions {
  /** Where the temporary files go; default the system's temporary folder. */
  readonly directory?: string;
}

/**
 * Makes the snapshot streams of `node`: each call gives the image of its
 * state in {@link SNAPSHOT_CHUNK_BYTES} chunks, then its SHA-256 (32
 * bytes) as a last chunk with `remainingBytes: 0`; `signal` stops it (the
 * temporary file is removed either way).
 *
 * The stream throws {@link UnavailableError} (retry later) when
 * {@link SNAPSHOTS_IN_FLIGHT_MAX} of this streamer's snapshots are streaming
 * already, and the abort reason when `signal` aborts.
 *
 * @example
 * ```ts
 * const snapshots = snapshotStreamer(node);
 * for await (const chunk of snapshots(signal)) out.write(chunk.blob);
 * ```
 */
export function snapshotStreamer(
  node: Pick<TesseraNode, 'writeImage' | 'info'>,
  options: SnapshotStreamerOptions = {},
): (signal: AbortSignal) => AsyncGenerator<SnapshotChunk> {
  let inFlight = 0;
  return async function* snapshotChunks(signal) {
    if (inFlight >= SNAPSHOTS_IN_FLIGHT_MAX) {
      throw new UnavailableError(
        `Cannot snapshot: member ${node.info.name} is streaming ${inFlight} snapshots, the most it takes at once (SNAPSHOTS_IN_FLIGHT_MAX); retry later`,
      );
    }
    inFlight++;
    try {
      yield* imageChunks(node, options.directory ?? tmpdir(), signal);
    } finally {
      inFlight--;
    }
  };
}

/** The image in chunks, then its checksum, through a temporary file in `parent` (see {@link snapshotStreamer}). */
async function* imageChunks(
  node: Pick<TesseraNode, 'writeImage'>,
  parent: string,
  signal: AbortSignal,
): AsyncGenerator<SnapshotChunk> {
  const directory = await mkdtemp(join(parent, 'tessera-etcd-snapshot-'));
  try {
    const path = join(directory, 'image');
    const { revision, totalBytes, sha256 } = await writeImageFile(node, path, signal);
    const file = await open(path, 'r');
    try {
      for (let offset = 0; offset < totalBytes; ) {
        signal.throwIfAborted();
        const chunk = Buffer.alloc(Math.min(SNAPSHOT_CHUNK_BYTES, totalBytes - offset));
        const { bytesRead } = await file.read(chunk, 0, chunk.length, offset);
        if (bytesRead !== chunk.length) {
          throw new Error(
            `Invariant: the snapshot file ended at ${offset + bytesRead} of ${totalBytes} bytes`,
          );
        }
        offset += bytesRead;
        yield { revision, remainingBytes: totalBytes - offset, blob: chunk };
      }
    } finally {
      await file.close();
    }
    yield { revision, remainingBytes: 0, blob: sha256 };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** Writes the image of `node`'s state to `path`, padded to whole blocks; its revision, size and SHA-256. */
async function writeImageFile(
  node: Pick<TesseraNode, 'writeImage'>,
  path: string,
  signal: AbortSignal,
): Promise<{ revision: number; totalBytes: number; sha256: Buffer }> {
  const file = await open(path, 'wx');
  const hash = createHash('sha256');
  let revision = 0;
  let totalBytes = 0;
  try {
    await node.writeImage(async (at) => {
      revision = at.revision;
      return async (bytes) => {
        signal.throwIfAborted();
        hash.update(bytes);
        await file.write(bytes);
        totalBytes += bytes.length;
      };
    });
    const padding = Buffer.alloc(
      (SNAPSHOT_BLOCK_BYTES - (totalBytes % SNAPSHOT_BLOCK_BYTES)) % SNAPSHOT_BLOCK_BYTES,
    );
    hash.update(padding);
    await file.write(padding);
    totalBytes += padding.length;
  } finally {
    await file.close();
  }
  return { revision, totalBytes, sha256: hash.digest() };
}
