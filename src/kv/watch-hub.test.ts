import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CompactedError, InvalidArgumentError, LimitExceededError } from '../base/errors.ts';
import { prefixEnd, RANGE_END_ALL } from './key-span.ts';
import type { WatchHubOptions } from './limits.ts';
import { MvccStore } from './mvcc-store.ts';
import type { Event, WatchResponse } from './types.ts';
import { WatchHub } from './watch-hub.ts';

const text = (value: string) => new TextEncoder().encode(value);
const str = (value: Uint8Array) => new TextDecoder().decode(value);

/** A store and its hub, driven as the Raft driver would: every write told to the hub, invariants after each. */
class Driver {
  readonly store = new MvccStore();
  readonly hub: WatchHub;
  constructor(options: WatchHubOptions = {}) {
    this.hub = new WatchHub(this.store, options);
  }
  #told(events: readonly Event[]): void {
    this.hub.notify(events, this.store.revision);
    this.check();
  }
  put(key: string, value = 'v'): void {
    this.#told(this.store.put({ key: text(key), value: text(value) }).events);
  }
  del(key: string, rangeEnd?: Uint8Array): void {
    this.#told(
      this.store.deleteRange(rangeEnd === undefined ? { key: text(key) } : { key: text(key), rangeEnd })
        .events,
    );
  }
  take(id: number, eventsMax?: number): WatchResponse {
    const response = this.hub.take(id, eventsMax);
    this.check();
    return response;
  }
  check(): void {
    this.store.checkInvariants();
    this.hub.checkInvariants();
  }
}

/** Events as `type key=value@revision`, short to compare. */
function brief(events: readonly Event[]): string[] {
  return events.map(
    (e) => `${e.type} ${str(e.kv.key)}${e.type === 'put' ? `=${str(e.kv.value)}` : ''}@${e.kv.modRevision}`,
  );
}

/** Takes until the watcher has nothing more, returning every event. */
function drain(driver: Driver, id: number, eventsMax?: number): Event[] {
  const events: Event[] = [];
  for (let i = 0; i < 1000; i++) {
    const response = driver.take(id, eventsMax);
    events.push(...response.events);
    if (response.cancelled !== undefined || driver.hub.progress(id) !== undefined) return events;
  }
  throw new Error('the watcher never caught up');
}

describe('WatchHub live events', () => {
  it('delivers the changes to one key, and only them', () => {
    const d = new Driver();
    const id = d.hub.watch({ key: text('a') });
    d.put('a', '1');
    d.put('ab', '1');
    d.put('b', '1');
    d.del('a');
    assert.deepEqual(brief(d.take(id).events), ['put a=1@2', 'delete a@5']);
    assert.deepEqual(d.take(id).events, []);
  });

  it('delivers a prefix and a range [key, rangeEnd), and everything from key with RANGE_END_ALL', () => {
    const d = new Driver();
    const prefix = d.hub.watch({ key: text('a'), rangeEnd: prefixEnd(text('a')) });
    const range = d.hub.watch({ key: text('ab'), rangeEnd: text('b') });
    const all = d.hub.watch({ key: text('ab'), rangeEnd: RANGE_END_ALL });
    for (const key of ['a', 'ab', 'abc', 'b', 'c']) d.put(key);
    assert.deepEqual(brief(d.take(prefix).events), ['put a=v@2', 'put ab=v@3', 'put abc=v@4']);
    assert.deepEqual(brief(d.take(range).events), ['put ab=v@3', 'put abc=v@4']);
    assert.deepEqual(brief(d.take(all).events), ['put ab=v@3', 'put abc=v@4', 'put b=v@5', 'put c=v@6']);
  });

  it('leaves prevKv out unless asked, and fills it when asked', () => {
    const d = new Driver();
    const plain = d.hub.watch({ key: text('a') });
    const withPrev = d.hub.watch({ key: text('a'), prevKv: true });
    d.put('a', '1');
    d.put('a', '2');
    d.del('a');
    assert.ok(d.take(plain).events.every((e) => e.prevKv === undefined));
    const events = d.take(withPrev).events;
    assert.deepEqual(
      events.map((e) => (e.prevKv === undefined ? undefined : str(e.prevKv.value))),
      [undefined, '1', '2'],
    );
  });

  it('applies the noPut and noDelete filters', () => {
    const d = new Driver();
    const noPut = d.hub.watch({ key: text('a'), filters: ['noPut'] });
    const noDelete = d.hub.watch({ key: text('a'), filters: ['noDelete'] });
    d.put('a');
    d.del('a');
    assert.deepEqual(brief(d.take(noPut).events), ['delete a@3']);
    assert.deepEqual(brief(d.take(noDelete).events), ['put a=v@2']);
  });

  it('keeps the changes of one revision together, and a transaction as one revision', () => {
    const d = new Driver();
    const id = d.hub.watch({ key: text('a'), rangeEnd: RANGE_END_ALL });
    d.put('a');
    const { events } = d.store.txn({
      success: [
        { type: 'put', request: { key: text('b'), value: text('1') } },
        { type: 'put', request: { key: text('c'), value: text('1') } },
      ],
    });
    d.hub.notify(events, d.store.revision);
    d.put('d');
    // Two events fit: revision 2 alone, since revision 3 would not fit whole.
    const first = d.take(id, 2);
    assert.deepEqual([brief(first.events), first.fragment], [['put a=v@2'], false]);
    assert.deepEqual(brief(d.take(id, 2).events), ['put b=1@3', 'put c=1@3']);
    assert.deepEqual(brief(d.take(id, 2).events), ['put d=v@4']);
  });

  it('splits a revision larger than a take into fragments, marked', () => {
    const d = new Driver();
    for (const key of ['a', 'b', 'c']) d.put(key);
    const id = d.hub.watch({ key: text('a'), rangeEnd: RANGE_END_ALL });
    d.del('a', RANGE_END_ALL);
    const pieces = [d.take(id, 2), d.take(id, 2)];
    assert.deepEqual(
      pieces.map((p) => [brief(p.events), p.fragment]),
      [
        [['delete a@5', 'delete b@5'], true],
        [['delete c@5'], false],
      ],
    );
  });

  it('starts a watch from the future at its revision', () => {
    const d = new Driver();
    const id = d.hub.watch({ key: text('a'), startRevision: 4 });
    d.put('a', '1');
    d.put('a', '2');
    d.put('a', '3');
    assert.deepEqual(brief(d.take(id).events), ['put a=3@4']);
  });

  it('gives ids 1, 2, 3 in order, and forgets a cancelled watcher', () => {
    const d = new Driver();
    const ids = [
      d.hub.watch({ key: text('a') }),
      d.hub.watch({ key: text('b') }),
      d.hub.watch({ key: text('c') }),
    ];
    assert.deepEqual(ids, [1, 2, 3]);
    assert.equal(d.hub.cancel(2), true);
    assert.equal(d.hub.cancel(2), false);
    d.put('b');
    d.check();
    assert.equal(d.hub.size, 2);
    assert.throws(() => d.hub.take(2), InvalidArgumentError);
    assert.equal(d.hub.watch({ key: text('d') }), 4);
  });
});

describe('WatchHub catching up from the past', () => {
  it('replays history from the start revision, then goes on live, in order, with prevKv', () => {
    const d = new Driver();
    d.put('a', '1'); // 2
    d.put('b', '1'); // 3
    d.put('a', '2'); // 4
    const id = d.hub.watch({ key: text('a'), startRevision: 3, prevKv: true });
    assert.equal(d.hub.progress(id), undefined);
    d.put('a', '3'); // 5, live while the watcher has not caught up
    const events = drain(d, id);
    assert.deepEqual(brief(events), ['put a=2@4', 'put a=3@5']);
    assert.deepEqual(
      events.map((e) => str(e.prevKv?.value ?? text('-'))),
      ['1', '2'],
    );
    d.put('a', '4');
    assert.deepEqual(brief(d.take(id).events), ['put a=4@6']);
  });

  it('catches up in bounded steps: one take visits at most replayRecordsPerStepMax versions', () => {
    const d = new Driver({ replayRecordsPerStepMax: 4 });
    for (let i = 0; i < 20; i++) d.put('noise', String(i));
    d.put('a', '1');
    const id = d.hub.watch({ key: text('a'), startRevision: 1 });
    const sizes: number[] = [];
    for (let i = 0; i < 6; i++) sizes.push(d.take(id).events.length);
    // 21 versions, 4 a step: the put of a comes in the sixth take.
    assert.deepEqual(sizes, [0, 0, 0, 0, 0, 1]);
    assert.equal(d.hub.progress(id), d.store.revision);
  });

  it('refuses a start at or below the compacted revision with COMPACTED', () => {
    const d = new Driver();
    for (let i = 0; i < 4; i++) d.put('a', String(i));
    d.store.compact({ revision: 3 });
    d.hub.onCompact();
    assert.throws(
      () => d.hub.watch({ key: text('a'), startRevision: 3 }),
      (error: unknown) => error instanceof CompactedError && error.details?.['compactRevision'] === 3,
    );
    assert.deepEqual(brief(drain(d, d.hub.watch({ key: text('a'), startRevision: 4 }))), [
      'put a=2@4',
      'put a=3@5',
    ]);
  });

  it('ends a watcher still catching up below a new compaction, with the compacted revision', () => {
    const d = new Driver({ replayRecordsPerStepMax: 2 });
    for (let i = 0; i < 6; i++) d.put('a', String(i)); // 2..7
    const id = d.hub.watch({ key: text('a'), startRevision: 2 });
    assert.deepEqual(brief(d.take(id, 1).events), ['put a=0@2']);
    d.store.compact({ revision: 5 });
    d.hub.onCompact();
    d.check();
    const last = d.take(id);
    assert.equal(last.cancelled?.reason, 'compacted');
    assert.equal(last.cancelled?.compactRevision, 5);
    assert.equal(last.cancelled?.resumeRevision, 3);
    assert.throws(() => d.hub.take(id), InvalidArgumentError);
  });

  it('notices a compaction at take even when onCompact was not called', () => {
    const d = new Driver({ replayRecordsPerStepMax: 1 });
    for (let i = 0; i < 4; i++) d.put('a', String(i));
    const id = d.hub.watch({ key: text('a'), startRevision: 2 });
    d.store.compact({ revision: 4 });
    assert.equal(d.take(id).cancelled?.reason, 'compacted');
  });

  it('ends at take a watcher whose catch-up stands exactly at the compacted revision', () => {
    const d = new Driver({ replayRecordsPerStepMax: 1 });
    for (let i = 0; i < 4; i++) d.put('a', String(i)); // 2..5
    const id = d.hub.watch({ key: text('a'), startRevision: 2 });
    assert.deepEqual(brief(d.take(id).events), ['put a=0@2']);
    // The catch-up stands at 3; a compaction at 3 may have freed a change of revision 3.
    d.store.compact({ revision: 3 });
    const last = d.take(id);
    assert.deepEqual([last.cancelled?.reason, last.cancelled?.resumeRevision], ['compacted', 3]);
  });

  it('reads the past only through the revision it was told of, so a write told later comes once', () => {
    const d = new Driver();
    d.put('a', '1');
    // Applied but not yet told: a watch made now must not read it from the log as well.
    const { events } = d.store.put({ key: text('a'), value: text('2') });
    const id = d.hub.watch({ key: text('a'), startRevision: 2 });
    assert.deepEqual(brief(d.take(id).events), ['put a=1@2']);
    d.hub.notify(events, d.store.revision);
    d.check();
    assert.deepEqual(brief(d.take(id).events), ['put a=2@3']);
    assert.equal(d.hub.progress(id), 3);
  });

  it('keeps a synced watcher when compaction passes it: its events are already buffered', () => {
    const d = new Driver();
    const id = d.hub.watch({ key: text('a') });
    d.put('a', '1');
    d.put('a', '2');
    d.store.compact({ revision: 3 });
    d.hub.onCompact();
    assert.deepEqual(brief(d.take(id).events), ['put a=1@2', 'put a=2@3']);
  });
});

describe('WatchHub slow consumers and progress', () => {
  it('ends a watcher pushed past its buffer, with the revision to resume from, and resuming misses nothing', () => {
    const d = new Driver({ eventsBufferedMax: 3, eventsPerTakeMax: 3 });
    const slow = d.hub.watch({ key: text('a') });
    const other = d.hub.watch({ key: text('a') });
    d.put('a', '1'); // 2
    assert.deepEqual(brief(d.take(slow, 1).events), ['put a=1@2']);
    for (let i = 2; i <= 5; i++) {
      d.put('a', String(i)); // 3..6
      if (i <= 4) d.take(other); // the other consumer keeps up
    }
    const ended = d.take(slow);
    assert.equal(ended.cancelled?.reason, 'slow');
    assert.equal(ended.cancelled?.resumeRevision, 3);
    assert.match(ended.cancelled?.message ?? '', /fell behind.*watch again from revision 3/);
    // The other watcher was not held back.
    assert.deepEqual(brief(d.take(other).events), ['put a=5@6']);
    const resumed = d.hub.watch({ key: text('a'), startRevision: 3 });
    assert.deepEqual(brief(drain(d, resumed)), ['put a=2@3', 'put a=3@4', 'put a=4@5', 'put a=5@6']);
  });

  it('keeps a watcher whose buffer is exactly full, in events or bytes', () => {
    // A put of key a with a 100-byte value, no prevKv: 1 + 100 + 48 bytes.
    for (const options of [{ eventsBufferedMax: 3, eventsPerTakeMax: 3 }, { bufferBytesMax: 3 * 149 }]) {
      const d = new Driver(options);
      const id = d.hub.watch({ key: text('a') });
      for (let i = 0; i < 3; i++) d.put('a', 'x'.repeat(100));
      const full = d.take(id);
      assert.deepEqual([full.events.length, full.cancelled], [3, undefined]);
      for (let i = 0; i < 4; i++) d.put('a', 'x'.repeat(100));
      assert.equal(d.take(id).cancelled?.reason, 'slow');
    }
  });

  it('ends a watcher past its buffer bytes', () => {
    const d = new Driver({ bufferBytesMax: 200 });
    const id = d.hub.watch({ key: text('a') });
    d.put('a', 'x'.repeat(100));
    assert.equal(d.hub.progress(id), undefined);
    d.put('a', 'y'.repeat(100));
    assert.equal(d.take(id).cancelled?.reason, 'slow');
  });

  it('reports progress only for a synced watcher with nothing waiting', () => {
    const d = new Driver();
    const id = d.hub.watch({ key: text('a') });
    assert.equal(d.hub.progress(id), 1);
    d.put('b');
    assert.equal(d.hub.progress(id), 2);
    d.put('a');
    assert.equal(d.hub.progress(id), undefined);
    d.take(id);
    assert.equal(d.hub.progress(id), 3);
  });
});

describe('WatchHub checks', () => {
  it('bounds the watchers with watchersMax', () => {
    const d = new Driver({ watchersMax: 2 });
    d.hub.watch({ key: text('a') });
    d.hub.watch({ key: text('b') });
    assert.throws(
      () => d.hub.watch({ key: text('c') }),
      (error: unknown) => error instanceof LimitExceededError && error.message.includes('watchersMax'),
    );
  });

  it('bounds a take with eventsPerTakeMax', () => {
    const d = new Driver({ eventsPerTakeMax: 5 });
    const id = d.hub.watch({ key: text('a') });
    assert.throws(() => d.hub.take(id, 6), LimitExceededError);
    assert.throws(() => d.hub.take(id, 0), InvalidArgumentError);
  });

  it('refuses bad watches, and bad limits', () => {
    const d = new Driver();
    assert.throws(() => d.hub.watch({ key: new Uint8Array(0) }), InvalidArgumentError);
    assert.throws(() => d.hub.watch({ key: text('a'), startRevision: -1 }), InvalidArgumentError);
    assert.throws(
      () => d.hub.watch({ key: text('a'), filters: ['noPuts' as 'noPut'] }),
      InvalidArgumentError,
    );
    assert.throws(
      () => new WatchHub(d.store, { eventsPerTakeMax: 10, eventsBufferedMax: 5 }),
      InvalidArgumentError,
    );
    assert.throws(() => new WatchHub(d.store, { watchersMax: 0 }), InvalidArgumentError);
  });

  it('refuses a notify that skips or repeats a revision, and changes nothing then', () => {
    const d = new Driver();
    const id = d.hub.watch({ key: text('a') });
    const first = d.store.put({ key: text('a'), value: text('1') }).events;
    const second = d.store.put({ key: text('a'), value: text('2') }).events;
    assert.throws(() => d.hub.notify(second, 3), /Cannot notify revision 3/);
    d.hub.notify(first, 2);
    assert.throws(() => d.hub.notify(first, 2), InvalidArgumentError);
    assert.throws(() => d.hub.notify(first, 3), /an event is of another revision/);
    d.hub.notify(second, 3);
    d.hub.notify([], 3);
    d.check();
    assert.deepEqual(brief(d.take(id).events), ['put a=1@2', 'put a=2@3']);
  });
});
