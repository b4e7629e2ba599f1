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
import { open } from 'lmdb';
import { InvalidArgumentError, NoSpaceError, UnavailableError } from '../base/errors.ts';
import { MemorySnapshotStore } from '../raft/memory-stores.ts';
import { type Entry, EntryType, type SnapshotRef } from '../raft/types.ts';
import { CorruptionError } from '../storage/errors.ts';
import { LMDB_PAGE_SIZE } from '../storage/lmdb-kv-backend.ts';
import {
  encodeKvEntry,
  encodePublish,
  type KvApplied,
  kvEntryType,
  LmdbState,
  STATE_FORMAT,
  STATE_FORMAT_UPGRADABLE,
} from './state.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A key's value as a string, undefined when absent. */
function get(state: LmdbState, key: string): string | undefined {
  const found = state.range({ key: encoder.encode(key) }).kvs[0];
  return found === undefined ? undefined : decoder.decode(found.value);
}

/** How many keys the state holds. */
function size(state: LmdbState): number {
  return state.range({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0), countOnly: true }).count;
}

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
    data: encodeKvEntry({
      clientId: 1,
      requestId: first + i,
      command: {
        type: 'put',
        request: {
          key: encoder.encode(`key-${String(i).padStart(5, '0')}`),
          value: encoder.encode(`${i}:`.padEnd(valueBytes, 'v')),
        },
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

describe('LmdbState', () => {
  it('applies KV entries with their results; a refused command answers its error and changes nothing', async () => {
    const { state, dir } = openState();
    const entry = (index: number, command: Parameters<typeof encodeKvEntry>[0]['command']): Entry => ({
      term: 1,
      index,
      type: EntryType.normal,
      data: encodeKvEntry({ clientId: 7, requestId: index, command }),
    });
    const results = await state.apply([
      entry(1, { type: 'put', request: { key: encoder.encode('a'), value: encoder.encode('1') } }),
      entry(2, { type: 'put', request: { key: encoder.encode('b'), value: encoder.encode('2'), lease: 99 } }),
      entry(3, { type: 'deleteRange', request: { key: encoder.encode('a'), prevKv: true } }),
    ]);
    assert.deepEqual(results[0]?.outcome, { response: { revision: 2 } });
    assert.equal(results[1]?.outcome.error?.code, 'INVALID_ARGUMENT', 'lease 99 does not exist');
    const deleted = ((results[2] as KvApplied).outcome as { response: unknown }).response as {
      revision: number;
      deleted: number;
      prevKvs: { value: Uint8Array }[];
    };
    assert.equal(deleted.revision, 3);
    assert.equal(deleted.deleted, 1);
    assert.equal(decoder.decode(deleted.prevKvs[0]?.value), '1');
    assert.equal(results[2]?.events[0]?.type, 'delete');
    assert.equal(state.revision, 3, 'the refused put took no revision');
    assert.equal(get(state, 'b'), undefined);
    assert.equal(state.applied, 3);
    await state.close();
    const reopened = LmdbState.open(dir);
    assert.equal(reopened.revision, 3);
    assert.equal(reopened.applied, 3);
    assert.equal(get(reopened, 'a'), undefined);
    await reopened.close();
  });

  it('refuses to write, changing nothing, while its disk has less free space than it needs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-state-'));
    dirs.push(dir);
    const roomy = LmdbState.open(dir);
    await roomy.apply(puts(1, 5, 10));
    await roomy.close();
    // No file system has this much free: every write transaction must be refused, and a new state
    // (whose format is written when opened) is not opened at all.
    assert.throws(
      () => LmdbState.open(join(dir, 'new'), { freeBytesMin: Number.MAX_SAFE_INTEGER }),
      (error) => error instanceof NoSpaceError && /^Cannot open the state: /.test(error.message),
    );
    const full = LmdbState.open(dir, { freeBytesMin: Number.MAX_SAFE_INTEGER });
    await assert.rejects(
      full.apply(puts(6, 5, 10)),
      (error) =>
        error instanceof NoSpaceError &&
        error.code === 'NO_SPACE' &&
        /apply entries 6 to 10: the state's file system has \d+ bytes free/.test(error.message),
    );
    assert.equal(full.applied, 5);
    assert.equal(size(full), 5);
    const { snapshots, ref, source } = await snapshotted(50, 10);
    await assert.rejects(full.restore(snapshots, ref), NoSpaceError);
    assert.equal(full.restoring, undefined, 'a refused restore never began');
    assert.equal(full.applied, 5);
    await full.close();
    await source.close();
    const reopened = LmdbState.open(dir);
    assert.equal(reopened.applied, 5);
    await reopened.apply(puts(6, 5, 10));
    assert.equal(reopened.applied, 10);
    await reopened.close();
  });

  it('takes a free-space floor of 0 (no check) and refuses a floor that is not a non-negative integer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-state-'));
    dirs.push(dir);
    for (const freeBytesMin of [-1, 1.5, Number.NaN]) {
      assert.throws(() => LmdbState.open(dir, { freeBytesMin }), InvalidArgumentError);
    }
    const unchecked = LmdbState.open(dir, { freeBytesMin: 0 });
    await unchecked.apply(puts(1, 5, 10));
    assert.equal(unchecked.applied, 5);
    await unchecked.close();
  });
});

describe('kvEntryType', () => {
  it("reads a KV entry's command type without checking the command; undefined for anything else", () => {
    const entry = (command: Parameters<typeof encodeKvEntry>[0]['command']) =>
      encodeKvEntry({ clientId: 1, requestId: 2, command });
    assert.equal(
      kvEntryType(entry({ type: 'put', request: { key: encoder.encode('k'), value: encoder.encode('v') } })),
      'put',
    );
    assert.equal(kvEntryType(entry({ type: 'leaseKeepAlive', request: { id: 5 } })), 'leaseKeepAlive');
    assert.equal(kvEntryType(new Uint8Array(0)), undefined, 'an empty entry');
    assert.equal(kvEntryType(encodePublish(1, { name: 'm1', peer: 'p', client: 'c', http: 'h' })), undefined);
    assert.equal(kvEntryType(Uint8Array.of(0x03, 0xc1)), undefined, 'not MessagePack after the tag');
    assert.equal(kvEntryType(Uint8Array.of(0x03, 0x93, 1, 2, 3)), undefined, 'a command that is not bytes');
  });
});

describe('LmdbState snapshots', () => {
  it('restores a state from its image read in small chunks cut anywhere', async () => {
    const { source, snapshots, ref } = await snapshotted(3000, 600);
    assert.equal(ref.metadata.index, 3000);
    assert.ok(ref.totalBytes > 1024 * 1024, `image of ${ref.totalBytes} bytes spans several records`);
    const { state, dir } = openState();
    await state.apply(puts(1, 10, 5)); // data the restore must replace
    await state.restore(snapshots, ref, 7777);
    assert.equal(state.applied, 3000);
    assert.equal(size(state), 3000);
    assert.equal(state.restoring, undefined);
    for (const i of [0, 1, 1499, 2999]) {
      const key = `key-${String(i).padStart(5, '0')}`;
      assert.equal(get(state, key), get(source, key), key);
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
            get(state, 'key-00000');
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
    assert.throws(() => get(reopened, 'key-00000'), UnavailableError);
    await reopened.restore(snapshots, ref);
    assert.equal(reopened.restoring, undefined);
    assert.equal(reopened.applied, 500);
    assert.equal(size(reopened), 500);
    assert.equal(get(reopened, 'key-00499'), get(source, 'key-00499'));
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

  it('opens a directory in the format before history rows, upgrading it; refuses an unknown format', async () => {
    const { state, dir } = openState();
    const rewrite = (value: string, index: number): Entry => ({
      ...(puts(index, 1, 8)[0] as Entry),
      data: encodeKvEntry({
        clientId: 1,
        requestId: index,
        command: { type: 'put', request: { key: encoder.encode('k'), value: encoder.encode(value) } },
      }),
    });
    await state.apply([rewrite('one', 1), rewrite('two', 2), rewrite('three', 3)]);
    await state.close();
    // Back to format 2: the key's whole history, newest first, in its index value.
    const raw = open({ path: dir, compression: false, pageSize: LMDB_PAGE_SIZE });
    const binary = { keyEncoding: 'binary', encoding: 'binary' } as const;
    const index = raw.openDB<Buffer, Buffer>({ name: 'kv.index', ...binary });
    const history = raw.openDB<Buffer, Buffer>({ name: 'kv.history', ...binary });
    const meta = raw.openDB<unknown, string>({ name: 'meta' });
    assert.equal(meta.get('format'), STATE_FORMAT);
    raw.transactionSync(() => {
      const rows = [...history.getRange({ reverse: true })].map(({ value }) => Buffer.from(value));
      index.putSync(Buffer.from('k'), Buffer.concat([index.getBinary(Buffer.from('k')) as Buffer, ...rows]));
      history.clearSync();
      meta.putSync('format', STATE_FORMAT_UPGRADABLE);
    });
    await raw.close();
    const { state: upgraded } = openState(dir);
    const at = (revision: number) =>
      decoder.decode(upgraded.range({ key: encoder.encode('k'), revision }).kvs[0]?.value);
    assert.deepEqual([at(2), at(3), at(4)], ['one', 'two', 'three']);
    await upgraded.close();
    const check = open({ path: dir, compression: false, pageSize: LMDB_PAGE_SIZE });
    assert.equal(check.openDB<unknown, string>({ name: 'meta' }).get('format'), STATE_FORMAT);
    check.openDB<unknown, string>({ name: 'meta' }).putSync('format', 99);
    await check.close();
    assert.throws(() => LmdbState.open(dir), CorruptionError);
  });
});
