/**
 * Helpers for the storage tests: stores in fresh temporary directories,
 * and a crash that drops a store without syncing.
 *
 * @module
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingLogger } from '../base/logger.ts';
import type { StoreFactory } from '../raft/conformance-harness.ts';
import type { SnapshotStoreFactory } from '../raft/snapshot-store-conformance.ts';
import type { SnapshotStore } from '../raft/stores.ts';
import { DiskSnapshotStore } from './disk-snapshot-store.ts';
import type { WalOptions } from './wal.ts';
import { WalStores } from './wal-stores.ts';

/** A new temporary directory under the OS's. */
export function temporaryDirectory(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'tessera-storage-'));
}

/** Deletes a temporary directory. */
export function removeDirectory(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/** Small segments, so that tests cross segment boundaries, and a quiet logger. */
export const TEST_WAL_OPTIONS: WalOptions = {
  segmentBytes: 16 * 1024,
  recordBytesMax: 4 * 1024,
  logger: new RecordingLogger(),
};

/**
 * Factories of `WalStores`' log or stable store, each in a fresh directory.
 *
 * The crash: `abandon()` closes the files without writing what was
 * appended since the last sync, then the stores are reopened from the
 * files. That models "unsynced writes are lost" honestly only because the
 * WAL itself writes nothing to its files before `sync()` (appends wait in
 * memory; `sync()` writes and fdatasyncs them): the page cache, which
 * survives a process's death, never holds an unsynced record. A WAL that
 * wrote at append time would pass this harness wrongly, so the WAL tests
 * also check that no write happens before sync (`wal.test.ts`).
 */
export function walStoreFactory<S>(
  pick: (stores: WalStores) => S,
  options = TEST_WAL_OPTIONS,
): StoreFactory<S> {
  const owners = new Map<S, { stores: WalStores; dir: string }>();
  const openIn = async (dir: string): Promise<S> => {
    const stores = await WalStores.open(dir, options);
    const store = pick(stores);
    owners.set(store, { stores, dir });
    return store;
  };
  const ownerOf = (store: S) => {
    const owner = owners.get(store);
    if (owner === undefined) throw new Error('Cannot find the WAL of a store this factory did not open');
    owners.delete(store);
    return owner;
  };
  return {
    open: async () => openIn(await temporaryDirectory()),
    async crashAndReopen(store) {
      const { stores, dir } = ownerOf(store);
      await stores.abandon();
      return openIn(dir);
    },
    async close(store) {
      const { stores, dir } = ownerOf(store);
      await stores.close();
      await removeDirectory(dir);
    },
  };
}

/** A factory of `DiskSnapshotStore`s in fresh directories; the crash is `abandon()` and reopening. */
export function diskSnapshotStoreFactory(): SnapshotStoreFactory {
  const dirs = new Map<SnapshotStore, string>();
  const openIn = async (dir: string, snapshotBytesMax: number): Promise<SnapshotStore> => {
    const store = await DiskSnapshotStore.open(dir, { snapshotBytesMax, logger: new RecordingLogger() });
    dirs.set(store, dir);
    return store;
  };
  const dirOf = (store: SnapshotStore): string => {
    const dir = dirs.get(store);
    if (dir === undefined) throw new Error('Cannot find the directory of a store this factory did not open');
    dirs.delete(store);
    return dir;
  };
  return {
    open: async ({ snapshotBytesMax }) => openIn(await temporaryDirectory(), snapshotBytesMax),
    async crashAndReopen(store) {
      const dir = dirOf(store);
      await (store as DiskSnapshotStore).abandon();
      return openIn(dir, store.snapshotBytesMax);
    },
    async close(store) {
      const dir = dirOf(store);
      await (store as DiskSnapshotStore).close();
      await removeDirectory(dir);
    },
  };
}

/** The WAL segment files in `dir`, oldest first, as full paths. */
export async function segmentPaths(dir: string): Promise<string[]> {
  return (await readdir(dir))
    .filter((file) => /^wal-[0-9a-f]{16}-[0-9a-f]{16}\.log$/.test(file))
    .sort()
    .map((file) => join(dir, file));
}
