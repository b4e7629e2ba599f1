/**
 * The records of the write-ahead log and how each is laid out on disk.
 *
 * ```
 * offset 0  u32be  body length L      1 <= L <= recordBytesMax
 * offset 4  u32be  CRC-32 of the body
 * offset 8  u8     record type        (WalRecordType)
 * offset 9  MessagePack payload, L - 1 bytes
 * ```
 *
 * A length of 0 cannot start a record, so the zeros of a preallocated
 * segment read as "no more records". Payloads are MessagePack arrays, not
 * maps: a WAL holds millions of them and field names would double its size.
 *
 * There is no separate truncation record: an entries record starts at its
 * first entry's index and replaces everything held from there on, exactly
 * as `LogStore.append` does. A conflicting suffix is therefore cut and
 * overwritten by one record, which a crash keeps whole or not at all.
 *
 * @module
 */
import { crc32 } from 'node:zlib';
import { checksum } from '../codec/checksum.ts';
import { decode, encode } from '../codec/msgpack.ts';
import { type Entry, EntryType, type HardState } from '../raft/types.ts';

/** Bytes before a record's body: length and CRC-32. */
export const WAL_RECORD_HEADER_BYTES = 8;

/** The kinds of record; the first byte of every body. */
export const WalRecordType = {
  /** Entries with consecutive indexes, replacing everything held from the first one's index on. */
  entries: 1,
  /** The hard state (term, vote, commit). */
  hardState: 2,
  /** Snapshot marker: entries up to `index` were released (`LogStore.compact`); `term` is the term there. */
  compact: 3,
  /** Snapshot marker: the log was emptied at (`index`, `term`) for an installed snapshot (`LogStore.resetTo`). */
  reset: 4,
  /** The first record of every segment: what the log looked like when the segment was started. */
  checkpoint: 5,
} as const;
export type WalRecordType = (typeof WalRecordType)[keyof typeof WalRecordType];

/** A position in the log: an index and the term of the entry there. */
export interface LogPosition {
  readonly index: number;
  readonly term: number;
}

/**
 * The state of the log when a segment was started, written as its first
 * record. It lets recovery start from this segment once every earlier one
 * is deleted, and lets it check that no segment in between went missing.
 */
export interface WalCheckpoint {
  /** The segment's sequence number (also in its file name). */
  readonly sequence: number;
  /** The compaction point: the log held entries after it. */
  readonly base: LogPosition;
  /** The last entry held (equal to `base` when the log was empty). */
  readonly last: LogPosition;
  readonly hardState: HardState;
}

/** One record of the write-ahead log. */
export type WalRecord =
  | { readonly type: typeof WalRecordType.entries; readonly entries: readonly Entry[] }
  | { readonly type: typeof WalRecordType.hardState; readonly hardState: HardState }
  | { readonly type: typeof WalRecordType.compact; readonly index: number; readonly term: number }
  | { readonly type: typeof WalRecordType.reset; readonly index: number; readonly term: number }
  | { readonly type: typeof WalRecordType.checkpoint; readonly checkpoint: WalCheckpoint };

function payloadOf(record: WalRecord): unknown {
  switch (record.type) {
    case WalRecordType.entries: {
      const first = record.entries[0]?.index ?? 0;
      return [first, record.entries.map((entry) => [entry.term, entry.type, entry.data])];
    }
    case WalRecordType.hardState:
      return [record.hardState.term, record.hardState.vote, record.hardState.commit];
    case WalRecordType.compact:
    case WalRecordType.reset:
      return [record.index, record.term];
    case WalRecordType.checkpoint: {
      const { sequence, base, last, hardState } = record.checkpoint;
      return [
        sequence,
        base.index,
        base.term,
        last.index,
        last.term,
        hardState.term,
        hardState.vote,
        hardState.commit,
      ];
    }
  }
}

// The CRC-32 of each type byte alone: a body's CRC continues from it over the payload.
const TYPE_CRCS = Array.from({ length: 256 }, (_, type) => checksum(Uint8Array.of(type)));

/** `record` framed: header, type byte, payload. */
export function encodeWalRecord(record: WalRecord): Buffer {
  const payload = encode(payloadOf(record));
  const out = Buffer.allocUnsafe(WAL_RECORD_HEADER_BYTES + 1 + payload.length);
  out.writeUInt32BE(1 + payload.length, 0);
  out.writeUInt32BE(crc32(payload, TYPE_CRCS[record.type]), 4);
  out[WAL_RECORD_HEADER_BYTES] = record.type;
  out.set(payload, WAL_RECORD_HEADER_BYTES + 1);
  return out;
}

/** Whether `type` is a record type this code knows. */
export function isWalRecordType(type: number | undefined): type is WalRecordType {
  return type !== undefined && type >= WalRecordType.entries && type <= WalRecordType.checkpoint;
}

/**
 * Whether a whole, checksummed record starts at `offset` of `bytes`, with a
 * body of 1 to `bodyBytesMax` bytes and a known type. Its payload is not
 * decoded.
 */
export function isWalRecordAt(bytes: Uint8Array, offset: number, bodyBytesMax: number): boolean {
  if (offset + WAL_RECORD_HEADER_BYTES > bytes.length) return false;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const length = view.readUInt32BE(offset);
  if (length < 1 || length > bodyBytesMax) return false;
  const end = offset + WAL_RECORD_HEADER_BYTES + length;
  if (end > bytes.length || !isWalRecordType(view[offset + WAL_RECORD_HEADER_BYTES])) return false;
  return checksum(view.subarray(offset + WAL_RECORD_HEADER_BYTES, end)) === view.readUInt32BE(offset + 4);
}

/** A payload field that must be an integer >= 0; throws naming it otherwise. */
function natural(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`${name} is ${JSON.stringify(value)}, not an integer >= 0`);
  }
  return value;
}

function fields(payload: unknown, count: number, what: string): unknown[] {
  if (!Array.isArray(payload) || payload.length !== count) {
    throw new TypeError(`a ${what} payload must be an array of ${count} fields`);
  }
  return payload;
}

function decodeEntries(payload: unknown): Entry[] {
  const [first, list] = fields(payload, 2, 'entries');
  const index = natural(first, 'first index');
  if (!Array.isArray(list) || list.length === 0) throw new TypeError('an entries record must hold entries');
  return list.map((item: unknown, i): Entry => {
    const [term, type, data] = fields(item, 3, 'entry');
    if (type !== EntryType.normal && type !== EntryType.confChange) {
      throw new TypeError(`entry type is ${JSON.stringify(type)}`);
    }
    if (!(data instanceof Uint8Array)) throw new TypeError('entry data is not bytes');
    // A copy: a view would keep the whole segment read at recovery alive.
    return { index: index + i, term: natural(term, 'entry term'), type, data: new Uint8Array(data) };
  });
}

/**
 * The record a checksummed body holds.
 *
 * @throws {TypeError} when the body is not a well-formed record (the
 * caller reports it as corruption, with the file and offset).
 */
export function decodeWalRecord(body: Uint8Array): WalRecord {
  const type = body[0];
  const payload = decode(body.subarray(1));
  switch (type) {
    case WalRecordType.entries:
      return { type, entries: decodeEntries(payload) };
    case WalRecordType.hardState: {
      const [term, vote, commit] = fields(payload, 3, 'hard state');
      return {
        type,
        hardState: {
          term: natural(term, 'term'),
          vote: natural(vote, 'vote'),
          commit: natural(commit, 'commit'),
        },
      };
    }
    case WalRecordType.compact:
    case WalRecordType.reset: {
      const [index, term] = fields(payload, 2, 'snapshot marker');
      return { type, index: natural(index, 'index'), term: natural(term, 'term') };
    }
    case WalRecordType.checkpoint: {
      const values = fields(payload, 8, 'checkpoint').map((value, i) =>
        natural(value, `checkpoint field ${i}`),
      );
      const [sequence, baseIndex, baseTerm, lastIndex, lastTerm, term, vote, commit] = values as number[];
      return {
        type,
        checkpoint: {
          sequence: sequence as number,
          base: { index: baseIndex as number, term: baseTerm as number },
          last: { index: lastIndex as number, term: lastTerm as number },
          hardState: { term: term as number, vote: vote as number, commit: commit as number },
        },
      };
    }
    default:
      throw new TypeError(`record type ${type} is unknown`);
  }
}

/** Where the log stands after a run of records: what a segment's checkpoint records. */
export type WalPosition = Omit<WalCheckpoint, 'sequence'>;

/** The position of an empty WAL: no entries, zero hard state. */
export const WAL_POSITION_EMPTY: WalPosition = {
  base: { index: 0, term: 0 },
  last: { index: 0, term: 0 },
  hardState: { term: 0, vote: 0, commit: 0 },
};

/**
 * The position after `record`, with `LogStore` semantics: entries (all
 * after the base: the store drops the others before writing) end the log at
 * their last one; a compaction moves the base forward (and never past the
 * last entry); a reset empties the log at its point.
 */
export function positionAfter(position: WalPosition, record: WalRecord): WalPosition {
  // Fields spelled out rather than spread: this runs once per record appended.
  const { base, last, hardState } = position;
  switch (record.type) {
    case WalRecordType.entries: {
      const entry = record.entries[record.entries.length - 1];
      return entry === undefined
        ? position
        : { base, last: { index: entry.index, term: entry.term }, hardState };
    }
    case WalRecordType.hardState:
      return { base, last, hardState: record.hardState };
    case WalRecordType.compact:
      if (record.index <= base.index) return position;
      return { base: { index: record.index, term: record.term }, last, hardState };
    case WalRecordType.reset: {
      const point = { index: record.index, term: record.term };
      return { base: point, last: point, hardState };
    }
    case WalRecordType.checkpoint:
      return position;
  }
}

/** Whether two positions are equal. */
export function positionsEqual(a: WalPosition, b: WalPosition): boolean {
  return (
    a.base.index === b.base.index &&
    a.base.term === b.base.term &&
    a.last.index === b.last.index &&
    a.last.term === b.last.term &&
    a.hardState.term === b.hardState.term &&
    a.hardState.vote === b.hardState.vote &&
    a.hardState.commit === b.hardState.commit
  );
}
