/**
 * The MVCC store on disk: a `StoreBackend` (`src/kv/store-state.ts`) on
 * LMDB, so a member's data is bounded by its disk, not its RAM, and a
 * restart opens it in milliseconds instead of rebuilding it.
 *
 * etcd keeps its key index in memory and rebuilds it from bbolt on every
 * start; here the index is an LMDB table too, so nothing is rebuilt. The
 * tables, in one LMDB environment the caller opens (with
 * {@link LMDB_PAGE_SIZE}):
 *
 * - `<prefix>.index`: key bytes → the key's newest version,
 *   {@link HISTORY_VERSION_BYTES} bytes (revisions, version, lease,
 *   tombstone; the value left out), what reads at the current revision and
 *   writes need;
 * - `<prefix>.history`: the key's older kept versions, one row each, keyed
 *   by the key's length (2 bytes), the key and the revision (12 bytes), so
 *   a key's rows are contiguous and ordered by revision. A put moves the
 *   newest version here (one row written, whatever the history's length:
 *   a hot key costs the same to write and read after a million puts as
 *   after one); older versions are read one row at a time, only by reads
 *   that walk back (a past revision, a compaction);
 * - `<prefix>.log`: revision `{main, sub}` as 12 big-endian bytes (so LMDB
 *   orders it as numbers) → the version: its fields, key and value. Values
 *   are read from here, lazily, when a read needs them;
 * - `<prefix>.leases`: lease id (8 bytes) → TTL and remaining TTL;
 *   `<prefix>.leaseKeys`: lease id + key bytes → nothing: which keys each
 *   lease holds, so the lease table is loaded on open without a scan of
 *   every key;
 * - `<prefix>.meta`: the store's scalars (revision, compaction state).
 *
 * Every write must run inside the caller's LMDB write transaction
 * (`transactionSync`: the server applies a batch of entries in one), so
 * the applied index the caller records in it always matches the data.
 * Reads outside a write transaction see the last committed one.
 *
 * Hand-written on lmdb rather than using a library: no npm package offers
 * an MVCC key index with etcd's revision semantics over an embedded store.
 *
 * @module
 */
import type { Database, RangeOptions, RootDatabase, Transaction } from 'lmdb';
import type { HistoryNode, KeyRecord } from '../kv/key-history.ts';
import type { LeaseJournal } from '../kv/lease-table.ts';
import type { KeyIndex, LoadedState, RevisionLog, StoreBackend, StoreScalars } from '../kv/store-state.ts';
import { CorruptionError } from './errors.ts';

/**
 * The LMDB page size a KV environment is created with: 8 KiB pages let
 * LMDB take keys up to 4026 bytes (4 KiB pages: 1978), which the key limit
 * (`KEY_BYTES_MAX`) and the lease-keys table's 8-byte prefix fit in.
 */
export const LMDB_PAGE_SIZE = 8192;

/** Bytes of one version in a key's history. */
export const HISTORY_VERSION_BYTES = 37;

/** Most history rows one range read takes (see `StoredNode`). */
const HISTORY_ROWS_PER_READ = 256;

/** Bytes of a version's fields before its key and value in the log. */
const LOG_HEADER_BYTES = 29;

const EMPTY = new Uint8Array(0);
const SCALARS_KEY = 'scalars';

function latin1Bytes(keyId: string): Buffer {
  return Buffer.from(keyId, 'latin1');
}

function keyIdOfBytes(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

/** A plain `Uint8Array` copy (tests compare with deepStrictEqual, which tells a Buffer apart). */
function plainCopy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/** The log key of revision `{main, sub}`: 12 big-endian bytes. */
export function revisionKey(modRevision: number, sub: number): Buffer {
  const key = Buffer.allocUnsafe(12);
  key.writeUInt32BE(Math.floor(modRevision / 0x1_0000_0000), 0);
  key.writeUInt32BE(modRevision >>> 0, 4);
  key.writeUInt32BE(sub, 8);
  return key;
}

function leaseKey(id: number): Buffer {
  const key = Buffer.allocUnsafe(8);
  key.writeUInt32BE(Math.floor(id / 0x1_0000_0000), 0);
  key.writeUInt32BE(id >>> 0, 4);
  return key;
}

function leaseIdOf(key: Buffer): number {
  return key.readUInt32BE(0) * 0x1_0000_0000 + key.readUInt32BE(4);
}

/**
 * A binary value read through the tables' transaction. (lmdb's typings
 * leave out `getBinary`'s options; a write transaction under way is read
 * instead of any other, so a clone must not be read inside one.) `reused`:
 * lmdb's buffer, which the next read overwrites (`getBinaryFast`), for a
 * caller that copies what it keeps at once; else a copy of its own.
 */
function readBinary(
  db: Database<Buffer, Buffer>,
  key: Buffer,
  tables: Tables,
  buffer: 'copied' | 'reused' = 'copied',
): Buffer | undefined {
  const get = (buffer === 'reused' ? db.getBinaryFast : db.getBinary) as (
    key: Buffer,
    options?: { transaction?: Transaction },
  ) => Buffer | undefined;
  return get.call(
    db,
    key,
    tables.transaction === undefined ? undefined : { transaction: tables.transaction },
  );
}

/** Options of a range from `start`, down to the first key when `reverse`. */
function rangeOptions(tables: Tables, start: string | undefined, reverse: boolean): RangeOptions {
  const options: { start?: Buffer; end?: Buffer; reverse?: boolean; transaction?: Transaction } = {};
  if (start !== undefined) options.start = latin1Bytes(start);
  if (reverse) {
    options.reverse = true;
    // Without an end, lmdb's reverse range stops short of the key 0x00 (the smallest a store can hold).
    options.end = Buffer.alloc(0);
  }
  if (tables.transaction !== undefined) options.transaction = tables.transaction;
  return options as RangeOptions;
}

function corrupt(what: string): never {
  throw new CorruptionError(`The KV state on disk is corrupt: ${what}`);
}

/** The scalars as saved (LMDB's MessagePack keeps null, not undefined). */
type SavedScalars = Omit<StoreScalars, 'compactCursor'> & { readonly compactCursor: string | null };

/** The tables and the transaction reads go through (undefined: the current one). */
interface Tables {
  readonly index: Database<Buffer, Buffer>;
  readonly history: Database<Buffer, Buffer>;
  readonly log: Database<Buffer, Buffer>;
  readonly transaction: Transaction | undefined;
}

/** A version read from disk; its value is read from the log when first asked for. */
class DiskRecord implements KeyRecord {
  readonly key: Uint8Array;
  readonly keyId: string;
  readonly modRevision: number;
  readonly sub: number;
  readonly tombstone: boolean;
  readonly createRevision: number;
  readonly version: number;
  readonly lease: number;
  /** Read from a row of the history table (so the row exists: a freed version is never handed out again). */
  readonly isRow: boolean;
  readonly #tables: Tables;
  #value: Uint8Array | undefined;

  constructor(
    tables: Tables,
    key: Uint8Array,
    keyId: string,
    fields: {
      modRevision: number;
      sub: number;
      tombstone: boolean;
      createRevision: number;
      version: number;
      lease: number;
    },
    value?: Uint8Array,
    isRow = false,
  ) {
    this.#tables = tables;
    this.isRow = isRow;
    this.key = key;
    this.keyId = keyId;
    this.modRevision = fields.modRevision;
    this.sub = fields.sub;
    this.tombstone = fields.tombstone;
    this.createRevision = fields.createRevision;
    this.version = fields.version;
    this.lease = fields.lease;
    this.#value = fields.tombstone ? EMPTY : value;
  }

  get value(): Uint8Array {
    this.#value ??= readLogValue(this.#tables, this.modRevision, this.sub);
    return this.#value;
  }
}

/**
 * The value of version `{modRevision, sub}`, read from the log through
 * lmdb's reused read buffer and copied once. (Every put reads its key's
 * previous value, for the event's `prevKv`: a copy of the whole record,
 * then of its key and value, made three allocations of it.)
 */
function readLogValue(tables: Tables, modRevision: number, sub: number): Uint8Array {
  const stored = readBinary(tables.log, revisionKey(modRevision, sub), tables, 'reused');
  if (stored === undefined) corrupt(`version ${modRevision}.${sub} of a key is missing from the log`);
  // lmdb sets the reused buffer's `length` to the value's; its bytes past it are stale, so every bound is explicit.
  const keyLength = logKeyLength(stored, modRevision, sub);
  return plainCopy(stored.subarray(LOG_HEADER_BYTES + keyLength, stored.length));
}

/** One version's fields, {@link HISTORY_VERSION_BYTES} bytes: an index value or a history row. */
function encodeVersion(record: KeyRecord): Buffer {
  const bytes = Buffer.allocUnsafe(HISTORY_VERSION_BYTES);
  bytes.writeDoubleBE(record.modRevision, 0);
  bytes.writeUInt32BE(record.sub, 8);
  bytes.writeDoubleBE(record.createRevision, 12);
  bytes.writeDoubleBE(record.version, 20);
  bytes.writeDoubleBE(record.lease, 28);
  bytes.writeUInt8(record.tombstone ? 1 : 0, 36);
  return bytes;
}

/** The version at byte `at` of `stored` (a whole version, checked by the caller). */
function decodeVersion(
  tables: Tables,
  key: Uint8Array,
  keyId: string,
  stored: Buffer,
  at: number,
  isRow: boolean,
): DiskRecord {
  const fields = {
    modRevision: stored.readDoubleBE(at),
    sub: stored.readUInt32BE(at + 8),
    createRevision: stored.readDoubleBE(at + 12),
    version: stored.readDoubleBE(at + 20),
    lease: stored.readDoubleBE(at + 28),
    tombstone: stored.readUInt8(at + 36) === 1,
  };
  return new DiskRecord(tables, key, keyId, fields, undefined, isRow);
}

/** The start of every history row of a key: its length (2 bytes), then its bytes. */
function rowPrefixOf(key: Uint8Array): Buffer {
  const prefix = Buffer.allocUnsafe(2 + key.length);
  prefix.writeUInt16BE(key.length, 0);
  prefix.set(key, 2);
  return prefix;
}

/** The history row of version `{modRevision, sub}` of the key whose row prefix is `prefix`. */
function rowKeyOf(prefix: Buffer, modRevision: number, sub: number): Buffer {
  const row = Buffer.allocUnsafe(prefix.length + 12);
  prefix.copy(row, 0);
  row.writeUInt32BE(Math.floor(modRevision / 0x1_0000_0000), prefix.length);
  row.writeUInt32BE(modRevision >>> 0, prefix.length + 4);
  row.writeUInt32BE(sub, prefix.length + 8);
  return row;
}

/** The newest version of a key, from its index value. */
function headOf(tables: Tables, keyBytes: Buffer, stored: Buffer): StoredNode {
  if (stored.length !== HISTORY_VERSION_BYTES) corrupt(`a key's newest version is ${stored.length} bytes`);
  const key = plainCopy(keyBytes);
  const record = decodeVersion(tables, key, keyIdOfBytes(key), stored, 0, false);
  return new StoredNode(tables, rowPrefixOf(key), record);
}

/**
 * A version of a key's history as stored: the index's newest one or a
 * history row. Its older versions are what the history table holds below
 * it, read (one row) when first asked for; stored versions never change,
 * so a node's tail is always what the table holds.
 */
class StoredNode implements HistoryNode {
  readonly record: DiskRecord;
  readonly #tables: Tables;
  readonly #rowPrefix: Buffer;
  /** Versions between the newest and this one: how deep a walk has come, which sizes its next read. */
  readonly #depth: number;
  /** The next older node; null until read. */
  #older: StoredNode | undefined | null = null;

  constructor(tables: Tables, rowPrefix: Buffer, record: DiskRecord, depth = 0) {
    this.#tables = tables;
    this.#rowPrefix = rowPrefix;
    this.record = record;
    this.#depth = depth;
  }

  get older(): StoredNode | undefined {
    if (this.#older === null) this.#readOlder();
    return this.#older as StoredNode | undefined;
  }

  /**
   * Reads the rows below this version in one range: one row for a walk
   * that just began, twice as many each time it goes on, up to
   * {@link HISTORY_ROWS_PER_READ}, so a read one version back costs one
   * row, and a walk through a whole history (a snapshot) costs a range
   * per {@link HISTORY_ROWS_PER_READ} rows, not one per row.
   */
  #readOlder(): void {
    const { modRevision, sub, key: keyBytes, keyId } = this.record;
    // The row just below this version's: no row has this version's own revision but its own.
    const start =
      sub > 0
        ? rowKeyOf(this.#rowPrefix, modRevision, sub - 1)
        : rowKeyOf(this.#rowPrefix, modRevision - 1, 0xffff_ffff);
    const limit = Math.min(HISTORY_ROWS_PER_READ, 2 ** Math.min(this.#depth, 30));
    const options = { start, end: this.#rowPrefix, reverse: true, limit } as RangeOptions & {
      transaction?: Transaction;
    };
    if (this.#tables.transaction !== undefined) options.transaction = this.#tables.transaction;
    let last: StoredNode = this;
    let rows = 0;
    for (const { key, value } of this.#tables.history.getRange(options)) {
      const rowKey = key as Buffer;
      const stored = value as Buffer;
      if (
        rowKey.length !== this.#rowPrefix.length + 12 ||
        rowKey.compare(this.#rowPrefix, 0, this.#rowPrefix.length, 0, this.#rowPrefix.length) !== 0
      ) {
        break;
      }
      if (stored.length !== HISTORY_VERSION_BYTES) corrupt(`a history row is ${stored.length} bytes`);
      const record = decodeVersion(this.#tables, keyBytes, keyId, stored, 0, true);
      const node = new StoredNode(this.#tables, this.#rowPrefix, record, last.#depth + 1);
      last.#older = node;
      last = node;
      rows++;
    }
    // Fewer rows than asked for: the last one read is the key's oldest version.
    if (rows < limit) last.#older = undefined;
  }
}

function encodeLogRecord(record: KeyRecord): Buffer {
  const value = record.tombstone ? EMPTY : record.value;
  const bytes = Buffer.allocUnsafe(LOG_HEADER_BYTES + record.key.length + value.length);
  bytes.writeDoubleBE(record.createRevision, 0);
  bytes.writeDoubleBE(record.version, 8);
  bytes.writeDoubleBE(record.lease, 16);
  bytes.writeUInt8(record.tombstone ? 1 : 0, 24);
  bytes.writeUInt32BE(record.key.length, 25);
  bytes.set(record.key, LOG_HEADER_BYTES);
  bytes.set(value, LOG_HEADER_BYTES + record.key.length);
  return bytes;
}

/**
 * The key's length in a stored log record (header, key, value), its bounds checked.
 *
 * @throws {CorruptionError} when the record is shorter than its header says.
 */
function logKeyLength(stored: Buffer, modRevision: number, sub: number): number {
  if (stored.length < LOG_HEADER_BYTES) corrupt(`version ${modRevision}.${sub} is ${stored.length} bytes`);
  const keyLength = stored.readUInt32BE(25);
  if (LOG_HEADER_BYTES + keyLength > stored.length) corrupt(`version ${modRevision}.${sub} is cut short`);
  return keyLength;
}

function decodeLogRecord(tables: Tables, stored: Buffer, modRevision: number, sub: number): KeyRecord {
  const keyLength = logKeyLength(stored, modRevision, sub);
  const key = plainCopy(stored.subarray(LOG_HEADER_BYTES, LOG_HEADER_BYTES + keyLength));
  return new DiskRecord(
    tables,
    key,
    keyIdOfBytes(key),
    {
      modRevision,
      sub,
      createRevision: stored.readDoubleBE(0),
      version: stored.readDoubleBE(8),
      lease: stored.readDoubleBE(16),
      tombstone: stored.readUInt8(24) === 1,
    },
    plainCopy(stored.subarray(LOG_HEADER_BYTES + keyLength)),
  );
}

/** The key index on LMDB; a clone reads one read transaction. */
class LmdbKeyIndex implements KeyIndex {
  readonly #root: RootDatabase;
  readonly #tables: Tables;

  constructor(root: RootDatabase, tables: Tables) {
    this.#root = root;
    this.#tables = tables;
  }

  get(keyId: string): HistoryNode | undefined {
    const keyBytes = latin1Bytes(keyId);
    const stored = readBinary(this.#tables.index, keyBytes, this.#tables);
    return stored === undefined ? undefined : headOf(this.#tables, keyBytes, stored);
  }

  /**
   * Stores `head` as the key's history. The list is the stored one with
   * versions added at the newest end (a write) or dropped at the oldest
   * (a compaction), or a new one (a restore): its versions down to the
   * first stored node are written, and when the list ends without one,
   * every row below its oldest version is deleted.
   */
  set(keyId: string, head: HistoryNode): void {
    const { index, history } = this.#tables;
    const keyBytes = latin1Bytes(keyId);
    const prefix = rowPrefixOf(keyBytes);
    index.putSync(keyBytes, encodeVersion(head.record));
    let oldest = head.record;
    for (let node = head.older; node !== undefined; node = node.older) {
      const record = node.record;
      if (!(record instanceof DiskRecord && record.isRow)) {
        history.putSync(rowKeyOf(prefix, record.modRevision, record.sub), encodeVersion(record));
      }
      // A stored node's older versions are the table's already.
      if (node instanceof StoredNode) return;
      oldest = record;
    }
    this.#deleteRows(prefix, rowKeyOf(prefix, oldest.modRevision, oldest.sub));
  }

  delete(keyId: string): void {
    const keyBytes = latin1Bytes(keyId);
    this.#tables.index.removeSync(keyBytes);
    const prefix = rowPrefixOf(keyBytes);
    this.#deleteRows(prefix, rowKeyOf(prefix, Number.MAX_SAFE_INTEGER, 0xffff_ffff));
  }

  /**
   * Compacts the key's history at `revision` (see `compactHistory`) by
   * rows: finds the version a read at `revision` sees (the newest version,
   * or one row found by a range lookup), then reads and deletes only the
   * rows below it (and it, when it is a delete). A hot key's compaction
   * costs what it frees, not the history it keeps.
   */
  compactKey(keyId: string, head: HistoryNode, revision: number): readonly KeyRecord[] {
    const { index, history, transaction } = this.#tables;
    const keyBytes = latin1Bytes(keyId);
    const prefix = rowPrefixOf(keyBytes);
    const { key, keyId: id } = head.record;
    const visibleIsHead = head.record.modRevision <= revision;
    let visible: KeyRecord | undefined = head.record;
    let visibleRow: Buffer | undefined;
    if (!visibleIsHead) {
      visible = undefined;
      const start = rowKeyOf(prefix, revision, 0xffff_ffff);
      for (const row of history.getRange({
        start,
        end: prefix,
        reverse: true,
        limit: 1,
        transaction,
      } as never)) {
        visibleRow = row.key as Buffer;
        visible = decodeVersion(this.#tables, key, id, row.value as Buffer, 0, true);
      }
      if (visible === undefined || visibleRow === undefined) return [];
    }
    const below = visibleRow ?? rowKeyOf(prefix, Number.MAX_SAFE_INTEGER, 0xffff_ffff);
    const freed: KeyRecord[] = [];
    const rows: Buffer[] = [];
    for (const row of history.getRange({ start: prefix, end: below, transaction } as never)) {
      const stored = row.value as Buffer;
      if (stored.length !== HISTORY_VERSION_BYTES) corrupt(`a history row is ${stored.length} bytes`);
      rows.push(row.key as Buffer);
      freed.push(decodeVersion(this.#tables, key, id, stored, 0, true));
    }
    if (!visible.tombstone && rows.length === 0) return [];
    for (const row of rows) history.removeSync(row);
    if (visible.tombstone) {
      freed.push(visible);
      if (visibleRow === undefined) index.removeSync(keyBytes);
      else history.removeSync(visibleRow);
    }
    return freed;
  }

  /** Deletes the key's history rows below row `below`. */
  #deleteRows(prefix: Buffer, below: Buffer): void {
    const { history, transaction } = this.#tables;
    const rows = [...history.getKeys({ start: prefix, end: below, transaction } as never)] as Buffer[];
    for (const row of rows) history.removeSync(row);
  }

  *entries(lowestKey?: string): IterableIterator<[string, HistoryNode]> {
    const range = this.#tables.index.getRange(rangeOptions(this.#tables, lowestKey, false));
    for (const { key, value } of range) {
      yield [keyIdOfBytes(key), headOf(this.#tables, key, value as Buffer)];
    }
  }

  *entriesReversed(
    highestKey?: string,
    _reusedArray?: undefined,
    skipHighest = false,
  ): IterableIterator<[string, HistoryNode]> {
    const range = this.#tables.index.getRange(rangeOptions(this.#tables, highestKey, true));
    for (const { key, value } of range) {
      const keyId = keyIdOfBytes(key);
      if (highestKey !== undefined && (keyId > highestKey || (skipHighest && keyId === highestKey))) continue;
      yield [keyId, headOf(this.#tables, key, value as Buffer)];
    }
  }

  nextHigherKey(key: string): string | undefined {
    const keys = this.#tables.index.getKeys({
      start: latin1Bytes(key),
      limit: 2,
      transaction: this.#tables.transaction,
    } as never);
    for (const next of keys) {
      const keyId = keyIdOfBytes(next);
      if (keyId > key) return keyId;
    }
    return undefined;
  }

  clone(): KeyIndex {
    const transaction = this.#root.useReadTransaction();
    return new LmdbKeyIndex(this.#root, { ...this.#tables, transaction });
  }

  release(): void {
    this.#tables.transaction?.done();
  }
}

/** The revision log on LMDB. */
class LmdbRevisionLog implements RevisionLog {
  readonly #tables: Tables;

  constructor(tables: Tables) {
    this.#tables = tables;
  }

  set(record: KeyRecord, _value: undefined, overwrite = true): boolean {
    const key = revisionKey(record.modRevision, record.sub);
    const exists = this.#tables.log.doesExist(key);
    if (exists && !overwrite) return false;
    this.#tables.log.putSync(key, encodeLogRecord(record));
    return !exists;
  }

  delete(record: KeyRecord): void {
    this.#tables.log.removeSync(revisionKey(record.modRevision, record.sub));
  }

  *entries(lowest?: KeyRecord): IterableIterator<[KeyRecord, undefined]> {
    const range = this.#tables.log.getRange(
      lowest === undefined ? {} : { start: revisionKey(lowest.modRevision, lowest.sub) },
    );
    for (const { key, value } of range) {
      const modRevision = key.readUInt32BE(0) * 0x1_0000_0000 + key.readUInt32BE(4);
      yield [decodeLogRecord(this.#tables, value as Buffer, modRevision, key.readUInt32BE(8)), undefined];
    }
  }

  get size(): number {
    return this.#tables.log.getCount();
  }
}

/**
 * The MVCC store's tables in an LMDB environment.
 *
 * @example
 * ```ts
 * const root = open({ path, pageSize: LMDB_PAGE_SIZE });
 * const backend = new LmdbKvBackend(root);
 * const store = root.transactionSync(() => MvccStore.open(backend));
 * root.transactionSync(() => store.put({ key, value }));
 * ```
 */
export class LmdbKvBackend implements StoreBackend {
  /**
   * The names of the store's tables in its environment: what a copy of
   * the store must carry (a snapshot restored from an LMDB copy,
   * `LmdbState.restore`) and what {@link clear} empties.
   */
  static tableNames(prefix = 'kv'): readonly string[] {
    return ['index', 'history', 'log', 'leases', 'leaseKeys', 'meta'].map((table) => `${prefix}.${table}`);
  }

  readonly index: KeyIndex;
  readonly log: RevisionLog;
  readonly leaseJournal: LeaseJournal;
  readonly #tables: Tables;
  readonly #leases: Database<[number, number], Buffer>;
  readonly #leaseKeys: Database<Buffer, Buffer>;
  readonly #meta: Database<SavedScalars, string>;

  /** @param prefix names the tables (several stores may share an environment). */
  constructor(root: RootDatabase, prefix = 'kv') {
    const binary = { keyEncoding: 'binary', encoding: 'binary' } as const;
    this.#tables = {
      index: root.openDB<Buffer, Buffer>({ name: `${prefix}.index`, ...binary }),
      history: root.openDB<Buffer, Buffer>({ name: `${prefix}.history`, ...binary }),
      log: root.openDB<Buffer, Buffer>({ name: `${prefix}.log`, ...binary }),
      transaction: undefined,
    };
    this.#leases = root.openDB<[number, number], Buffer>({ name: `${prefix}.leases`, keyEncoding: 'binary' });
    this.#leaseKeys = root.openDB<Buffer, Buffer>({ name: `${prefix}.leaseKeys`, ...binary });
    this.#meta = root.openDB({ name: `${prefix}.meta` });
    this.index = new LmdbKeyIndex(root, this.#tables);
    this.log = new LmdbRevisionLog(this.#tables);
    const leases = this.#leases;
    const leaseKeys = this.#leaseKeys;
    const attachment = (id: number, keyId: string) => Buffer.concat([leaseKey(id), latin1Bytes(keyId)]);
    const nothing = Buffer.alloc(0);
    this.leaseJournal = {
      granted: (id, ttl, remainingTtl) => leases.putSync(leaseKey(id), [ttl, remainingTtl]),
      checkpointed: (id, ttl, remainingTtl) => leases.putSync(leaseKey(id), [ttl, remainingTtl]),
      removed: (id) => leases.removeSync(leaseKey(id)),
      attached: (id, keyId) => leaseKeys.putSync(attachment(id, keyId), nothing),
      detached: (id, keyId) => leaseKeys.removeSync(attachment(id, keyId)),
    };
  }

  saveScalars(scalars: StoreScalars): void {
    this.#meta.putSync(SCALARS_KEY, { ...scalars, compactCursor: scalars.compactCursor ?? null });
  }

  load(): LoadedState | undefined {
    const saved = this.#meta.get(SCALARS_KEY);
    if (saved === undefined) return undefined;
    const leases = [];
    for (const { key, value } of this.#leases.getRange()) {
      const id = leaseIdOf(key as unknown as Buffer);
      const keys: string[] = [];
      const prefix = leaseKey(id);
      for (const attached of this.#leaseKeys.getKeys({ start: prefix })) {
        if (attached.length < 8 || attached.compare(prefix, 0, 8, 0, 8) !== 0) break;
        keys.push(keyIdOfBytes(attached.subarray(8)));
      }
      leases.push({ id, ttl: value[0], remainingTtl: value[1], keys });
    }
    return {
      scalars: {
        revision: saved.revision,
        compactRevision: saved.compactRevision,
        compactPending: saved.compactPending,
        compactCursor: saved.compactCursor ?? undefined,
      },
      leases,
    };
  }

  /**
   * Moves the older versions of every key out of its index value into
   * history rows: the layout before the history table kept a key's whole
   * history in its index value (state format 2). Run once, inside a write
   * transaction, on a store written in that layout.
   *
   * @returns how many keys had older versions to move.
   */
  upgradeHistories(): number {
    const { index, history } = this.#tables;
    const long: [Buffer, Buffer][] = [];
    // Collect first: the index must not change under its iterator.
    for (const { key, value } of index.getRange({})) {
      const stored = value as Buffer;
      if (stored.length === 0 || stored.length % HISTORY_VERSION_BYTES !== 0) {
        corrupt(`a key's history is ${stored.length} bytes`);
      }
      if (stored.length > HISTORY_VERSION_BYTES) long.push([key as Buffer, stored]);
    }
    for (const [key, stored] of long) {
      const prefix = rowPrefixOf(key);
      for (let at = HISTORY_VERSION_BYTES; at < stored.length; at += HISTORY_VERSION_BYTES) {
        const row = stored.subarray(at, at + HISTORY_VERSION_BYTES);
        history.putSync(rowKeyOf(prefix, row.readDoubleBE(0), row.readUInt32BE(8)), Buffer.from(row));
      }
      index.putSync(key, Buffer.from(stored.subarray(0, HISTORY_VERSION_BYTES)));
    }
    return long.length;
  }

  /** Empties every table (inside a write transaction), for a restore. */
  clear(): void {
    this.#tables.index.clearSync();
    this.#tables.history.clearSync();
    this.#tables.log.clearSync();
    this.#leases.clearSync();
    this.#leaseKeys.clearSync();
    this.#meta.clearSync();
  }
}
