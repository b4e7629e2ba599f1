/**
 * Reading the history by revision: the revision log walked from a position
 * on, each kept version of a key in a span turned back into the event its
 * write produced. This is how a watcher that starts in the past catches up
 * (etcd's `syncWatchers` reading the backend by revision).
 *
 * Work is bounded per read: at most `recordsMax` log versions visited, at
 * most `eventsMax` events and `bytesMax` bytes returned (one event at least); the page says
 * where to read on from, down to the place within a revision, since one
 * revision (a delete of a large span) can hold any number of changes.
 *
 * @module
 */
import { CompactedError, InvalidArgumentError, LimitExceededError } from '../base/errors.ts';
import type { KeyRecord } from './key-history.ts';
import { type KeySpan, keySpanHas, keySpanOf } from './key-span.ts';
import { HISTORY_EVENTS_PER_READ_MAX, HISTORY_RECORDS_PER_READ_MAX } from './limits.ts';
import { KEY_VALUE_OVERHEAD_BYTES, keyValueOf } from './range-reader.ts';
import { checkNonNegative, checkOptionalFlag, checkSpan } from './request-checks.ts';
import type { StoreState } from './store-state.ts';
import type { Event, HistoryPage, HistoryRequest } from './types.ts';

const EMPTY = new Uint8Array(0);

/** A checked history read: every field present and in range. */
export interface HistoryRead {
  readonly key: Uint8Array;
  readonly rangeEnd: Uint8Array | undefined;
  readonly startRevision: number;
  readonly startSub: number;
  readonly endRevision: number;
  readonly prevKv: boolean;
  readonly eventsMax: number;
  readonly bytesMax: number;
  readonly recordsMax: number;
}

/** A log position to start a walk at; the log compares only revision and sub. */
function logPosition(modRevision: number, sub: number): KeyRecord {
  return {
    key: EMPTY,
    keyId: '',
    modRevision,
    sub,
    tombstone: false,
    createRevision: 0,
    version: 0,
    lease: 0,
    value: EMPTY,
  };
}

/** The bytes an event costs in a page or a watcher's buffer. */
export function eventBytes(event: Event): number {
  const { kv, prevKv } = event;
  let bytes = kv.key.length + kv.value.length + KEY_VALUE_OVERHEAD_BYTES;
  if (prevKv !== undefined) bytes += prevKv.key.length + prevKv.value.length + KEY_VALUE_OVERHEAD_BYTES;
  return bytes;
}

/**
 * The version a change replaced, when it was a put: found by walking the
 * key's history from its newest version down to the change. Costs the
 * versions of the key newer than the change; a page remembers the last
 * version it saw of each key, so a key changed many times in one page is
 * walked once.
 */
function previousOf(state: StoreState, record: KeyRecord): KeyRecord | undefined {
  for (let node = state.index.get(record.keyId); node !== undefined; node = node.older) {
    if (node.record.modRevision === record.modRevision) {
      const older = node.older?.record;
      return older === undefined || older.tombstone ? undefined : older;
    }
  }
  throw new Error(
    `Invariant: the revision log holds a version (${record.modRevision}) its key's history lacks`,
  );
}

/** The event a kept version stands for, as `RevisionWriter` produced it. */
export function eventOf(record: KeyRecord, previous: KeyRecord | undefined): Event {
  const type = record.tombstone ? 'delete' : 'put';
  return previous === undefined
    ? { type, kv: keyValueOf(record) }
    : { type, kv: keyValueOf(record), prevKv: keyValueOf(previous) };
}

/**
 * Reads one page of a checked history read. The caller checked that
 * `startRevision` is above the compacted revision, so every version from
 * there on is kept, and so is the one each of them replaced.
 */
export function readHistory(state: StoreState, read: HistoryRead): HistoryPage {
  const span: KeySpan = keySpanOf(read.key, read.rangeEnd);
  const events: Event[] = [];
  // The last version seen of each key in this page: the one the next change to it replaced.
  const seen = new Map<string, KeyRecord>();
  let bytes = 0;
  let visited = 0;
  for (const [record] of state.log.entries(logPosition(read.startRevision, read.startSub))) {
    if (record.modRevision > read.endRevision) break;
    const stop = { events, nextRevision: record.modRevision, nextSub: record.sub, done: false };
    if (events.length === read.eventsMax || visited === read.recordsMax) return stop;
    visited++;
    if (!keySpanHas(span, record.keyId)) continue;
    let previous: KeyRecord | undefined;
    if (read.prevKv) {
      const last = seen.has(record.keyId) ? seen.get(record.keyId) : previousOf(state, record);
      previous = last === undefined || last.tombstone ? undefined : last;
    }
    const event = eventOf(record, previous);
    const size = eventBytes(event);
    // The page holds one event at least, so a read always moves on.
    if (bytes + size > read.bytesMax && events.length > 0) return stop;
    if (read.prevKv) seen.set(record.keyId, record);
    events.push(event);
    bytes += size;
  }
  return { events, nextRevision: read.endRevision + 1, nextSub: 0, done: true };
}

/**
 * Checks a history read against the state and fills in its defaults.
 *
 * @throws {CompactedError} when `startRevision` is at or below the compacted revision.
 * @throws {InvalidArgumentError} on a bad field, or an `endRevision` above the current revision.
 * @throws {LimitExceededError} past a limit.
 */
export function checkHistoryRequest(state: StoreState, request: HistoryRequest): HistoryRead {
  const action = 'read history';
  checkSpan(action, request.key, request.rangeEnd);
  for (const field of ['startSub', 'endRevision', 'eventsMax', 'bytesMax', 'recordsMax'] as const) {
    checkNonNegative(action, field, request[field]);
  }
  checkOptionalFlag(action, 'prevKv', request.prevKv);
  const { startRevision } = request;
  if (!Number.isSafeInteger(startRevision) || startRevision < 1) {
    throw new InvalidArgumentError(
      `Cannot ${action}: startRevision must be an integer >= 1, got ${startRevision}`,
    );
  }
  if (startRevision <= state.compactRevision) {
    throw new CompactedError(
      `Cannot ${action} from revision ${startRevision}: history up to ${state.compactRevision} was compacted`,
      { details: { revision: startRevision, compactRevision: state.compactRevision } },
    );
  }
  const endRevision = request.endRevision ?? state.revision;
  if (endRevision > state.revision) {
    throw new InvalidArgumentError(
      `Cannot ${action} through revision ${endRevision}: the current revision is ${state.revision}`,
      { details: { revision: endRevision, currentRevision: state.revision, reason: 'FUTURE_REVISION' } },
    );
  }
  const eventsMax = positiveAtMost(action, 'eventsMax', request.eventsMax, HISTORY_EVENTS_PER_READ_MAX);
  const recordsMax = positiveAtMost(action, 'recordsMax', request.recordsMax, HISTORY_RECORDS_PER_READ_MAX);
  const bytesMax = positiveAtMost(action, 'bytesMax', request.bytesMax, state.limits.rangeReplyBytesMax);
  return {
    key: request.key,
    rangeEnd: request.rangeEnd,
    startRevision,
    startSub: request.startSub ?? 0,
    endRevision,
    prevKv: request.prevKv === true,
    eventsMax,
    bytesMax,
    recordsMax,
  };
}

/**
 * A page limit of a history read: absent means `max`; else at least 1 and
 * at most `max`.
 *
 * @throws {InvalidArgumentError} below 1; {LimitExceededError} above `max`.
 */
function positiveAtMost(action: string, field: string, value: number | undefined, max: number): number {
  if (value === undefined) return max;
  if (value < 1)
    throw new InvalidArgumentError(`Cannot ${action}: ${field} must be at least 1, got ${value}`);
  if (value > max) {
    throw new LimitExceededError(`Cannot ${action}: ${field} ${value} passes its limit ${max}`, {
      details: { limit: max },
    });
  }
  return value;
}
