/**
 * WAL segments: rotation when full, deletion of segments the compaction
 * point passed, and recovery from what is left; then a seeded run of
 * random operations, crashes and reopens checked against the in-memory
 * stores.
 */
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { RecordingLogger } from '../base/logger.ts';
import { SeededRandom } from '../base/random.ts';
import { logView, testEntry } from '../raft/log-store-conformance.ts';
import { MemoryLogStore, MemoryStableStore } from '../raft/memory-stores.ts';
import type { Entry } from '../raft/types.ts';
import { removeDirectory, segmentPaths, TEST_WAL_OPTIONS, temporaryDirectory } from './test-stores.ts';
import { SPARE_SEGMENT_FILE } from './wal-segment.ts';
import { WalStores } from './wal-stores.ts';

let dir: string;

beforeEach(async () => {
  dir = await temporaryDirectory();
});
afterEach(() => removeDirectory(dir));

function openStores(): Promise<WalStores> {
  return WalStores.open(dir, { ...TEST_WAL_OPTIONS, logger: new RecordingLogger() });
}

function sized(index: number, term: number, bytes: number, tag = ''): Entry {
  const entry = testEntry(index, term, tag);
  const data = new Uint8Array(bytes);
  data.set(entry.data.subarray(0, bytes));
  return { ...entry, data };
}

/** Appends 500-byte entries one sync each until the WAL has `segments` segment files. */
async function fillSegments(stores: WalStores, segments: number, term = 1): Promise<void> {
  while ((await segmentPaths(dir)).length < segments) {
    stores.log.append([sized(stores.log.lastIndex() + 1, term, 500)]);
    await stores.log.sync();
  }
}

describe('WAL segments', () => {
  it('rotate when full into preallocated files named by sequence and first index', async () => {
    const stores = await openStores();
    await fillSegments(stores, 3);
    const paths = await segmentPaths(dir);
    assert.equal(paths.length, 3);
    for (const path of paths) assert.equal((await stat(path)).size, TEST_WAL_OPTIONS.segmentBytes);
    const names = paths.map((path) => path.slice(path.lastIndexOf('/') + 1));
    assert.match(names[0] as string, /^wal-0000000000000001-0000000000000001\.log$/);
    const second = /^wal-0000000000000002-([0-9a-f]{16})\.log$/.exec(names[1] as string);
    assert.ok(second, names[1]);
    assert.ok(Number.parseInt(second[1] as string, 16) > 1, 'the second segment starts past entry 1');
    await stores.close();
  });

  it('a new segment is the spare made ahead of need, renamed into place; a spare left by a crash is remade', async () => {
    const spare = join(dir, SPARE_SEGMENT_FILE);
    const spareReady = async (): Promise<{ ino: number; size: number }> => {
      const deadline = Date.now() + 5000;
      for (;;) {
        const found = await stat(spare).catch(() => undefined);
        if (found !== undefined && found.size === TEST_WAL_OPTIONS.segmentBytes) return found;
        if (Date.now() > deadline) throw new Error('no spare segment in 5 s');
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    let stores = await openStores();
    const first = await spareReady();
    await fillSegments(stores, 2);
    const [, second] = await segmentPaths(dir);
    assert.equal((await stat(second as string)).ino, first.ino, 'the second segment is the spare file');
    assert.notEqual((await spareReady()).ino, first.ino, 'and a new spare is made');
    await stores.close();
    assert.equal(await stat(spare).catch(() => undefined), undefined, 'close deletes the spare');
    await writeFile(spare, 'left by a crash');
    stores = await openStores();
    const remade = await spareReady();
    assert.ok(
      (await readFile(spare)).every((byte) => byte === 0),
      'the spare is zeros again',
    );
    await fillSegments(stores, 3);
    const [, , third] = await segmentPaths(dir);
    assert.equal((await stat(third as string)).ino, remade.ino);
    await stores.close();
  });

  it('segments the compaction point passed are deleted, and the rest recovers', async () => {
    let stores = await openStores();
    await fillSegments(stores, 4);
    const last = stores.log.lastIndex();
    stores.log.compact(last - 1);
    assert.equal((await segmentPaths(dir)).length, 4, 'nothing deleted before the compaction is synced');
    await stores.log.sync();
    assert.equal((await segmentPaths(dir)).length, 1);
    assert.equal(stores.wal.stats.segmentsDeleted, 3);
    const view = logView(stores.log);
    await stores.close();
    stores = await openStores();
    assert.deepEqual(logView(stores.log), view);
    await stores.close();
  });

  it('a segment still holding live entries is kept', async () => {
    const stores = await openStores();
    await fillSegments(stores, 3);
    stores.log.compact(2);
    await stores.log.sync();
    assert.equal((await segmentPaths(dir)).length, 3);
    await stores.close();
  });

  it('a synced reset releases every earlier segment', async () => {
    let stores = await openStores();
    await fillSegments(stores, 3);
    stores.log.resetTo(5, 3);
    await stores.log.sync();
    assert.equal((await segmentPaths(dir)).length, 1);
    await stores.close();
    stores = await openStores();
    assert.deepEqual(logView(stores.log), { first: 6, last: 5, boundaryTerm: 3, entries: [] });
    await stores.close();
  });

  it('recovers from a first segment whose older entries were rewritten and compacted', async () => {
    // Entries 1..n at term 1 across segments, then a new leader overwrites from an
    // index inside an older segment, and compaction passes the overwritten range.
    let stores = await openStores();
    await fillSegments(stores, 3);
    const n = stores.log.lastIndex();
    const from = n - 20;
    stores.log.append(Array.from({ length: 30 }, (_, i) => sized(from + i, 2, 500, 'new')));
    await stores.log.sync();
    stores.log.compact(n);
    stores.stable.setHardState({ term: 2, vote: 1, commit: n });
    await stores.log.sync();
    assert.ok(stores.wal.stats.segmentsDeleted > 0, 'some segments deleted');
    const view = logView(stores.log);
    await stores.close();
    stores = await openStores();
    assert.deepEqual(logView(stores.log), view);
    assert.equal(stores.log.term(n), 2);
    assert.deepEqual(stores.stable.hardState(), { term: 2, vote: 1, commit: n });
    await stores.close();
  });
});

/** One random operation on both the disk stores and the in-memory model. */
function randomOperation(
  random: SeededRandom,
  stores: WalStores,
  log: MemoryLogStore,
  stable: MemoryStableStore,
  term: { value: number },
): void {
  const choice = random.int(100);
  if (choice < 55) {
    const first = log.firstIndex();
    const start = first + random.int(log.lastIndex() - first + 2);
    if (random.int(4) === 0) term.value++;
    const entries = Array.from({ length: 1 + random.int(6) }, (_, i) =>
      sized(start + i, term.value, random.int(900)),
    );
    stores.log.append(entries);
    log.append(entries);
  } else if (choice < 70) {
    const index = log.firstIndex() - 1 + random.int(log.lastIndex() - log.firstIndex() + 2);
    stores.log.compact(index);
    log.compact(index);
  } else if (choice < 73) {
    const index = Math.max(0, log.lastIndex() - 10 + random.int(30));
    term.value++;
    stores.log.resetTo(index, term.value);
    log.resetTo(index, term.value);
  } else {
    const hardState = { term: term.value, vote: random.int(4), commit: random.int(log.lastIndex() + 1) };
    stores.stable.setHardState(hardState);
    stable.setHardState(hardState);
  }
}

describe('WAL against the in-memory stores, seeded', () => {
  // TESSERA_WAL_SEEDS=500 runs seeds 1..500 (a soak); the default six run in CI.
  const seeds = Number(process.env['TESSERA_WAL_SEEDS'] ?? 6);
  for (let seed = 1; seed <= seeds; seed++) {
    it(`seed=${seed}: random writes, syncs, crashes and reopens agree with the model`, async () => {
      const random = new SeededRandom(seed);
      const log = new MemoryLogStore();
      const stable = new MemoryStableStore();
      const term = { value: 1 };
      let stores = await openStores();
      for (let step = 0; step < 400; step++) {
        randomOperation(random, stores, log, stable, term);
        const roll = random.int(100);
        if (roll < 30) {
          await Promise.all([stores.log.sync(), log.sync(), stable.sync()]);
        } else if (roll < 34) {
          await stores.abandon();
          log.crash();
          stable.crash();
          stores = await openStores();
        } else if (roll < 36) {
          await stores.close();
          await Promise.all([log.sync(), stable.sync()]);
          stores = await openStores();
        }
        assert.deepEqual(logView(stores.log), logView(log), `seed=${seed} step=${step}: log`);
        assert.deepEqual(
          stores.stable.hardState(),
          stable.hardState(),
          `seed=${seed} step=${step}: hard state`,
        );
      }
      const newest = (await segmentPaths(dir)).at(-1) as string;
      const sequence = Number.parseInt(/wal-([0-9a-f]{16})-/.exec(newest)?.[1] as string, 16);
      assert.ok(sequence >= 3, `the run crossed segments: the newest is ${newest}`);
      await stores.close();
    });
  }
});
