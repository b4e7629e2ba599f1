/**
 * WAL recovery: a clean reopen, a torn tail (cut, logged, never applied),
 * and corruption of synced data (refused with a CorruptionError naming the
 * file and offset).
 */
import assert from 'node:assert/strict';
import { readFile, truncate, unlink, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { RecordingLogger } from '../base/logger.ts';
import { logView, testEntries, testEntry } from '../raft/log-store-conformance.ts';
import { CorruptionError } from './errors.ts';
import { removeDirectory, segmentPaths, TEST_WAL_OPTIONS, temporaryDirectory } from './test-stores.ts';
import { scanSegment } from './wal-segment.ts';
import { WalStores } from './wal-stores.ts';

let dir: string;
let logger: RecordingLogger;

beforeEach(async () => {
  dir = await temporaryDirectory();
  logger = new RecordingLogger();
});
afterEach(() => removeDirectory(dir));

function openStores(): Promise<WalStores> {
  return WalStores.open(dir, { ...TEST_WAL_OPTIONS, logger });
}

/** Writes entries 1..count at term 1, one record and one sync each, and closes. */
async function writeEntriesOneSyncEach(count: number): Promise<void> {
  const stores = await openStores();
  for (let index = 1; index <= count; index++) {
    stores.log.append([testEntry(index, 1)]);
    await stores.log.sync();
  }
  await stores.close();
}

/** The offsets of the records in a segment file (its checkpoint first). */
async function recordOffsets(path: string): Promise<number[]> {
  const scan = scanSegment(path, await readFile(path), TEST_WAL_OPTIONS.recordBytesMax as number);
  return scan.records.map((record) => record.offset);
}

async function flipByte(path: string, offset: number): Promise<void> {
  const bytes = await readFile(path);
  bytes[offset] = (bytes[offset] as number) ^ 0x40;
  await writeFile(path, bytes);
}

async function onlySegment(): Promise<string> {
  const [path, ...others] = await segmentPaths(dir);
  assert.equal(others.length, 0, 'one segment');
  return path as string;
}

describe('WAL recovery', () => {
  it('reopening after a clean close returns identical entries and hard state', async () => {
    let stores = await openStores();
    stores.log.append(testEntries(1, 40, 1));
    stores.log.append(testEntries(30, 60, 2, 'rewritten'));
    stores.log.compact(10);
    stores.stable.setHardState({ term: 2, vote: 3, commit: 55 });
    const view = logView(stores.log);
    await stores.close();
    stores = await openStores();
    assert.deepEqual(logView(stores.log), view);
    assert.deepEqual(stores.stable.hardState(), { term: 2, vote: 3, commit: 55 });
    await stores.close();
  });

  it('a record torn mid-header at the tail is cut and logged; the prefix survives', async () => {
    await writeEntriesOneSyncEach(5);
    const path = await onlySegment();
    const last = (await recordOffsets(path)).at(-1) as number;
    await truncate(path, last + 5);
    let stores = await openStores();
    assert.deepEqual(logView(stores.log), {
      first: 1,
      last: 4,
      boundaryTerm: 0,
      entries: testEntries(1, 4, 1),
    });
    const warning = logger.records.find((record) => record.message.includes('torn'));
    assert.ok(warning, 'a warning about the torn record');
    assert.deepEqual((warning.fields as { file: string; offset: number }).file, path);
    assert.equal((warning.fields as { offset: number }).offset, last);
    // The WAL goes on writing after the cut, and what it writes survives.
    stores.log.append([testEntry(5, 2)]);
    await stores.log.sync();
    await stores.close();
    stores = await openStores();
    assert.deepEqual(logView(stores.log), {
      first: 1,
      last: 5,
      boundaryTerm: 0,
      entries: [...testEntries(1, 4, 1), testEntry(5, 2)],
    });
    await stores.close();
  });

  it('a record torn mid-body at the tail is cut', async () => {
    await writeEntriesOneSyncEach(5);
    const path = await onlySegment();
    const last = (await recordOffsets(path)).at(-1) as number;
    await truncate(path, last + 12);
    const stores = await openStores();
    assert.equal(stores.log.lastIndex(), 4);
    await stores.close();
  });

  it('a last record that fails its checksum, with zeros after it, is cut', async () => {
    await writeEntriesOneSyncEach(5);
    const path = await onlySegment();
    const last = (await recordOffsets(path)).at(-1) as number;
    await flipByte(path, last + 10);
    const stores = await openStores();
    assert.equal(stores.log.lastIndex(), 4);
    await stores.close();
    // The cut was zeroed: the next open finds nothing to cut.
    logger.records.length = 0;
    await (await openStores()).close();
    assert.equal(logger.records.filter((record) => record.message.includes('torn')).length, 0);
  });

  it('a flipped byte mid-log is refused with a CorruptionError naming the file and offset', async () => {
    await writeEntriesOneSyncEach(5);
    const path = await onlySegment();
    const second = (await recordOffsets(path))[2] as number;
    await flipByte(path, second + 11);
    const error = await openStores().then(
      () => assert.fail('the WAL opened'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof CorruptionError, String(error));
    assert.equal(error.code, 'CORRUPT');
    assert.equal(error.file, path);
    assert.equal(error.offset, second);
    assert.match(error.message, /good record follows/);
  });

  it('a zeroed record header mid-log is refused, not taken for the end of the log', async () => {
    await writeEntriesOneSyncEach(5);
    const path = await onlySegment();
    const second = (await recordOffsets(path))[2] as number;
    const bytes = await readFile(path);
    bytes.fill(0, second, second + 8);
    await writeFile(path, bytes);
    await assert.rejects(openStores(), (error) => error instanceof CorruptionError && error.file === path);
  });

  it('a bad record in a segment that is not the last is refused', async () => {
    const stores = await openStores();
    for (let index = 1; stores.wal.stats.segmentsCreated < 3; index++) {
      stores.log.append([{ ...testEntry(index, 1), data: new Uint8Array(1000).fill(index) }]);
      await stores.log.sync();
    }
    await stores.close();
    const [first] = await segmentPaths(dir);
    // Its last record: nothing valid follows it in its own segment, but it is not the tail of the WAL.
    const last = (await recordOffsets(first as string)).at(-1) as number;
    await flipByte(first as string, last + 12);
    await assert.rejects(openStores(), (error) => error instanceof CorruptionError && error.file === first);
  });

  it('a segment missing from the middle is refused', async () => {
    const stores = await openStores();
    for (let index = 1; stores.wal.stats.segmentsCreated < 3; index++) {
      stores.log.append([{ ...testEntry(index, 1), data: new Uint8Array(1000) }]);
      await stores.log.sync();
    }
    await stores.close();
    const [, middle] = await segmentPaths(dir);
    await unlink(middle as string);
    await assert.rejects(openStores(), CorruptionError);
  });

  it('a first segment whose earlier entries are gone and never compacted is refused', async () => {
    const stores = await openStores();
    for (let index = 1; stores.wal.stats.segmentsCreated < 2; index++) {
      stores.log.append([{ ...testEntry(index, 1), data: new Uint8Array(1000) }]);
      await stores.log.sync();
    }
    await stores.close();
    const [first] = await segmentPaths(dir);
    await unlink(first as string);
    await assert.rejects(openStores(), /missing, and no compaction released them/);
  });
});
