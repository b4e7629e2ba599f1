/**
 * The MVCC store on LMDB: the same reference-model suite the in-memory
 * store passes, then what only a disk store has (reopening, large keys,
 * snapshots reading one transaction while writes go on).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { open, type RootDatabase } from 'lmdb';
import { KEY_BYTES_MAX } from '../kv/limits.ts';
import { checkAgainstModel } from '../kv/mvcc-model.suite.ts';
import { MvccStore } from '../kv/mvcc-store.ts';
import { CorruptionError } from './errors.ts';
import { HISTORY_VERSION_BYTES, LMDB_PAGE_SIZE, LmdbKvBackend, revisionKey } from './lmdb-kv-backend.ts';
import { removeDirectory, temporaryDirectory } from './test-stores.ts';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : new TextDecoder().decode(value);

let dir: string;
let root: RootDatabase;

function openRoot(): RootDatabase {
  return open({ path: dir, compression: false, pageSize: LMDB_PAGE_SIZE });
}

beforeEach(async () => {
  dir = await temporaryDirectory();
  root = openRoot();
});
afterEach(async () => {
  await root.close();
  await removeDirectory(dir);
});

describe('MvccStore on LMDB', () => {
  it('answers every read, write and error as the reference model does', () => {
    const pair = [new LmdbKvBackend(root, 'a'), new LmdbKvBackend(root, 'b')];
    let current = 0;
    checkAgainstModel(
      {
        create: (options) => {
          current = 0;
          return root.transactionSync(() => {
            for (const backend of pair) backend.clear();
            return MvccStore.open(pair[0] as LmdbKvBackend, options);
          });
        },
        write: (run) => root.transactionSync(run),
        restoreTarget: () => {
          current = 1 - current;
          const backend = pair[current] as LmdbKvBackend;
          backend.clear();
          return { backend };
        },
      },
      200,
    );
  });

  it('reopens as it was: revision, keys, history, leases and a compaction under way', async () => {
    const store = root.transactionSync(() => MvccStore.open(new LmdbKvBackend(root)));
    root.transactionSync(() => {
      store.leaseGrant({ id: 7, ttl: 30 });
      store.put({ key: bytes('a'), value: bytes('1') });
      store.put({ key: bytes('a'), value: bytes('2') });
      store.put({ key: bytes('b'), value: bytes('x'), lease: 7 });
      store.put({ key: bytes('c'), value: bytes('y') });
      store.leaseCheckpoint({ checkpoints: [{ id: 7, remainingTtl: 12 }] });
      store.compact({ revision: 3 });
      store.compactStep(1);
    });
    assert.equal(store.compactionPending, true);
    await root.close();
    root = openRoot();
    const reopened = MvccStore.open(new LmdbKvBackend(root));
    assert.equal(reopened.revision, 5);
    assert.equal(reopened.compactRevision, 3);
    assert.equal(reopened.compactionPending, true);
    assert.equal(text(reopened.range({ key: bytes('a') }).kvs[0]?.value), '2');
    assert.equal(text(reopened.range({ key: bytes('a'), revision: 3 }).kvs[0]?.value), '2');
    assert.deepEqual(reopened.leaseTimeToLive(7), {
      id: 7,
      grantedTtl: 30,
      remainingTtl: 12,
      keys: [bytes('b')],
    });
    reopened.checkInvariants();
    root.transactionSync(() => {
      while (!reopened.compactStep(1));
      reopened.leaseRevoke({ id: 7 });
    });
    assert.equal(reopened.range({ key: bytes('b') }).kvs.length, 0);
    assert.deepEqual(reopened.leaseList(), []);
    reopened.checkInvariants();
  });

  it('hands out values that later reads leave alone (they are read through a reused buffer, then copied)', () => {
    const store = root.transactionSync(() => MvccStore.open(new LmdbKvBackend(root)));
    const long = 'x'.repeat(600);
    root.transactionSync(() => {
      store.put({ key: bytes('a'), value: bytes(`first ${long}`) });
      store.put({ key: bytes('b'), value: bytes('second') });
    });
    const reopened = MvccStore.open(new LmdbKvBackend(root));
    const a = reopened.range({ key: bytes('a') }).kvs[0]?.value;
    const b = reopened.range({ key: bytes('b') }).kvs[0]?.value;
    const events = root.transactionSync(
      () => reopened.put({ key: bytes('b'), value: bytes('third') }).events,
    );
    assert.equal(text(a), `first ${long}`);
    assert.equal(text(b), 'second');
    assert.equal(text(events[0]?.prevKv?.value), 'second');
    assert.equal(text(reopened.range({ key: bytes('b') }).kvs[0]?.value), 'third');
  });

  it('refuses a version whose log record is missing or cut short with a CorruptionError', () => {
    const store = root.transactionSync(() => MvccStore.open(new LmdbKvBackend(root)));
    root.transactionSync(() => {
      store.put({ key: bytes('gone'), value: bytes('v') });
      store.put({ key: bytes('short'), value: bytes('v') });
    });
    const log = root.openDB<Buffer, Buffer>({ name: 'kv.log', keyEncoding: 'binary', encoding: 'binary' });
    root.transactionSync(() => {
      log.removeSync(revisionKey(2, 0));
      log.putSync(revisionKey(3, 0), Buffer.alloc(10));
    });
    const reopened = MvccStore.open(new LmdbKvBackend(root));
    assert.throws(
      () => reopened.range({ key: bytes('gone') }).kvs[0]?.value,
      (error) =>
        error instanceof CorruptionError && /2\.0 of a key is missing from the log/.test(error.message),
    );
    assert.throws(
      () => reopened.range({ key: bytes('short') }).kvs[0]?.value,
      (error) => error instanceof CorruptionError && /3\.0 is 10 bytes/.test(error.message),
    );
  });

  it('takes keys up to KEY_BYTES_MAX, with a lease', () => {
    const store = root.transactionSync(() => MvccStore.open(new LmdbKvBackend(root)));
    const key = new Uint8Array(KEY_BYTES_MAX).fill(0x61);
    root.transactionSync(() => {
      store.leaseGrant({ id: 1, ttl: 10 });
      store.put({ key, value: bytes('v'), lease: 1 });
    });
    assert.equal(store.range({ key }).kvs[0]?.key.length, KEY_BYTES_MAX);
    store.checkInvariants();
  });

  it('names every table it keeps in tableNames (what a restore from an LMDB copy carries over)', () => {
    const store = root.transactionSync(() => MvccStore.open(new LmdbKvBackend(root)));
    root.transactionSync(() => {
      store.leaseGrant({ id: 1, ttl: 10 });
      store.put({ key: bytes('a'), value: bytes('1'), lease: 1 });
      store.put({ key: bytes('a'), value: bytes('2') });
    });
    // The environment's unnamed database lists its named ones.
    assert.deepEqual([...root.getKeys()].sort(), [...LmdbKvBackend.tableNames()].sort());
    assert.deepEqual(LmdbKvBackend.tableNames('x'), [
      'x.index',
      'x.history',
      'x.log',
      'x.leases',
      'x.leaseKeys',
      'x.meta',
    ]);
  });

  it('writes a snapshot of the state when it began, while writes go on', () => {
    const store = root.transactionSync(() => MvccStore.open(new LmdbKvBackend(root)));
    root.transactionSync(() => {
      for (let i = 0; i < 50; i++) store.put({ key: bytes(`k${i}`), value: bytes(`v${i}`) });
    });
    const records = store.snapshot(64);
    const first = records.next();
    root.transactionSync(() => {
      store.deleteRange({ key: bytes('k'), rangeEnd: bytes('l') });
      store.put({ key: bytes('z'), value: bytes('late') });
    });
    const image = [first.value as Uint8Array, ...records];
    const copy = root.transactionSync(() => {
      const restore = MvccStore.restore({}, { backend: new LmdbKvBackend(root, 'copy') });
      for (const record of image) restore.push(record);
      return restore.finish();
    });
    assert.equal(copy.revision, 51);
    assert.equal(copy.range({ key: bytes('k'), rangeEnd: bytes('l'), countOnly: true }).count, 50);
    assert.equal(copy.range({ key: bytes('z') }).kvs.length, 0);
    copy.checkInvariants();
  });

  it('keeps a hot key to one index version and one history row per older version, through compaction', () => {
    const store = root.transactionSync(() => MvccStore.open(new LmdbKvBackend(root)));
    const binary = { keyEncoding: 'binary', encoding: 'binary' } as const;
    const index = root.openDB<Buffer, Buffer>({ name: 'kv.index', ...binary });
    const history = root.openDB<Buffer, Buffer>({ name: 'kv.history', ...binary });
    const key = bytes('hot');
    root.transactionSync(() => {
      for (let i = 1; i <= 300; i++) store.put({ key, value: bytes(`v${i}`) });
      store.put({ key: bytes('ho'), value: bytes('neighbour') });
    });
    // A put writes the newest version and moves the one before it to a row: the index value never grows.
    assert.equal(index.getBinary(Buffer.from(key))?.length, HISTORY_VERSION_BYTES);
    assert.equal(history.getCount(), 299);
    // The i-th put made revision i + 1 (a new store is at revision 1).
    for (const revision of [2, 3, 151, 300, 301, 302]) {
      const expected = revision === 302 ? 'v300' : `v${revision - 1}`;
      assert.equal(text(store.range({ key, revision }).kvs[0]?.value), expected, `at ${revision}`);
    }
    assert.equal(store.range({ key, revision: 1 }).kvs.length, 0);
    root.transactionSync(() => {
      store.compact({ revision: 151 });
      while (!store.compactStep(1));
    });
    // Kept: every version after 151, and 151 itself (what a read at 151 sees).
    assert.equal(history.getCount(), 150);
    assert.equal(text(store.range({ key, revision: 151 }).kvs[0]?.value), 'v150');
    assert.equal(store.range({ key, revision: 301 }).kvs[0]?.version, 300);
    store.checkInvariants();
    root.transactionSync(() => {
      store.deleteRange({ key });
      store.compact({ revision: store.revision });
      while (!store.compactStep(1));
    });
    assert.equal(index.getBinary(Buffer.from(key)), undefined);
    assert.equal(history.getCount(), 0);
    assert.equal(text(store.range({ key: bytes('ho') }).kvs[0]?.value), 'neighbour');
    store.checkInvariants();
  });

  it('compacts a key by rows: the versions it keeps are not read', () => {
    const store = root.transactionSync(() => MvccStore.open(new LmdbKvBackend(root)));
    const binary = { keyEncoding: 'binary', encoding: 'binary' } as const;
    const history = root.openDB<Buffer, Buffer>({ name: 'kv.history', ...binary });
    const key = bytes('hot');
    root.transactionSync(() => {
      for (let i = 1; i <= 100; i++) store.put({ key, value: bytes(`v${i}`) });
    });
    // Revisions 2..101: the newest in the index, 99 rows. Spoil a row the compaction keeps.
    const [spoiled] = [...history.getRange({ reverse: true, offset: 10, limit: 1 })];
    assert.ok(spoiled !== undefined);
    const good = Buffer.from(spoiled.value);
    root.transactionSync(() => history.putSync(spoiled.key, Buffer.from('spoilt')));
    root.transactionSync(() => {
      store.compact({ revision: 50 });
      while (!store.compactStep(10));
    });
    // Kept: revisions 51..100 and 50 (what a read at 50 sees) as rows; 2..49 freed.
    assert.equal(history.getCount(), 51);
    root.transactionSync(() => history.putSync(spoiled.key, good));
    assert.equal(text(store.range({ key, revision: 50 }).kvs[0]?.value), 'v49');
    store.checkInvariants();
  });

  it('upgrades a store whose index values hold whole histories (state format 2) to history rows', () => {
    const backend = new LmdbKvBackend(root);
    const store = root.transactionSync(() => MvccStore.open(backend));
    root.transactionSync(() => {
      for (let i = 1; i <= 3; i++) store.put({ key: bytes('a'), value: bytes(`a${i}`) });
      store.put({ key: bytes('b'), value: bytes('b1') });
    });
    const binary = { keyEncoding: 'binary', encoding: 'binary' } as const;
    const index = root.openDB<Buffer, Buffer>({ name: 'kv.index', ...binary });
    const history = root.openDB<Buffer, Buffer>({ name: 'kv.history', ...binary });
    // Written as format 2 wrote it: a's three versions, newest first, in its index value.
    const rows = [...history.getRange({ reverse: true })].map(({ value }) => Buffer.from(value));
    assert.equal(rows.length, 2);
    root.transactionSync(() => {
      index.putSync(Buffer.from('a'), Buffer.concat([index.getBinary(Buffer.from('a')) as Buffer, ...rows]));
      history.clearSync();
    });
    assert.equal(
      root.transactionSync(() => backend.upgradeHistories()),
      1,
    );
    assert.equal(index.getBinary(Buffer.from('a'))?.length, HISTORY_VERSION_BYTES);
    assert.equal(history.getCount(), 2);
    const reopened = MvccStore.open(new LmdbKvBackend(root));
    for (let revision = 2; revision <= 4; revision++) {
      assert.equal(text(reopened.range({ key: bytes('a'), revision }).kvs[0]?.value), `a${revision - 1}`);
    }
    assert.equal(text(reopened.range({ key: bytes('b') }).kvs[0]?.value), 'b1');
    reopened.checkInvariants();
  });
});
