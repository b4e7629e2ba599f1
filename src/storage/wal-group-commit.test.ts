/**
 * WAL group commit: appends wait in memory until a sync; one sync writes
 * them with one write and one fdatasync; syncs called while one runs share
 * the next. Counted with the WAL's own counters, not timed.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { LimitExceededError, TooLargeError } from '../base/errors.ts';
import { RecordingLogger } from '../base/logger.ts';
import { logView, testEntries, testEntry } from '../raft/log-store-conformance.ts';
import { removeDirectory, segmentPaths, TEST_WAL_OPTIONS, temporaryDirectory } from './test-stores.ts';
import type { WalOptions } from './wal.ts';
import { WalStores } from './wal-stores.ts';

let dir: string;

beforeEach(async () => {
  dir = await temporaryDirectory();
});
afterEach(() => removeDirectory(dir));

function openStores(options: WalOptions = {}): Promise<WalStores> {
  return WalStores.open(dir, { ...TEST_WAL_OPTIONS, logger: new RecordingLogger(), ...options });
}

/** Simulates a crash (see `walStoreFactory`) and reopens. */
async function crashAndReopen(stores: WalStores): Promise<WalStores> {
  await stores.abandon();
  return openStores();
}

describe('WAL group commit', () => {
  it('append writes nothing to the files before sync', async () => {
    const stores = await openStores();
    const [path] = await segmentPaths(dir);
    const before = await readFile(path as string);
    const writes = stores.wal.stats.writes;
    stores.log.append(testEntries(1, 20, 1));
    stores.stable.setHardState({ term: 1, vote: 1, commit: 0 });
    assert.equal(stores.wal.stats.writes, writes);
    assert.deepEqual(await readFile(path as string), before);
    await stores.log.sync();
    assert.equal(stores.wal.stats.writes, writes + 1);
    assert.notDeepEqual(await readFile(path as string), before);
    await stores.close();
  });

  it('N concurrent appends and syncs cost far fewer than N fdatasyncs, and all are durable', async () => {
    let stores = await openStores();
    const proposers = 200;
    const before = { ...stores.wal.stats };
    await Promise.all(
      Array.from({ length: proposers }, async () => {
        // Synchronous up to the await: each proposer appends the next index.
        stores.log.append([testEntry(stores.log.lastIndex() + 1, 1)]);
        await stores.log.sync();
      }),
    );
    const fdatasyncs = stores.wal.stats.fdatasyncs - before.fdatasyncs;
    // The first sync starts a batch of one; the other 199 share the next.
    assert.equal(fdatasyncs, 2, `${fdatasyncs} fdatasyncs for ${proposers} proposers`);
    assert.equal(stores.wal.stats.syncs - before.syncs, proposers);
    assert.equal(stores.wal.stats.writes - before.writes, 2);
    stores = await crashAndReopen(stores);
    assert.equal(stores.log.lastIndex(), proposers);
    await stores.close();
  });

  it('syncs called while one runs share the one that follows', async () => {
    const stores = await openStores();
    const before = stores.wal.stats.fdatasyncs;
    stores.log.append([testEntry(1, 1)]);
    const first = stores.log.sync();
    stores.log.append([testEntry(2, 1)]);
    const second = stores.log.sync();
    stores.stable.setHardState({ term: 1, vote: 0, commit: 1 });
    const third = stores.stable.sync();
    // Nothing new since the last call: it waits for the batch holding what came before.
    const fourth = stores.log.sync();
    await first;
    assert.equal(stores.wal.durablePosition.last.index, 1);
    await Promise.all([second, third, fourth]);
    assert.equal(stores.wal.stats.fdatasyncs - before, 2);
    assert.equal(stores.wal.durablePosition.last.index, 2);
    assert.deepEqual(stores.wal.durablePosition.hardState, { term: 1, vote: 0, commit: 1 });
    await stores.close();
  });

  it('a sync resolves only once its own data is durable', async () => {
    const stores = await openStores();
    const seen: number[] = [];
    const syncs = [1, 2, 3, 4].map((index) => {
      stores.log.append([testEntry(index, 1)]);
      return stores.log.sync().then(() => {
        seen.push(index);
        assert.ok(
          stores.wal.durablePosition.last.index >= index,
          `entry ${index} durable when its sync resolved`,
        );
      });
    });
    await Promise.all(syncs);
    assert.deepEqual(seen, [1, 2, 3, 4]);
    await stores.close();
  });

  it('log and hard state of one Ready share one fdatasync', async () => {
    const stores = await openStores();
    const before = stores.wal.stats.fdatasyncs;
    stores.log.append(testEntries(1, 3, 1));
    stores.stable.setHardState({ term: 1, vote: 1, commit: 2 });
    await Promise.all([stores.log.sync(), stores.stable.sync()]);
    assert.equal(stores.wal.stats.fdatasyncs - before, 1);
    await stores.close();
  });

  it('append past bufferBytesMax throws LimitExceededError, changing nothing, until a sync', async () => {
    const stores = await openStores({ bufferBytesMax: 5000 });
    const big = (index: number) => ({ ...testEntry(index, 1), data: new Uint8Array(2000) });
    stores.log.append([big(1)]);
    stores.log.append([big(2)]);
    const before = logView(stores.log);
    assert.throws(() => stores.log.append([big(3)]), LimitExceededError);
    assert.deepEqual(logView(stores.log), before);
    await stores.log.sync();
    stores.log.append([big(3)]);
    assert.equal(stores.log.lastIndex(), 3);
    await stores.close();
  });

  it('an entry larger than recordBytesMax is refused with TooLargeError, changing nothing', async () => {
    const stores = await openStores();
    stores.log.append([testEntry(1, 1)]);
    const huge = { ...testEntry(2, 1), data: new Uint8Array(5000) };
    assert.throws(() => stores.log.append([huge]), TooLargeError);
    assert.equal(stores.log.lastIndex(), 1);
    // Many entries that together pass the limit are split into several records instead.
    stores.log.append(
      Array.from({ length: 20 }, (_, i) => ({ ...testEntry(2 + i, 1), data: new Uint8Array(900) })),
    );
    assert.equal(stores.log.lastIndex(), 21);
    await stores.close();
  });

  it('refuses options that do not fit together', async () => {
    await assert.rejects(openStores({ segmentBytes: 4096 }), RangeError);
    await assert.rejects(openStores({ recordBytesMax: 100 }), RangeError);
    await assert.rejects(openStores({ bufferBytesMax: 10 }), RangeError);
  });

  it('refuses writes after close', async () => {
    const stores = await openStores();
    await stores.close();
    assert.throws(() => stores.log.append([testEntry(1, 1)]), /closed/);
    await assert.rejects(stores.log.sync(), /closed/);
  });
});
