/**
 * `WatchFeed` against a scripted member watch and a fake gRPC stream: how
 * the member's items become etcd responses (whole revisions, fragments),
 * how a watcher the member ended as too slow is watched again without a
 * gap or a repeat, and that a full stream holds the feed back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnavailableError } from '../../base/errors.ts';
import { RecordingLogger } from '../../base/logger.ts';
import type { Event, WatchCancel, WatchResponse } from '../../kv/types.ts';
import type { WatchCall } from '../../server/api.ts';
import type { HeaderMaker } from './header.ts';
import { StreamWriter } from './stream-writer.ts';
import { ETCD_WATCH_FRAGMENT_BYTES_MAX } from './watch-assembler.ts';
import { ETCD_WATCH_REOPEN_DELAY_MS, WatchFeed } from './watch-feed.ts';
import { FakeServerStream, put } from './watch-fixtures.suite.ts';
import type { WireWatchResponse } from './watch-wire.ts';

const item = (events: Event[], fragment = false, cancelled?: WatchCancel): WatchResponse => ({
  watchId: 1,
  revision: 50,
  events,
  fragment,
  ...(cancelled === undefined ? {} : { cancelled }),
});
const created = (revision: number): WatchResponse => ({ watchId: 1, revision, events: [], fragment: false });
const header: HeaderMaker = (revision) => ({
  cluster_id: 1,
  member_id: 2,
  revision: revision ?? 99,
  raft_term: 3,
});

/**
 * The member's watches, scripted: each open takes the next script (an error in it is thrown); a script
 * ends by waiting for the abort.
 */
function scriptedMember(scripts: (WatchResponse | Error)[][]) {
  const calls: WatchCall[] = [];
  let taken = 0;
  const open = (call: WatchCall, signal: AbortSignal) => {
    calls.push(call);
    const script = scripts[calls.length - 1] ?? [];
    return (async function* () {
      for (const next of script) {
        taken++;
        if (next instanceof Error) throw next;
        yield next;
      }
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    })();
  };
  return { open, calls, taken: () => taken };
}

function feedOf(
  scripts: (WatchResponse | Error)[][],
  options: { fragment?: boolean; startRevision?: number } = {},
) {
  const member = scriptedMember(scripts);
  const call = new FakeServerStream<WireWatchResponse>();
  const stop = new AbortController();
  const feed = new WatchFeed({
    id: 4,
    call: {
      key: new TextEncoder().encode('k'),
      ...(options.startRevision === undefined ? {} : { startRevision: options.startRevision }),
    },
    fragment: options.fragment === true,
    open: member.open,
    writer: new StreamWriter(call.call, stop.signal),
    header,
    logger: new RecordingLogger(),
    signal: stop.signal,
  });
  return { feed, call, member };
}

const keysOf = (responses: readonly WireWatchResponse[]) =>
  responses.map((r) => r.events?.map((e) => `${new TextDecoder().decode(e.kv.key)}@${e.kv.mod_revision}`));

async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
  assert.ok(done(), 'timed out');
}

describe('WatchFeed', () => {
  it('opens at the created revision and writes whole revisions, headed by their revision', async () => {
    const { feed, call } = feedOf([
      [created(10), item([put('a', 11), put('b', 11)], true), item([put('c', 11), put('d', 12)])],
    ]);
    assert.equal(await feed.open(), 10);
    assert.equal(feed.sentThrough, 10);
    const running = feed.run();
    await until(() => call.written.length === 1);
    assert.deepEqual(keysOf(call.written), [['a@11', 'b@11', 'c@11', 'd@12']]);
    assert.deepEqual([call.written[0]?.watch_id, call.written[0]?.header.revision], [4, 12]);
    assert.equal(feed.sentThrough, 12);
    feed.stop();
    await running;
  });

  it('a revision that may continue goes out as it stands when the member has nothing more', async () => {
    const { feed, call } = feedOf([[created(10), item([put('a', 11)], true)]]);
    await feed.open();
    const running = feed.run();
    await until(() => call.written.length === 1);
    assert.deepEqual(keysOf(call.written), [['a@11']]);
    // Not counted as whole: its rest may still come.
    assert.equal(feed.sentThrough, 10);
    feed.stop();
    await running;
  });

  it('a watcher ended as too slow is watched again from its first revision not sent whole, with no repeat', async () => {
    const slow: WatchCancel = { reason: 'slow', message: 'fell behind', resumeRevision: 11 };
    const { feed, call, member } = feedOf([
      [created(10), item([put('a', 11), put('b', 11)], true), item([], false, slow)],
      [created(20), item([put('a', 11), put('b', 11), put('c', 11), put('d', 12)])],
    ]);
    await feed.open();
    const running = feed.run();
    await until(() => call.written.length === 1);
    assert.deepEqual(
      member.calls.map((c) => c.startRevision),
      [undefined, 11],
    );
    assert.deepEqual(keysOf(call.written), [['a@11', 'b@11', 'c@11', 'd@12']]);
    assert.ok(call.written.every((r) => r.canceled !== true));
    feed.stop();
    await running;
  });

  it('a watch the member fails (a snapshot install) is watched again after a pause, from where it stands', async () => {
    const { feed, call, member } = feedOf([
      [created(10), item([put('a', 11)]), new UnavailableError('installing a snapshot')],
      [created(30), item([put('b', 12)])],
    ]);
    await feed.open();
    const started = performance.now();
    const running = feed.run();
    await until(() => call.written.length === 2);
    assert.ok(performance.now() - started >= ETCD_WATCH_REOPEN_DELAY_MS * 0.9);
    assert.deepEqual(
      member.calls.map((c) => c.startRevision),
      [undefined, 12],
    );
    assert.deepEqual(keysOf(call.written), [['a@11'], ['b@12']]);
    feed.stop();
    await running;
  });

  it('a compaction ends it: held events first, then canceled with compact_revision', async () => {
    const compacted: WatchCancel = {
      reason: 'compacted',
      message: 'gone',
      resumeRevision: 11,
      compactRevision: 30,
    };
    const { feed, call } = feedOf([[created(10), item([put('a', 11)], true), item([], false, compacted)]]);
    await feed.open();
    await feed.run();
    assert.deepEqual(keysOf(call.written), [['a@11'], undefined]);
    assert.deepEqual(call.written[1], {
      header: header(0), // etcd's compacted answer carries no revision
      watch_id: 4,
      canceled: true,
      compact_revision: 30,
    });
    assert.equal(feed.stopped, true);
  });

  it('with fragment, a release past the message size goes in pieces, all but the last marked', async () => {
    const big = Math.floor(ETCD_WATCH_FRAGMENT_BYTES_MAX * 0.6);
    const { feed, call } = feedOf(
      [[created(10), item([put('a', 11, big), put('b', 11, big), put('c', 11, big)])]],
      {
        fragment: true,
      },
    );
    await feed.open();
    const running = feed.run();
    await until(() => call.written.length === 3);
    assert.deepEqual(keysOf(call.written), [['a@11'], ['b@11'], ['c@11']]);
    assert.deepEqual(
      call.written.map((r) => r.fragment),
      [true, true, undefined],
    );
    feed.stop();
    await running;
  });

  it('a full stream holds it back: the member’s next item is not taken until gRPC drains', async () => {
    const { feed, call, member } = feedOf([[created(10), item([put('a', 11)]), item([put('b', 12)])]]);
    await feed.open();
    call.full = true;
    const running = feed.run();
    await until(() => call.written.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(member.taken(), 2);
    call.full = false;
    call.emit('drain');
    await until(() => call.written.length === 2);
    assert.deepEqual(keysOf(call.written), [['a@11'], ['b@12']]);
    feed.stop();
    await running;
  });

  it('a past start revision counts as sent through the revision before it; stopped, it writes nothing', async () => {
    const { feed, call } = feedOf([[created(40), item([put('a', 25)])]], { startRevision: 25 });
    await feed.open();
    assert.equal(feed.sentThrough, 24);
    feed.stop();
    await feed.run();
    assert.deepEqual(call.written, []);
  });
});
