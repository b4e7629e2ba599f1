import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../base/errors.ts';
import { SeededRandom } from '../base/random.ts';
import { SnapshotAssembler, snapshotRef } from './memory-storage.ts';
import { MemoryLogStore, MemorySnapshotStore, MemoryStableStore } from './memory-stores.ts';
import { RawNode } from './raw-node.ts';
import { testSnapshot } from './snapshot-store-conformance.ts';
import { logView, testEntries, testEntry } from './store-conformance.ts';
import { bootstrapStores, storageFromStores } from './stores.ts';
import { type Entry, EntryType, type Ready } from './types.ts';

function memoryStores() {
  return { log: new MemoryLogStore(), stable: new MemoryStableStore(), snapshots: new MemorySnapshotStore() };
}

type MemoryStores = ReturnType<typeof memoryStores>;

function crashAll(stores: MemoryStores): void {
  stores.log.crash();
  stores.stable.crash();
  stores.snapshots.crash();
}

describe('storageFromStores', () => {
  it('reads an empty set of stores as a member with no log, no snapshot and no membership', () => {
    const storage = storageFromStores(memoryStores());
    assert.deepEqual(storage.initialState(), {
      hardState: { term: 0, vote: 0, commit: 0 },
      confState: { voters: [], learners: [] },
    });
    assert.deepEqual(storage.snapshot().metadata, {
      index: 0,
      term: 0,
      confState: { voters: [], learners: [] },
    });
    assert.equal(storage.firstIndex(), 1);
    assert.equal(storage.lastIndex(), 0);
    assert.equal(storage.term(0), 0);
  });

  it('reads the log, hard state and latest snapshot through the stores', async () => {
    const stores = memoryStores();
    await stores.snapshots.save(testSnapshot(3));
    stores.log.resetTo(3, 103);
    stores.log.append(testEntries(4, 6, 103));
    stores.stable.setHardState({ term: 103, vote: 2, commit: 5 });
    const storage = storageFromStores(stores);
    assert.deepEqual(storage.initialState(), {
      hardState: { term: 103, vote: 2, commit: 5 },
      confState: testSnapshot(3).metadata.confState,
    });
    assert.deepEqual(storage.entries(4, 7, 0), [testEntry(4, 103)]);
    assert.equal(storage.term(6), 103);
    assert.deepEqual(storage.snapshot(), snapshotRef(testSnapshot(3)));
    stores.log.append([testEntry(7, 104)]);
    assert.equal(storage.lastIndex(), 7, 'later writes are seen at once');
  });

  it('on opening, resets a log that does not reach the snapshot (a crash after saving it)', async () => {
    const stores = memoryStores();
    stores.log.append(testEntries(1, 5, 1));
    await stores.snapshots.save(testSnapshot(8));
    const storage = storageFromStores(stores);
    assert.deepEqual(logView(stores.log), { first: 9, last: 8, boundaryTerm: 108, entries: [] });
    assert.equal(storage.initialState().hardState.commit, 8, 'the snapshot is committed');
  });

  it('on opening, resets a log that disagrees with the snapshot at its index', async () => {
    const stores = memoryStores();
    stores.log.append(testEntries(1, 10, 1));
    await stores.snapshots.save(testSnapshot(8));
    storageFromStores(stores);
    assert.deepEqual(logView(stores.log), { first: 9, last: 8, boundaryTerm: 108, entries: [] });
  });

  it('on opening, compacts the entries a matching snapshot covers and keeps the rest', async () => {
    const stores = memoryStores();
    stores.log.append([...testEntries(1, 8, 108), ...testEntries(9, 10, 109)]);
    stores.stable.setHardState({ term: 109, vote: 1, commit: 12 });
    await stores.snapshots.save(testSnapshot(8));
    const storage = storageFromStores(stores);
    assert.deepEqual(logView(stores.log), {
      first: 9,
      last: 10,
      boundaryTerm: 108,
      entries: testEntries(9, 10, 109),
    });
    assert.equal(
      storage.initialState().hardState.commit,
      10,
      'a commit past the log reads as the last index',
    );
  });

  it('refuses a log compacted past the latest snapshot (corrupt storage)', async () => {
    const stores = memoryStores();
    stores.log.append(testEntries(1, 10, 1));
    stores.log.compact(9);
    await stores.snapshots.save(testSnapshot(5));
    assert.throws(() => storageFromStores(stores), /corrupt/);
  });
});

describe('bootstrapStores', () => {
  it('writes the bootstrap log and hard state durably', async () => {
    const stores = memoryStores();
    await bootstrapStores(stores, { voters: [1, 2], learners: [3] });
    crashAll(stores);
    assert.equal(stores.log.lastIndex(), 3);
    assert.deepEqual(stores.stable.hardState(), { term: 1, vote: 0, commit: 3 });
  });

  it('refuses stores that already hold a log', async () => {
    const stores = memoryStores();
    await bootstrapStores(stores, { voters: [1], learners: [] });
    await assert.rejects(bootstrapStores(stores, { voters: [1], learners: [] }), InvalidArgumentError);
  });
});

/** Carries out every Ready against the stores, syncing each, and returns the data entries applied. */
async function drive(node: RawNode, stores: MemoryStores, sync = true): Promise<string[]> {
  const applied: string[] = [];
  const receiving = new SnapshotAssembler();
  for (let round = 0; round < 100 && node.hasReady(); round++) {
    const ready: Ready = node.ready();
    receiving.write(ready.snapshotChunks);
    if (ready.snapshot !== undefined) {
      await stores.snapshots.save(receiving.take(ready.snapshot));
      stores.log.resetTo(ready.snapshot.metadata.index, ready.snapshot.metadata.term);
    }
    stores.log.append(ready.entries);
    if (ready.hardState !== undefined) stores.stable.setHardState(ready.hardState);
    if (sync) await Promise.all([stores.log.sync(), stores.stable.sync()]);
    const texts = ready.committedEntries.filter(
      (entry: Entry) => entry.type === EntryType.normal && entry.data.length > 0,
    );
    applied.push(...texts.map((entry) => new TextDecoder().decode(entry.data)));
    node.advance();
  }
  return applied;
}

describe('the Raft core on the storage seams', () => {
  it('a single-member cluster commits, and after a crash restarts from what was synced', async () => {
    const stores = memoryStores();
    await bootstrapStores(stores, { voters: [1], learners: [] });
    const node = new RawNode({ id: 1, storage: storageFromStores(stores), random: new SeededRandom(1) });
    await drive(node, stores);
    node.campaign();
    await drive(node, stores);
    assert.equal(node.raft.role, 'leader');
    node.propose(new TextEncoder().encode('a'));
    assert.deepEqual(await drive(node, stores), ['a']);
    const durable = { term: node.raft.term, last: node.raft.log.lastIndex() };

    node.propose(new TextEncoder().encode('lost'));
    await drive(node, stores, false);
    crashAll(stores);

    const restarted = new RawNode({ id: 1, storage: storageFromStores(stores), random: new SeededRandom(2) });
    assert.equal(restarted.raft.term, durable.term);
    assert.equal(restarted.raft.log.lastIndex(), durable.last, 'the unsynced proposal is gone');
    assert.deepEqual(await drive(restarted, stores), ['a'], 'the synced one is applied again');
  });
});
