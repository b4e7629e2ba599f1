/**
 * The {@link LogStore} part of the storage conformance suite (see
 * `store-conformance.ts`).
 *
 * @module
 */
import { CompactedError } from '../base/errors.ts';
import {
  type ConformanceCheck,
  expectEqual,
  expectThrows,
  expectTrue,
  registerConformance,
  type StoreFactory,
  type StoreSession,
  type TestRegistrar,
  withStore,
} from './conformance-harness.ts';
import type { LogStore } from './stores.ts';
import { type Entry, EntryType, entryBytes } from './types.ts';

const encoder = new TextEncoder();

/** A test entry whose data names its index and term (and `tag`, to tell rewrites apart). */
export function testEntry(index: number, term: number, tag = ''): Entry {
  return { index, term, type: EntryType.normal, data: encoder.encode(`${index}/${term}${tag}`) };
}

/** Test entries `lo..hi` (inclusive) at `term`. */
export function testEntries(lo: number, hi: number, term: number, tag = ''): Entry[] {
  const out: Entry[] = [];
  for (let index = lo; index <= hi; index++) out.push(testEntry(index, term, tag));
  return out;
}

/** Everything a log store shows, as plain data to compare. */
export function logView(log: LogStore): unknown {
  const first = log.firstIndex();
  const last = log.lastIndex();
  return {
    first,
    last,
    boundaryTerm: log.term(first - 1),
    entries: log.entries(first, last + 1, Number.POSITIVE_INFINITY),
  };
}

type LogCheck = ConformanceCheck<StoreFactory<LogStore>>;

function logCheck(name: string, body: (session: StoreSession<LogStore>) => Promise<void>): LogCheck {
  return { name, run: (factory) => withStore(factory, body) };
}

/** The {@link LogStore} contract, check by check. */
export const logStoreChecks: readonly LogCheck[] = [
  logCheck('a new log is empty at index 0, term 0', async ({ store: log }) => {
    expectEqual(logView(log), { first: 1, last: 0, boundaryTerm: 0, entries: [] }, 'new log');
  }),
  logCheck('append then read entries and terms', async ({ store: log }) => {
    log.append(testEntries(1, 5, 1));
    log.append(testEntries(6, 7, 2));
    expectEqual(
      logView(log),
      { first: 1, last: 7, boundaryTerm: 0, entries: [...testEntries(1, 5, 1), ...testEntries(6, 7, 2)] },
      'log',
    );
    expectEqual(log.entries(2, 5, Number.POSITIVE_INFINITY), testEntries(2, 4, 1), 'entries [2, 5)');
    expectEqual([log.term(5), log.term(6)], [1, 2], 'terms of 5 and 6');
    expectEqual(log.entries(4, 4, 0), [], 'an empty range');
  }),
  logCheck(
    'append discards every entry from its first index on (conflict truncation)',
    async ({ store: log }) => {
      log.append(testEntries(1, 5, 1));
      log.append(testEntries(3, 4, 2));
      expectEqual(
        log.entries(1, 5, Number.POSITIVE_INFINITY),
        [...testEntries(1, 2, 1), ...testEntries(3, 4, 2)],
        'after overwriting 3..4',
      );
      expectEqual(log.lastIndex(), 4, 'last index (old entry 5 dropped)');
      log.append([testEntry(2, 1, 'rewritten')]);
      expectEqual(
        logView(log),
        { first: 1, last: 2, boundaryTerm: 0, entries: [testEntry(1, 1), testEntry(2, 1, 'rewritten')] },
        'after rewriting 2',
      );
    },
  ),
  logCheck('append refuses a gap or non-consecutive entries, changing nothing', async ({ store: log }) => {
    log.append(testEntries(1, 3, 1));
    const before = logView(log);
    expectThrows(() => log.append([testEntry(5, 1)]), RangeError, 'append after a gap');
    expectThrows(() => log.append([testEntry(4, 1), testEntry(6, 1)]), RangeError, 'append of 4, 6');
    expectThrows(() => log.append([testEntry(2, 2), testEntry(2, 2)]), RangeError, 'append of 2, 2');
    expectEqual(logView(log), before, 'log after refused appends');
  }),
  logCheck('append ignores entries before the first index', async ({ store: log }) => {
    log.append(testEntries(1, 5, 1));
    log.compact(3);
    log.append([testEntry(2, 1), testEntry(3, 1), testEntry(4, 2)]);
    expectEqual(logView(log), { first: 4, last: 4, boundaryTerm: 1, entries: [testEntry(4, 2)] }, 'log');
    log.append(testEntries(1, 2, 9));
    expectEqual(
      logView(log),
      { first: 4, last: 4, boundaryTerm: 1, entries: [testEntry(4, 2)] },
      'log after appending only compacted entries',
    );
  }),
  logCheck('entries stops at bytesMax but returns at least one entry', async ({ store: log }) => {
    log.append(testEntries(1, 5, 1));
    const size = entryBytes(testEntry(1, 1));
    expectEqual(log.entries(1, 6, 0).length, 1, 'entries with bytesMax 0');
    expectEqual(log.entries(1, 6, size).length, 1, 'entries with bytesMax of one entry');
    expectEqual(log.entries(1, 6, 2 * size).length, 2, 'entries with bytesMax of two entries');
    expectEqual(log.entries(1, 6, 3 * size - 1).length, 2, 'entries with bytesMax just under three entries');
    expectEqual(
      log.entries(2, 6, 3 * size),
      testEntries(2, 4, 1),
      'entries [2, 6) with bytesMax of three entries',
    );
  }),
  logCheck('reads outside the log fail with CompactedError or RangeError', async ({ store: log }) => {
    log.append(testEntries(1, 5, 1));
    log.compact(3);
    expectThrows(() => log.term(6), RangeError, 'term past the last index');
    expectThrows(() => log.entries(4, 7, 1000), RangeError, 'entries past the last index');
    expectThrows(() => log.entries(5, 4, 1000), RangeError, 'entries with lo past hi');
    const compacted = expectThrows(() => log.term(2), CompactedError, 'term before the compaction point');
    expectTrue(!(compacted instanceof RangeError), 'CompactedError must not be a RangeError');
    expectThrows(() => log.entries(3, 5, 1000), CompactedError, 'entries from the compaction point');
    expectThrows(() => log.entries(1, 5, 1000), CompactedError, 'entries before the compaction point');
    expectEqual(log.term(3), 1, 'term at the compaction point');
  }),
  logCheck('compact releases entries up to its index and keeps its term', async ({ store: log }) => {
    log.append([testEntry(1, 1), testEntry(2, 1), testEntry(3, 2), testEntry(4, 2), testEntry(5, 3)]);
    log.compact(3);
    expectEqual(
      logView(log),
      { first: 4, last: 5, boundaryTerm: 2, entries: [testEntry(4, 2), testEntry(5, 3)] },
      'after compact(3)',
    );
    log.compact(2);
    expectEqual(log.firstIndex(), 4, 'first index after compacting behind the compaction point');
    expectThrows(() => log.compact(6), RangeError, 'compact past the last index');
    log.compact(5);
    expectEqual(
      logView(log),
      { first: 6, last: 5, boundaryTerm: 3, entries: [] },
      'after compacting everything',
    );
    log.append([testEntry(6, 3)]);
    expectEqual(log.entries(6, 7, 0), [testEntry(6, 3)], 'append after compacting everything');
  }),
  logCheck('resetTo empties the log at the snapshot point', async ({ store: log }) => {
    log.append(testEntries(1, 5, 1));
    log.resetTo(10, 4);
    expectEqual(logView(log), { first: 11, last: 10, boundaryTerm: 4, entries: [] }, 'after resetTo(10, 4)');
    expectThrows(() => log.term(9), CompactedError, 'term before the snapshot point');
    expectThrows(() => log.append([testEntry(12, 4)]), RangeError, 'append after a gap');
    log.append([testEntry(11, 4)]);
    expectEqual(log.lastIndex(), 11, 'last index after appending 11');
    log.resetTo(3, 7);
    expectEqual(logView(log), { first: 4, last: 3, boundaryTerm: 7, entries: [] }, 'after resetTo(3, 7)');
    expectThrows(() => log.resetTo(-1, 1), RangeError, 'resetTo(-1, 1)');
  }),
  logCheck('unsynced writes are lost in a crash', async (session) => {
    session.store.append(testEntries(1, 3, 1));
    await session.store.sync();
    const synced = logView(session.store);
    session.store.append(testEntries(4, 5, 1));
    const log = await session.crash();
    expectEqual(logView(log), synced, 'log after the crash');
    log.append([testEntry(4, 2)]);
    expectEqual(log.lastIndex(), 4, 'last index after appending again');
  }),
  logCheck('synced writes survive a crash', async (session) => {
    session.store.append(testEntries(1, 5, 1));
    session.store.compact(2);
    session.store.append(testEntries(6, 7, 2));
    await session.store.sync();
    const synced = logView(session.store);
    expectEqual(logView(await session.crash()), synced, 'log after the crash');
  }),
  logCheck('a synced truncation stays truncated after a crash', async (session) => {
    session.store.append(testEntries(1, 5, 1));
    await session.store.sync();
    session.store.append([testEntry(3, 2)]);
    await session.store.sync();
    const log = await session.crash();
    expectEqual(
      logView(log),
      { first: 1, last: 3, boundaryTerm: 0, entries: [...testEntries(1, 2, 1), testEntry(3, 2)] },
      'log after the crash',
    );
    expectThrows(() => log.term(4), RangeError, 'term of the truncated entry 4');
  }),
  logCheck('a crash undoes an unsynced truncation whole', async (session) => {
    session.store.append(testEntries(1, 5, 1));
    await session.store.sync();
    session.store.append([testEntry(3, 2)]);
    session.store.append([testEntry(4, 2)]);
    const log = await session.crash();
    expectEqual(
      logView(log),
      { first: 1, last: 5, boundaryTerm: 0, entries: testEntries(1, 5, 1) },
      'log after the crash',
    );
  }),
  logCheck('a crash undoes unsynced compactions and resets, never synced ones', async (session) => {
    session.store.append(testEntries(1, 5, 1));
    await session.store.sync();
    session.store.compact(2);
    session.store.resetTo(8, 2);
    let log = await session.crash();
    expectEqual(
      logView(log),
      { first: 1, last: 5, boundaryTerm: 0, entries: testEntries(1, 5, 1) },
      'log after an unsynced reset',
    );
    log.compact(2);
    await log.sync();
    log = await session.crash();
    expectEqual(
      logView(log),
      { first: 3, last: 5, boundaryTerm: 1, entries: testEntries(3, 5, 1) },
      'log after a synced compact',
    );
    log.resetTo(8, 2);
    await log.sync();
    log = await session.crash();
    expectEqual(
      logView(log),
      { first: 9, last: 8, boundaryTerm: 2, entries: [] },
      'log after a synced reset',
    );
  }),
  logCheck('writes made during a sync are durable after the next one', async (session) => {
    session.store.append(testEntries(1, 2, 1));
    const syncing = session.store.sync();
    session.store.append(testEntries(3, 4, 1));
    await syncing;
    await session.store.sync();
    expectEqual(
      logView(await session.crash()),
      { first: 1, last: 4, boundaryTerm: 0, entries: testEntries(1, 4, 1) },
      'log after the crash',
    );
  }),
];

/** Registers the {@link LogStore} conformance tests for one implementation. */
export function logStoreConformance(
  name: string,
  factory: StoreFactory<LogStore>,
  test: TestRegistrar,
): void {
  registerConformance(`LogStore conformance: ${name}`, logStoreChecks, factory, test);
}
