/**
 * The watch hub against the reference model: random writes (puts, deletes,
 * transactions) interleaved with watches from random revisions over random
 * spans, takes of random sizes, compactions and cancels. Every watcher must
 * receive exactly the events the model's history holds for its span from
 * its start revision, in order, none missed, none twice (etcd's watch
 * guarantee); a watcher the hub ended must have received a prefix of them
 * that covers every revision before the one it says to resume from.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CompactedError } from '../base/errors.ts';
import { MvccStore } from './mvcc-store.ts';
import { inSpan, Model, ModelWriter, modelTxnDuplicates } from './reference-model.ts';
import type {
  DeleteRangeRequest,
  Event,
  PutRequest,
  RequestOp,
  WatchCancel,
  WatchFilter,
  WatchResponse,
} from './types.ts';
import { WatchHub } from './watch-hub.ts';

const ALL = Uint8Array.of(0);
const KEYS = [[0x61], [0x61, 0x00], [0x61, 0x62], [0x62], [0x62, 0x61], [0xff]].map((k) =>
  Uint8Array.from(k),
);

type Op =
  | { kind: 'put'; request: PutRequest }
  | { kind: 'deleteRange'; request: DeleteRangeRequest }
  | { kind: 'txn'; success: RequestOp[] }
  | {
      kind: 'watch';
      key: Uint8Array;
      rangeEnd: Uint8Array | undefined;
      start: 'now' | number;
      prevKv: boolean;
      filters: WatchFilter[];
    }
  | { kind: 'take'; watcher: number; eventsMax: number }
  | { kind: 'compact'; back: number }
  | { kind: 'compactStep' }
  | { kind: 'cancel'; watcher: number };

/** What the test knows of one watcher. */
interface Tracked {
  id: number;
  startRevision: number;
  key: Uint8Array;
  rangeEnd: Uint8Array | undefined;
  prevKv: boolean;
  filters: WatchFilter[];
  responses: WatchResponse[];
  ended?: WatchCancel;
  cancelled: boolean;
}

const keyArb = fc.constantFrom(...KEYS);
const rangeEndArb = fc.oneof(
  fc.constant(undefined),
  fc.constant(ALL),
  keyArb,
  keyArb.map((k) => Uint8Array.of(...k, 0xff)),
);
const valueArb = fc.uint8Array({ minLength: 0, maxLength: 3 });
const putArb = fc.record({ key: keyArb, value: valueArb }).map((request): PutRequest => request);
const deleteArb = fc
  .record({ key: keyArb, rangeEnd: rangeEndArb })
  .map(({ key, rangeEnd }): DeleteRangeRequest => (rangeEnd === undefined ? { key } : { key, rangeEnd }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: putArb.map((request): Op => ({ kind: 'put', request })) },
  { weight: 2, arbitrary: deleteArb.map((request): Op => ({ kind: 'deleteRange', request })) },
  {
    weight: 2,
    arbitrary: fc
      .array(
        fc.oneof(
          putArb.map((request): RequestOp => ({ type: 'put', request })),
          deleteArb.map((request): RequestOp => ({ type: 'deleteRange', request })),
        ),
        { maxLength: 4 },
      )
      .map((success): Op => ({ kind: 'txn', success })),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({
        key: keyArb,
        rangeEnd: rangeEndArb,
        start: fc.oneof(fc.constant('now' as const), fc.integer({ min: -12, max: 2 })),
        prevKv: fc.boolean(),
        filters: fc.subarray<WatchFilter>(['noPut', 'noDelete'], { maxLength: 1 }),
      })
      .map((watch): Op => ({ kind: 'watch', ...watch })),
  },
  {
    weight: 6,
    arbitrary: fc
      .record({ watcher: fc.nat(20), eventsMax: fc.integer({ min: 1, max: 3 }) })
      .map((take): Op => ({ kind: 'take', ...take })),
  },
  { weight: 1, arbitrary: fc.nat(6).map((back): Op => ({ kind: 'compact', back })) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: 'compactStep' }) },
  { weight: 1, arbitrary: fc.nat(20).map((watcher): Op => ({ kind: 'cancel', watcher })) },
);

/** Runs a write on the model and the store; both must produce the same events. */
function write(model: Model, store: MvccStore, op: Op): readonly Event[] | undefined {
  const writer = new ModelWriter(model);
  let events: readonly Event[];
  if (op.kind === 'put') {
    writer.put(op.request);
    events = store.put(op.request).events;
  } else if (op.kind === 'deleteRange') {
    writer.deleteRange(op.request);
    events = store.deleteRange(op.request).events;
  } else if (op.kind === 'txn') {
    // A key written twice is refused by the store (etcd); the generator makes some, skip them.
    if (modelTxnDuplicates(op.success)) return undefined;
    for (const inner of op.success) {
      if (inner.type === 'put') writer.put(inner.request);
      else if (inner.type === 'deleteRange') writer.deleteRange(inner.request);
    }
    events = store.txn({ success: op.success }).events;
  } else {
    return undefined;
  }
  writer.commit();
  assert.deepEqual(events, writer.events, 'the store and the model disagree on a write');
  return events;
}

/** What a watcher should see of the model's history. */
function expectedFor(history: readonly Event[], w: Tracked): Event[] {
  return history
    .filter(
      (e) =>
        e.kv.modRevision >= w.startRevision &&
        inSpan(e.kv.key, w.key, w.rangeEnd) &&
        !(e.type === 'put' && w.filters.includes('noPut')) &&
        !(e.type === 'delete' && w.filters.includes('noDelete')),
    )
    .map((e) => (w.prevKv || e.prevKv === undefined ? e : { type: e.type, kv: e.kv }));
}

/** Checks one watcher's whole run against the history. */
function checkWatcher(history: readonly Event[], w: Tracked, compactRevision: number): void {
  const received = w.responses.flatMap((r) => [...r.events]);
  const expected = expectedFor(history, w);
  const name = `watcher ${w.id} from ${w.startRevision}`;
  // A revision a response gives whole (not a fragment) has no events in later responses.
  let seenEvents = 0;
  for (const response of w.responses) {
    seenEvents += response.events.length;
    const last = response.events.at(-1);
    if (last === undefined) continue;
    if (response.fragment) {
      assert.ok(
        response.events.every((e) => e.kv.modRevision === last.kv.modRevision),
        `${name}: a fragment spans revisions`,
      );
    } else {
      assert.ok(
        (received[seenEvents]?.kv.modRevision ?? Infinity) > last.kv.modRevision,
        `${name}: a whole revision continued`,
      );
    }
  }
  if (w.ended === undefined && !w.cancelled) {
    assert.deepEqual(received, expected, name);
    return;
  }
  assert.deepEqual(received, expected.slice(0, received.length), `${name}: not a prefix`);
  if (w.ended === undefined) return;
  const resume = w.ended.resumeRevision;
  const before = expected.filter((e) => e.kv.modRevision < resume).length;
  assert.ok(received.length >= before, `${name}: missed events before its resume revision ${resume}`);
  assert.ok(
    received.every((e) => e.kv.modRevision <= resume),
    `${name}: got events past its resume revision`,
  );
  assert.ok(resume >= w.startRevision, `${name}: resumes before its start`);
  if (w.ended.reason === 'compacted') {
    const at = w.ended.compactRevision ?? Infinity;
    assert.ok(at <= compactRevision && resume <= at, `${name}: compacted notice ${JSON.stringify(w.ended)}`);
  }
}

const TALLY = new Map<string, number>();
const count = (name: string) => TALLY.set(name, (TALLY.get(name) ?? 0) + 1);

describe('WatchHub against the reference model', () => {
  it('delivers every watcher exactly its events of the history, in order, no gaps, no duplicates', () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 70, size: 'max' }),
        fc.record({
          eventsBufferedMax: fc.constantFrom(4, 8, 1000),
          replayRecordsPerStepMax: fc.integer({ min: 1, max: 4 }),
        }),
        (ops, limits) => {
          const model = new Model(10_000);
          const store = new MvccStore();
          const hub = new WatchHub(store, { ...limits, eventsPerTakeMax: 3, watchersMax: 12 });
          const history: Event[] = [];
          const tracked: Tracked[] = [];
          const live = () => tracked.filter((w) => w.ended === undefined && !w.cancelled);
          const take = (w: Tracked, eventsMax: number) => {
            const response = hub.take(w.id, eventsMax);
            assert.ok(response.events.length <= eventsMax);
            assert.equal(response.revision, store.revision);
            w.responses.push(response);
            if (response.fragment) count('fragment');
            if (response.cancelled !== undefined) {
              w.ended = response.cancelled;
              count(`ended ${response.cancelled.reason}`);
            }
          };
          for (const op of ops) {
            const events = write(model, store, op);
            if (events !== undefined) {
              history.push(...events);
              hub.notify(events, store.revision);
            } else if (op.kind === 'watch') {
              const startRevision = op.start === 'now' ? 0 : Math.max(1, model.revision + op.start);
              const request = {
                key: op.key,
                ...(op.rangeEnd === undefined ? {} : { rangeEnd: op.rangeEnd }),
                startRevision,
                prevKv: op.prevKv,
                filters: op.filters,
              };
              if (hub.size === hub.limits.watchersMax) {
                assert.throws(() => hub.watch(request), { code: 'LIMIT_EXCEEDED' });
              } else if (startRevision !== 0 && startRevision <= model.compactRevision) {
                assert.throws(() => hub.watch(request), CompactedError);
                count('watch compacted');
              } else {
                const id = hub.watch(request);
                const start = startRevision || model.revision + 1;
                if (start <= model.revision) count('watch from the past');
                tracked.push({
                  ...request,
                  id,
                  rangeEnd: op.rangeEnd,
                  startRevision: start,
                  responses: [],
                  cancelled: false,
                });
              }
            } else if (op.kind === 'take') {
              const w = live()[op.watcher % Math.max(1, live().length)];
              if (w !== undefined) take(w, op.eventsMax);
            } else if (op.kind === 'cancel') {
              const w = live()[op.watcher % Math.max(1, live().length)];
              if (w !== undefined && op.watcher % 3 === 0) {
                assert.equal(hub.cancel(w.id), true);
                w.cancelled = true;
              }
            } else if (op.kind === 'compact') {
              const revision = model.revision - op.back;
              if (revision > model.compactRevision && revision >= 1) {
                store.compact({ revision });
                model.compactRevision = revision;
                hub.onCompact();
              }
            } else if (op.kind === 'compactStep') {
              store.compactStep(2);
            }
            store.checkInvariants();
            hub.checkInvariants();
            assert.equal(hub.revision, model.revision);
          }
          // Drain every watcher: each must catch up and end synced, or be ended by the hub.
          for (const w of live()) {
            for (let i = 0; w.ended === undefined && hub.progress(w.id) === undefined; i++) {
              assert.ok(i < 500, `watcher ${w.id} never caught up`);
              take(w, 3);
              hub.checkInvariants();
            }
            if (w.ended === undefined) assert.equal(hub.progress(w.id), model.revision);
          }
          for (const w of tracked) {
            checkWatcher(history, w, model.compactRevision);
            if (w.ended === undefined && !w.cancelled && w.responses.some((r) => r.events.length > 0)) {
              count('watcher with events');
            }
          }
        },
      ),
      { numRuns: 150 },
    );
    for (const name of [
      'fragment',
      'ended slow',
      'ended compacted',
      'watch compacted',
      'watch from the past',
      'watcher with events',
    ]) {
      assert.ok((TALLY.get(name) ?? 0) >= 5, `${name} happened ${TALLY.get(name) ?? 0} times`);
    }
  });
});
