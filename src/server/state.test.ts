/**
 * LmdbState snapshots: an image streamed into a snapshot store and
 * restored from it a chunk at a time, reads refused while a restore runs,
 * and a restore cut short by a crash found again on reopening.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { open } from 'lmdb';
import { CancelledError, InvalidArgumentError, NoSpaceError, UnavailableError } from '../base/errors.ts';
import { MemorySnapshotStore } from '../raft/memory-stores.ts';
import type { SnapshotSink } from '../raft/stores.ts';
import { type Entry, EntryType, type SnapshotRef } from '../raft/types.ts';
import { DiskSnapshotStore } from '../storage/disk-snapshot-store.ts';
import { CorruptionError } from '../storage/errors.ts';
import { LMDB_PAGE_SIZE } from '../storage/lmdb-kv-backend.ts';
import {
  encodeKvEntry,
  encodePublish,
  isLmdbImage,
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

/**
 * A state with `keys` keys of about `valueBytes` each, snapshotted into a
 * memory store: as an LMDB copy (`snapshotInto`, what members take), or as
 * the store's records (`writeImage`, what snapshots were before).
 */
async function snapshotted(
  keys: number,
  valueBytes: number,
  kind: 'copy' | 'records' = 'copy',
): Promise<{ source: LmdbState; snapshots: MemorySnapshotStore; ref: SnapshotRef }> {
  const { state: source } = openState();
  await source.apply(puts(1, keys, valueBytes));
  const snapshots = new MemorySnapshotStore();
  if (kind === 'copy') {
    await source.snapshotInto(snapshots, () => 1);
  } else {
    let sink: SnapshotSink | undefined;
    let offset = 0;
    await source.writeImage(async ({ applied, confState }) => {
      const opened = snapshots.create({ index: applied, term: 1, confState });
      sink = opened;
      return async (bytes) => {
        await opened.write(offset, bytes);
        offset += bytes.length;
      };
    });
    await sink?.commit();
  }
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
    const taken = new MemorySnapshotStore();
    await assert.rejects(
      full.snapshotInto(taken, () => 1),
      (error) => error instanceof NoSpaceError && /^Cannot take a snapshot: /.test(error.message),
    );
    assert.equal(taken.latest(), undefined);
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
    const taken = new MemorySnapshotStore();
    await unchecked.snapshotInto(taken, () => 1);
    assert.equal(taken.latest()?.metadata.index, 5);
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
  for (const kind of ['copy', 'records'] as const) {
    it(`restores a state from its image (${kind}) read in small chunks cut anywhere`, async () => {
      const { source, snapshots, ref } = await snapshotted(3000, 600, kind);
      assert.equal(ref.metadata.index, 3000);
      assert.ok(ref.totalBytes > 1024 * 1024, `image of ${ref.totalBytes} bytes spans several steps`);
      const head = await snapshots.readChunk(3000, 0, 64);
      assert.equal(isLmdbImage(head), kind === 'copy');
      const { state, dir } = openState();
      await state.apply(puts(1, 10, 5)); // data the restore must replace
      await state.apply(puts(3001, 1, 5)); // one key beyond the image's: the restore must remove it
      await state.restore(snapshots, ref, 7777);
      assert.equal(state.applied, 3000);
      assert.equal(size(state), 3000);
      assert.equal(state.revision, source.revision);
      assert.equal(state.restoring, undefined);
      for (const i of [0, 1, 1499, 2999]) {
        const key = `key-${String(i).padStart(5, '0')}`;
        assert.equal(get(state, key), get(source, key), key);
      }
      await state.close();
      const reopened = LmdbState.open(dir);
      assert.equal(reopened.restoring, undefined, 'a finished restore leaves no mark on disk');
      assert.equal(reopened.applied, 3000);
      assert.equal(reopened.revision, source.revision);
      assert.equal(get(reopened, 'key-02999'), get(source, 'key-02999'));
      await reopened.close();
      await source.close();
    });
  }

  it('restores leases, their keys and the compaction point from a copy', async () => {
    const { state: source } = openState();
    const command = (index: number, c: Parameters<typeof encodeKvEntry>[0]['command']): Entry => ({
      term: 1,
      index,
      type: EntryType.normal,
      data: encodeKvEntry({ clientId: 1, requestId: index, command: c }),
    });
    await source.apply([
      command(1, { type: 'leaseGrant', request: { id: 77, ttl: 30 } }),
      command(2, {
        type: 'put',
        request: { key: encoder.encode('a'), value: encoder.encode('1'), lease: 77 },
      }),
      command(3, {
        type: 'put',
        request: { key: encoder.encode('a'), value: encoder.encode('2'), lease: 77 },
      }),
      command(4, { type: 'put', request: { key: encoder.encode('a'), value: encoder.encode('3') } }),
      command(5, {
        type: 'put',
        request: { key: encoder.encode('b'), value: encoder.encode('4'), lease: 77 },
      }),
      command(6, { type: 'compact', request: { revision: 3 } }),
    ]);
    const snapshots = new MemorySnapshotStore();
    await source.snapshotInto(snapshots, () => 1);
    const ref = snapshots.latest() as SnapshotRef;
    const { state } = openState();
    await state.restore(snapshots, ref);
    assert.deepEqual(state.leaseList(), [77]);
    assert.deepEqual(
      state.leaseTimeToLive(77)?.keys.map((key) => decoder.decode(key)),
      ['b'],
    );
    assert.equal(state.compactRevision, source.compactRevision);
    assert.equal(state.compactRevision, 3);
    const at = (revision: number) =>
      decoder.decode(state.range({ key: encoder.encode('a'), revision }).kvs[0]?.value);
    assert.deepEqual([at(3), at(4)], ['2', '3']);
    await state.close();
    await source.close();
  });

  it('a copy cut short while it is received changes nothing; reads are refused while its tables are copied', async () => {
    const { snapshots, ref, source } = await snapshotted(500, 2000);
    const { state, dir } = openState();
    await state.apply(puts(1, 3, 5));
    let reads = 0;
    const failing = {
      readChunk: async (index: number, offset: number, bytesMax: number) => {
        if (++reads === 3) throw new Error('EIO: the disk went away');
        return snapshots.readChunk(index, offset, bytesMax);
      },
    };
    await assert.rejects(state.restore(failing, ref, 100_000), /EIO/);
    assert.equal(state.restoring, undefined, 'nothing was marked');
    assert.equal(state.applied, 3);
    assert.equal(get(state, 'key-00002'), '2:vvv', 'the old data is still served');

    // Reads between the restore's transactions (it yields after each) are refused.
    const during: unknown[] = [];
    let polling = true;
    const poll = () => {
      try {
        get(state, 'key-00000');
      } catch (error) {
        during.push(error);
      }
      if (polling) setImmediate(poll);
    };
    setImmediate(poll);
    await state.restore(snapshots, ref);
    polling = false;
    assert.ok(during.length > 0, 'reads ran while the tables were copied');
    assert.ok(
      during.every((error) => error instanceof UnavailableError),
      String(during[0]),
    );
    assert.equal(state.applied, 500);
    assert.equal(get(state, 'key-00499'), get(source, 'key-00499'));
    await state.close();
    await source.close();
    assert.deepEqual(readdirSync(dir).sort(), ['data.mdb', 'lock.mdb', 'session.json'], 'no copy is left');
  });

  it('refuses a copy at another index than its snapshot says, changing nothing', async () => {
    const { snapshots, ref, source } = await snapshotted(50, 100);
    const { state } = openState();
    await state.apply(puts(1, 3, 5));
    const wrong = { ...ref, metadata: { ...ref.metadata, index: 51 } };
    const shifted = {
      readChunk: (_index: number, offset: number, bytesMax: number) =>
        snapshots.readChunk(50, offset, bytesMax),
    };
    await assert.rejects(
      state.restore(shifted, wrong),
      (error) => error instanceof CorruptionError && /its state is at index 50/.test(error.message),
    );
    assert.equal(state.restoring, undefined);
    assert.equal(state.applied, 3);
    assert.equal(size(state), 3);
    await state.close();
    await source.close();
  });

  it('hands its copy to a snapshot store on disk whole (adoptFile), and restores from it after reopening', async () => {
    const { state: source, dir } = openState();
    await source.apply(puts(1, 2000, 300));
    const snapDir = join(dir, 'snap');
    let snapshots = await DiskSnapshotStore.open(snapDir);
    snapshots.create = () => {
      throw new Error('the copy must be adopted, not streamed');
    };
    const metadata = await source.snapshotInto(snapshots, () => 4);
    assert.deepEqual(metadata, { index: 2000, term: 4, confState: { voters: [], learners: [] } });
    await snapshots.close();
    snapshots = await DiskSnapshotStore.open(snapDir);
    const ref = snapshots.latest() as SnapshotRef;
    assert.equal(ref.metadata.index, 2000);
    assert.equal(isLmdbImage(await snapshots.readChunk(2000, 0, 64)), true);
    const { state } = openState();
    await state.restore(snapshots, ref);
    assert.equal(size(state), 2000);
    assert.equal(get(state, 'key-01999'), get(source, 'key-01999'));
    assert.ok(!readdirSync(dir).includes('snapshot-copy'), 'no copy is left beside the state');
    await snapshots.close();
    await state.close();
    await source.close();
  });

  it('restores a copy again after reopening when a restore of one was cut short', async () => {
    const { snapshots, ref, source } = await snapshotted(400, 100);
    const { state, dir } = openState();
    await state.apply(puts(1, 3, 5));
    await state.close();
    // What a crash while the tables were copied leaves: the mark, and part of the data.
    const raw = open({ path: dir, compression: false, pageSize: LMDB_PAGE_SIZE });
    raw.transactionSync(() => {
      raw.openDB<unknown, string>({ name: 'meta' }).putSync('restoring', ref.metadata.index);
      raw.openDB({ name: 'kv.index', keyEncoding: 'binary', encoding: 'binary' }).clearSync();
    });
    await raw.close();
    const reopened = LmdbState.open(dir);
    assert.equal(reopened.restoring, 400);
    assert.throws(() => get(reopened, 'key-00000'), UnavailableError);
    await reopened.restore(snapshots, ref);
    assert.equal(reopened.restoring, undefined);
    assert.equal(reopened.applied, 400);
    assert.equal(size(reopened), 400);
    assert.equal(get(reopened, 'key-00399'), get(source, 'key-00399'));
    await reopened.close();
    await source.close();
  });

  it("refuses an LMDB image without the state's tables, changing nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-state-'));
    dirs.push(dir);
    const bare = open({ path: join(dir, 'bare'), compression: false, pageSize: LMDB_PAGE_SIZE });
    const meta = bare.openDB<unknown, string>({ name: 'meta' });
    meta.putSync('format', STATE_FORMAT);
    meta.putSync('applied', 9);
    mkdirSync(join(dir, 'copy'));
    await bare.backup(join(dir, 'copy'), true);
    await bare.close();
    const snapshots = new MemorySnapshotStore();
    const metadata = { index: 9, term: 1, confState: { voters: [1], learners: [] } };
    await snapshots.save({ metadata, data: readFileSync(join(dir, 'copy', 'data.mdb')) });
    const { state } = openState();
    await state.apply(puts(1, 3, 5));
    await assert.rejects(
      state.restore(snapshots, snapshots.latest() as SnapshotRef),
      (error) => error instanceof CorruptionError && /lacks the state's tables/.test(error.message),
    );
    assert.equal(state.restoring, undefined);
    assert.equal(state.applied, 3);
    assert.equal(size(state), 3);
    await state.close();
  });

  it('takes one snapshot at a time, none once closing, and clears a copy a crash left on opening', async () => {
    const { state, dir } = openState();
    await state.apply(puts(1, 20, 5));
    const taken = new MemorySnapshotStore();
    const first = state.snapshotInto(taken, () => 1);
    await assert.rejects(
      state.snapshotInto(taken, () => 1),
      UnavailableError,
    );
    await first;
    const closing = state.close();
    await assert.rejects(
      state.snapshotInto(taken, () => 1),
      CancelledError,
    );
    await closing;
    for (const leftover of ['snapshot-copy', 'restore-copy']) {
      mkdirSync(join(dir, leftover));
      writeFileSync(join(dir, leftover, 'data.mdb'), 'left by a crash');
    }
    const reopened = LmdbState.open(dir);
    assert.deepEqual(readdirSync(dir).sort(), ['data.mdb', 'lock.mdb', 'session.json']);
    await reopened.close();
  });

  it('takes the store records instead of a copy larger than the snapshot store accepts', async () => {
    const { state: source } = openState();
    await source.apply(puts(1, 50, 100));
    const snapshots = new MemorySnapshotStore({ snapshotBytesMax: 20_000 });
    await source.snapshotInto(snapshots, () => 1);
    const ref = snapshots.latest() as SnapshotRef;
    assert.equal(ref.metadata.index, 50);
    assert.ok(ref.totalBytes < 20_000);
    assert.equal(isLmdbImage(await snapshots.readChunk(50, 0, 64)), false, 'the records, not a copy');
    const { state } = openState();
    await state.restore(snapshots, ref);
    assert.equal(size(state), 50);
    assert.equal(get(state, 'key-00049'), get(source, 'key-00049'));
    await state.close();
    await source.close();
  });

  it('does not take a snapshot whose copy caught a restore under way', async () => {
    const { snapshots, ref, source } = await snapshotted(300, 100, 'records');
    const { state } = openState();
    await state.apply(puts(1, 3, 5));
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reads = 0;
    const slow = {
      readChunk: async (index: number, offset: number, bytesMax: number) => {
        if (++reads === 2) await held;
        return snapshots.readChunk(index, offset, bytesMax);
      },
    };
    const restoring = state.restore(slow, ref, 4096);
    while (state.restoring === undefined) await new Promise((resolve) => setImmediate(resolve));
    const taken = new MemorySnapshotStore();
    await assert.rejects(
      state.snapshotInto(taken, () => 1),
      CancelledError,
    );
    assert.equal(taken.latest(), undefined);
    release();
    await restoring;
    await state.snapshotInto(taken, () => 1);
    assert.equal(taken.latest()?.metadata.index, 300);
    await state.close();
    await source.close();
  });

  it('refuses reads while a restore of records runs, and one cut short is restored again after reopening', async () => {
    const { snapshots, ref, source } = await snapshotted(500, 2000, 'records');
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
