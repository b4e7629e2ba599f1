/**
 * The storage conformance suite (`src/raft/store-conformance.ts`), the same
 * one the in-memory stores pass, against the disk stores. How a crash is
 * simulated, and why that is honest, is on `walStoreFactory`.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { errorFromWire, InvalidArgumentError } from '../base/errors.ts';
import { RecordingLogger } from '../base/logger.ts';
import {
  logStoreConformance,
  snapshotStoreConformance,
  stableStoreConformance,
} from '../raft/store-conformance.ts';
import { bootstrapStores, storageFromStores } from '../raft/stores.ts';
import { DiskSnapshotStore } from './disk-snapshot-store.ts';
import { CorruptionError } from './errors.ts';
import {
  diskSnapshotStoreFactory,
  removeDirectory,
  TEST_WAL_OPTIONS,
  temporaryDirectory,
  walStoreFactory,
} from './test-stores.ts';
import { WalStores } from './wal-stores.ts';

logStoreConformance(
  'DiskLogStore',
  walStoreFactory((stores) => stores.log),
  { describe, it },
);
stableStoreConformance(
  'DiskStableStore',
  walStoreFactory((stores) => stores.stable),
  { describe, it },
);
snapshotStoreConformance('DiskSnapshotStore', diskSnapshotStoreFactory(), { describe, it });

describe('the disk stores behind storageFromStores', () => {
  it('a bootstrapped member reopens with its log, hard state and membership', async () => {
    const dir = await temporaryDirectory();
    try {
      let stores = await WalStores.open(join(dir, 'wal'), TEST_WAL_OPTIONS);
      await bootstrapStores(stores, { voters: [1, 2, 3], learners: [] });
      await stores.close();
      stores = await WalStores.open(join(dir, 'wal'), TEST_WAL_OPTIONS);
      const snapshots = await DiskSnapshotStore.open(join(dir, 'snap'), { logger: new RecordingLogger() });
      const storage = storageFromStores({ log: stores.log, stable: stores.stable, snapshots });
      assert.equal(storage.lastIndex(), 3);
      assert.equal(storage.initialState().hardState.commit, 3);
      await assert.rejects(bootstrapStores(stores, { voters: [1], learners: [] }), InvalidArgumentError);
      await stores.close();
      await snapshots.close();
    } finally {
      await removeDirectory(dir);
    }
  });
});

describe('CorruptionError', () => {
  it('has code CORRUPT and is rebuilt from the wire as itself', () => {
    const error = errorFromWire('CORRUPT', 'bad', { file: '/x', offset: 3 });
    assert.ok(error instanceof CorruptionError);
    assert.equal(error.code, 'CORRUPT');
    assert.equal(error.file, '/x');
    assert.equal(error.offset, 3);
  });
});
