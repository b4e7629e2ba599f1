/**
 * DiskSnapshotStore beyond the conformance suite: what it finds on open
 * (corrupt files, files a crash left behind) and its file format.
 */
import assert from 'node:assert/strict';
import { copyFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { TooLargeError } from '../base/errors.ts';
import { RecordingLogger } from '../base/logger.ts';
import { testSnapshot } from '../raft/snapshot-store-conformance.ts';
import { readSnapshotData } from '../raft/stores.ts';
import type { Snapshot } from '../raft/types.ts';
import { DiskSnapshotStore } from './disk-snapshot-store.ts';
import { CorruptionError } from './errors.ts';
import {
  encodeSnapshotHeader,
  encodeSnapshotMetadata,
  SNAPSHOT_FILE_HEADER_BYTES,
  SNAPSHOT_FILE_VERSION_TRAILER,
  snapshotFileName,
} from './snapshot-file.ts';
import { removeDirectory, temporaryDirectory } from './test-stores.ts';

let dir: string;
let logger: RecordingLogger;

beforeEach(async () => {
  dir = await temporaryDirectory();
  logger = new RecordingLogger();
});
afterEach(() => removeDirectory(dir));

/** The latest snapshot with its bytes read back from the file. */
async function latestWithData(store: DiskSnapshotStore): Promise<Snapshot | undefined> {
  const latest = store.latest();
  return latest === undefined ? undefined : readSnapshotData(store, latest, 100);
}

function openStore(): Promise<DiskSnapshotStore> {
  return DiskSnapshotStore.open(dir, { logger });
}

async function flipLastByte(path: string): Promise<void> {
  const bytes = await readFile(path);
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
  await writeFile(path, bytes);
}

/** Saves snapshots 5 then 9, and puts 5's file back, as a crash before its deletion would leave it. */
async function leaveTwoSnapshots(): Promise<void> {
  const store = await openStore();
  await store.save(testSnapshot(5));
  await copyFile(join(dir, snapshotFileName(5)), join(dir, 'keep'));
  await store.save(testSnapshot(9));
  await store.close();
  assert.deepEqual(await readdir(dir), ['keep', snapshotFileName(9)].sort());
  await copyFile(join(dir, 'keep'), join(dir, snapshotFileName(5)));
}

describe('DiskSnapshotStore', () => {
  it('keeps one file: the older snapshot is deleted once a newer one is durable', async () => {
    const store = await openStore();
    await store.save(testSnapshot(5));
    await store.save(testSnapshot(9));
    assert.deepEqual(await readdir(dir), [snapshotFileName(9)]);
    await store.close();
  });

  it('opens the newest whole snapshot and deletes older ones a crash left', async () => {
    await leaveTwoSnapshots();
    const store = await openStore();
    assert.deepEqual(await latestWithData(store), testSnapshot(9));
    assert.deepEqual((await readdir(dir)).sort(), ['keep', snapshotFileName(9)].sort());
    await store.close();
  });

  it('falls back to the previous snapshot when the newest is corrupt, and sets the corrupt one aside', async () => {
    await leaveTwoSnapshots();
    await flipLastByte(join(dir, snapshotFileName(9)));
    const store = await openStore();
    assert.deepEqual(await latestWithData(store), testSnapshot(5));
    assert.ok((await readdir(dir)).includes(`${snapshotFileName(9)}.corrupt`));
    assert.ok(
      logger.records.some((record) => record.level === 'error' && record.message.includes('corrupt')),
    );
    // And it goes on: the next save replaces the fallback.
    await store.save(testSnapshot(12));
    assert.deepEqual(await latestWithData(store), testSnapshot(12));
    await store.close();
  });

  it('refuses to open with a CorruptionError when the only snapshot is corrupt', async () => {
    const store = await openStore();
    await store.save(testSnapshot(5));
    await store.close();
    const path = join(dir, snapshotFileName(5));
    await flipLastByte(path);
    await assert.rejects(openStore(), (error) => error instanceof CorruptionError && error.file === path);
  });

  it('refuses a file whose header is cut short', async () => {
    const store = await openStore();
    await store.save(testSnapshot(5));
    await store.close();
    const path = join(dir, snapshotFileName(5));
    await writeFile(path, (await readFile(path)).subarray(0, 30));
    await assert.rejects(openStore(), /corrupt at byte 5/);
  });

  it('deletes temporary files a crash left', async () => {
    await writeFile(join(dir, `${snapshotFileName(7)}.3.tmp`), 'half a snapshot');
    const store = await openStore();
    assert.deepEqual(await readdir(dir), []);
    assert.equal(store.latest(), undefined);
    await store.close();
  });

  it('a snapshot received in chunks reads back the same after reopening', async () => {
    let store = await openStore();
    const snapshot = testSnapshot(9, 1000);
    const sink = store.receive(snapshot.metadata);
    for (let offset = 0; offset < 1000; offset += 128) {
      await sink.write(offset, snapshot.data.subarray(offset, offset + 128));
    }
    assert.deepEqual(await sink.commit(), { metadata: snapshot.metadata, totalBytes: snapshot.data.length });
    await store.close();
    store = await openStore();
    assert.deepEqual(await latestWithData(store), snapshot);
    assert.deepEqual(await store.readChunk(9, 900, 500), snapshot.data.subarray(900));
    await store.close();
  });

  it('adopts a whole file as a snapshot without copying it (header after the data), read back after reopening', async () => {
    let store = await openStore();
    await store.save(testSnapshot(5));
    const snapshot = testSnapshot(9, 1000);
    const outside = join(dir, '..', `adopt-${process.pid}-${Date.now()}`);
    await writeFile(outside, snapshot.data);
    assert.deepEqual(await store.adoptFile(snapshot.metadata, outside), {
      metadata: snapshot.metadata,
      totalBytes: 1000,
    });
    await assert.rejects(readFile(outside), /ENOENT/, 'the file was moved, not copied');
    assert.deepEqual(await readdir(dir), [snapshotFileName(9)], 'the older snapshot is gone');
    assert.deepEqual(await latestWithData(store), snapshot);
    await store.close();
    store = await openStore();
    assert.deepEqual(await latestWithData(store), snapshot);
    assert.deepEqual(await store.readChunk(9, 900, 500), snapshot.data.subarray(900));
    await store.close();
    // A byte of the data flipped: the checksum catches it, as for a file written header first.
    const path = join(dir, snapshotFileName(9));
    const bytes = await readFile(path);
    bytes[10] = (bytes[10] as number) ^ 1;
    await writeFile(path, bytes);
    await assert.rejects(openStore(), CorruptionError);
  });

  it('refuses to adopt a file below the latest snapshot or over snapshotBytesMax, keeping the latest', async () => {
    const store = await DiskSnapshotStore.open(dir, { logger, snapshotBytesMax: 500 });
    await store.save(testSnapshot(5));
    const low = join(dir, '..', `adopt-low-${process.pid}-${Date.now()}`);
    await writeFile(low, testSnapshot(3).data);
    await assert.rejects(store.adoptFile(testSnapshot(3).metadata, low), /below|latest/);
    const large = join(dir, '..', `adopt-large-${process.pid}-${Date.now()}`);
    await writeFile(large, testSnapshot(9, 501).data);
    await assert.rejects(store.adoptFile(testSnapshot(9).metadata, large), TooLargeError);
    await rm(low, { force: true });
    assert.deepEqual(await readdir(dir), [snapshotFileName(5)], 'no temporary file is left');
    assert.deepEqual(await latestWithData(store), testSnapshot(5));
    await store.close();
  });

  it('reads a file written header first as such, even when its data ends like a header written last', async () => {
    let store = await openStore();
    // Data whose last 17 bytes are a version-2 header whose lengths add up to the whole v1 file's size.
    const metadataBytes = encodeSnapshotMetadata(testSnapshot(9).metadata).length;
    const dataBytes = 200;
    const fileBytes = SNAPSHOT_FILE_HEADER_BYTES + metadataBytes + dataBytes;
    const trailer = encodeSnapshotHeader(
      7,
      fileBytes - SNAPSHOT_FILE_HEADER_BYTES - 7,
      0,
      SNAPSHOT_FILE_VERSION_TRAILER,
    );
    const data = new Uint8Array(dataBytes);
    data.set(trailer, dataBytes - trailer.length);
    const snapshot = { metadata: testSnapshot(9).metadata, data };
    await store.save(snapshot);
    await store.close();
    store = await openStore();
    assert.deepEqual(await latestWithData(store), snapshot);
    await store.close();
  });

  it('refuses a snapshotBytesMax its file format cannot hold', async () => {
    await assert.rejects(DiskSnapshotStore.open(dir, { snapshotBytesMax: 2 ** 32 }), RangeError);
    await assert.rejects(DiskSnapshotStore.open(dir, { snapshotBytesMax: 0 }), RangeError);
  });
});
