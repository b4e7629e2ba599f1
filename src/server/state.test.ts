/**
 * LmdbState snapshots: an image streamed into a snapshot store and
 * restored from it a chunk at a time, reads refused while a restore runs,
 * and a restore cut short by a crash found again on reopening.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { UnavailableError } from '../base/errors.ts';
import { MemorySnapshotStore } from '../raft/memory-stores.ts';
import { type Entry, EntryType, type SnapshotRef } from '../raft/types.ts';
import { encodeRequest } from '../sim/kv-machine.ts';
import { CorruptionError } from '../storage/errors.ts';
import { LmdbState } from './state.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function openState(dir = mkdtempSync(join(tmpdir(), 'tessera-state-'))): { state: LmdbState; dir: string } {
  dirs.push(dir);
  return { state: LmdbState.open(dir), dir };
}

function puts(first: number, count: number, valueBytes: number): Entry[] {
  return Array.from({ length: count }, (_, i) => ({
    term: 1,
    index: first + i,
    type: EntryType.normal,
    data: encodeRequest({
      clientId: 1,
      requestId: first + i,
      command: {
        op: 'put',
        key: `key-${String(i).padStart(5, '0')}`,
        value: `${i}:`.padEnd(valueBytes, 'v'),
      },
    }),
  }));
}

/** A state with `keys` keys of about `valueBytes` each, snapshotted into a memory store. */
async function snapshotted(
  keys: number,
  valueBytes: number,
): Promise<{ source: LmdbState; snapshots: MemorySnapshotStore; ref: SnapshotRef }> {
  const { state: source } = openState();
  await source.apply(puts(1, keys, valueBytes));
  const snapshots = new MemorySnapshotStore();
  await source.snapshotInto(snapshots, () => 1);
  const ref = snapshots.latest();
  assert.ok(ref !== undefined);
  return { source, snapshots, ref };
}

describe('LmdbState snapshots', () => {
  it('restores a state from its image read in small chunks cut anywhere', async () => {
    const { source, snapshots, ref } = await snapshotted(3000, 600);
    assert.equal(ref.metadata.index, 3000);
    assert.ok(ref.totalBytes > 1024 * 1024, `image of ${ref.totalBytes} bytes spans several records`);
    const { state, dir } = openState();
    await state.apply(puts(1, 10, 5)); // data the restore must replace
    await state.restore(snapshots, ref, 7777);
    assert.equal(state.applied, 3000);
    assert.equal(state.size, 3000);
    assert.equal(state.restoring, undefined);
    for (const i of [0, 1, 1499, 2999]) {
      const key = `key-${String(i).padStart(5, '0')}`;
      assert.equal(state.get(key), source.get(key), key);
    }
    await state.close();
    const reopened = LmdbState.open(dir);
    assert.equal(reopened.restoring, undefined, 'a finished restore leaves no mark on disk');
    assert.equal(reopened.applied, 3000);
    await reopened.close();
    await source.close();
  });

  it('refuses reads while a restore runs, and a restore cut short is restored again after reopening', async () => {
    const { snapshots, ref, source } = await snapshotted(500, 2000);
    const { state, dir } = openState();
    await state.apply(puts(1, 3, 5));
    let reads = 0;
    let readDuring: unknown;
    const failing = {
      readChunk: async (index: number, offset: number, bytesMax: number) => {
        if (++reads === 3) {
          try {
            state.get('key-00000');
          } catch (error) {
            readDuring = error;
          }
          throw new Error('EIO: the disk went away');
        }
        return snapshots.readChunk(index, offset, bytesMax);
      },
    };
    await assert.rejects(state.restore(failing, ref, 100_000), /EIO/);
    assert.ok(readDuring instanceof UnavailableError, `a read during the restore: ${String(readDuring)}`);
    await state.close();

    const reopened = LmdbState.open(dir);
    assert.equal(reopened.restoring, ref.metadata.index, 'the cut-short restore is on record');
    assert.equal(reopened.applied, 3, 'the applied index is still the old one');
    assert.throws(() => reopened.get('key-00000'), UnavailableError);
    await reopened.restore(snapshots, ref);
    assert.equal(reopened.restoring, undefined);
    assert.equal(reopened.applied, 500);
    assert.equal(reopened.size, 500);
    assert.equal(reopened.get('key-00499'), source.get('key-00499'));
    await reopened.close();
    await source.close();
  });

  it('refuses an image that does not decode with a CorruptionError', async () => {
    const snapshots = new MemorySnapshotStore();
    const metadata = { index: 9, term: 1, confState: { voters: [1], learners: [] } };
    await snapshots.save({ metadata, data: new Uint8Array([0x81, 0xa1, 0x61]) }); // a map cut short
    const { state } = openState();
    await assert.rejects(state.restore(snapshots, { metadata, totalBytes: 3 }), CorruptionError);
    assert.equal(state.restoring, 9);
    await state.close();
  });
});
