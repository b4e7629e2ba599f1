import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CompactedError, InvalidArgumentError, LimitExceededError } from '../base/errors.ts';
import { prefixEnd, RANGE_END_ALL } from './key-span.ts';
import { HISTORY_EVENTS_PER_READ_MAX } from './limits.ts';
import { MvccStore } from './mvcc-store.ts';
import type { Event, HistoryPage, HistoryRequest } from './types.ts';

const text = (value: string) => new TextEncoder().encode(value);
const str = (value: Uint8Array) => new TextDecoder().decode(value);

/** A store and every event its writes returned, in order. */
function recorded(): { store: MvccStore; events: Event[] } {
  const store = new MvccStore();
  const events: Event[] = [];
  events.push(...store.put({ key: text('a'), value: text('1') }).events); // 2
  events.push(...store.put({ key: text('b'), value: text('1') }).events); // 3
  events.push(...store.put({ key: text('a'), value: text('2') }).events); // 4
  events.push(...store.deleteRange({ key: text('a'), rangeEnd: text('c') }).events); // 5: a, b
  events.push(...store.put({ key: text('a'), value: text('3') }).events); // 6
  events.push(
    ...store.txn({
      success: [
        { type: 'put', request: { key: text('c'), value: text('1') } },
        { type: 'put', request: { key: text('a'), value: text('4') } },
      ],
    }).events,
  ); // 7: c, a
  return { store, events };
}

/** Every page of a read, followed to the end. */
function readAll(store: MvccStore, request: HistoryRequest): { events: Event[]; pages: HistoryPage[] } {
  const pages: HistoryPage[] = [];
  let page = store.eventsSince(request);
  pages.push(page);
  while (!page.done) {
    assert.ok(pages.length < 1000, 'the read must end');
    page = store.eventsSince({ ...request, startRevision: page.nextRevision, startSub: page.nextSub });
    pages.push(page);
  }
  return { events: pages.flatMap((p) => [...p.events]), pages };
}

const withoutPrevKv = (event: Event): Event => ({ type: event.type, kv: event.kv });

describe('MvccStore.eventsSince', () => {
  it('gives back exactly the events the writes returned, prevKv included when asked', () => {
    const { store, events } = recorded();
    const all = { key: Uint8Array.of(0), rangeEnd: RANGE_END_ALL };
    assert.deepEqual(store.eventsSince({ ...all, startRevision: 1, prevKv: true }).events, events);
    assert.deepEqual(store.eventsSince({ ...all, startRevision: 1 }).events, events.map(withoutPrevKv));
  });

  it('reads from a revision on, one key or a prefix', () => {
    const { store, events } = recorded();
    const fromFive = events.filter((e) => e.kv.modRevision >= 5);
    assert.deepEqual(
      store.eventsSince({ key: text('a'), startRevision: 5, prevKv: true }).events,
      fromFive.filter((e) => str(e.kv.key) === 'a'),
    );
    assert.deepEqual(
      store
        .eventsSince({ key: text('b'), rangeEnd: prefixEnd(text('b')), startRevision: 1 })
        .events.map((e) => e.type),
      ['put', 'delete'],
    );
  });

  it('stops at endRevision and says where to read on', () => {
    const { store } = recorded();
    const page = store.eventsSince({ key: text('a'), startRevision: 1, endRevision: 4 });
    assert.deepEqual(
      page.events.map((e) => e.kv.modRevision),
      [2, 4],
    );
    assert.deepEqual([page.nextRevision, page.nextSub, page.done], [5, 0, true]);
  });

  it('pages by events, inside a revision too, losing and repeating nothing', () => {
    const { store, events } = recorded();
    const { events: read, pages } = readAll(store, {
      key: Uint8Array.of(0),
      rangeEnd: RANGE_END_ALL,
      startRevision: 1,
      prevKv: true,
      eventsMax: 1,
    });
    assert.deepEqual(read, events);
    // Revision 5 deletes two keys: a page ends between them.
    assert.ok(pages.some((p) => p.nextRevision === 5 && p.nextSub === 1 && !p.done));
  });

  it('bounds the versions one read visits, even when none match', () => {
    const store = new MvccStore();
    for (let i = 0; i < 20; i++) store.put({ key: text('noise'), value: text(String(i)) });
    store.put({ key: text('x'), value: text('1') });
    const first = store.eventsSince({ key: text('x'), startRevision: 1, recordsMax: 5 });
    assert.deepEqual([first.events.length, first.nextRevision, first.done], [0, 7, false]);
    const { events, pages } = readAll(store, { key: text('x'), startRevision: 1, recordsMax: 5 });
    assert.deepEqual(
      events.map((e) => str(e.kv.value)),
      ['1'],
    );
    assert.equal(pages.length, 5);
  });

  it('pages by bytes, one event at least', () => {
    const store = new MvccStore();
    for (let i = 0; i < 4; i++) store.put({ key: text('k'), value: new Uint8Array(100) });
    const page = store.eventsSince({ key: text('k'), startRevision: 1, bytesMax: 1 });
    assert.equal(page.events.length, 1);
    const two = store.eventsSince({ key: text('k'), startRevision: 1, bytesMax: 2 * (1 + 100 + 48) });
    assert.equal(two.events.length, 2);
  });

  it('fills prevKv across compaction: the version a change replaced survives it', () => {
    const { store, events } = recorded();
    store.compact({ revision: 5 });
    while (!store.compactStep(1)) store.checkInvariants();
    const all = { key: Uint8Array.of(0), rangeEnd: RANGE_END_ALL, prevKv: true };
    assert.deepEqual(
      store.eventsSince({ ...all, startRevision: 6 }).events,
      events.filter((e) => e.kv.modRevision >= 6),
    );
  });

  it('refuses a start at or below the compacted revision with COMPACTED and the revision', () => {
    const { store } = recorded();
    store.compact({ revision: 4 });
    for (const startRevision of [1, 4]) {
      assert.throws(
        () => store.eventsSince({ key: text('a'), startRevision }),
        (error: unknown) =>
          error instanceof CompactedError &&
          error.details?.['compactRevision'] === 4 &&
          error.message.startsWith(`Cannot read history from revision ${startRevision}`),
      );
    }
    assert.equal(store.eventsSince({ key: text('a'), startRevision: 5 }).events.length, 3); // 5, 6, 7
  });

  it('refuses bad fields and limits', () => {
    const { store } = recorded();
    const bad: [Partial<HistoryRequest>, new (...args: never[]) => Error][] = [
      [{ startRevision: 0 }, InvalidArgumentError],
      [{ startRevision: 1.5 }, InvalidArgumentError],
      [{ endRevision: 8 }, InvalidArgumentError],
      [{ eventsMax: 0 }, InvalidArgumentError],
      [{ recordsMax: -1 }, InvalidArgumentError],
      [{ eventsMax: HISTORY_EVENTS_PER_READ_MAX + 1 }, LimitExceededError],
      [{ key: new Uint8Array(0) }, InvalidArgumentError],
    ];
    for (const [fields, type] of bad) {
      assert.throws(() => store.eventsSince({ key: text('a'), startRevision: 1, ...fields }), type);
    }
  });

  it('matches the written events over random histories and page sizes (property)', () => {
    const keys = ['a', 'ab', 'b', 'c'].map(text);
    const op = fc.oneof(
      fc.record({ kind: fc.constant('put' as const), key: fc.constantFrom(...keys), value: fc.nat(9) }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom(...keys), all: fc.boolean() }),
    );
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 30 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 6 }),
        fc.nat(12),
        (ops, eventsMax, recordsMax, back) => {
          const store = new MvccStore();
          const events: Event[] = [];
          for (const o of ops) {
            const result =
              o.kind === 'put'
                ? store.put({ key: o.key, value: text(String(o.value)) })
                : store.deleteRange(o.all ? { key: o.key, rangeEnd: RANGE_END_ALL } : { key: o.key });
            events.push(...result.events);
          }
          const startRevision = Math.max(1, store.revision - back);
          const { events: read } = readAll(store, {
            key: text('a'),
            rangeEnd: text('b'),
            startRevision,
            prevKv: true,
            eventsMax,
            recordsMax,
          });
          assert.deepEqual(
            read,
            events.filter((e) => e.kv.modRevision >= startRevision && str(e.kv.key).startsWith('a')),
          );
        },
      ),
      { numRuns: 150 },
    );
  });
});
