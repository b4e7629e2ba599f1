/**
 * etcd's Watch stream against a 3-member cluster of `tessera start`
 * processes: through the `etcd3` npm client unchanged (its watchers, and
 * its raw gRPC stream for what the watchers hide: ids, refusals, progress
 * requests, fragments, a client that stops reading), and through
 * `etcdctl watch`, whose exact output is what it prints against etcd.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import {
  type Etcd3,
  EtcdError,
  type IKeyValue,
  type IWatchRequest,
  type IWatchResponse,
  type Watcher,
} from 'etcd3';
import type { TestCluster, TestMember } from '../../../test/helpers/cluster.ts';
import {
  ETCDCTL_ENV,
  ETCDCTL_INSTALLED,
  ETCDCTL_MISSING,
  etcd3ClientOf,
  startEtcdCluster,
} from './etcd-cluster.suite.ts';
import { ETCD_WATCH_FRAGMENT_BYTES_MAX } from './watch-assembler.ts';

/** How long a test waits for what it expects before failing. */
const WAIT_MS = 20_000;

/** Resolves once `done()` holds, polling; fails after {@link WAIT_MS} saying what it waited for. */
async function until(done: () => boolean, what: () => string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits for as many events as `expected` holds, then checks they are those. */
async function assertEvents(seen: readonly string[], expected: readonly string[]): Promise<void> {
  await until(
    () => seen.length >= expected.length,
    () => seen.join(', '),
  );
  assert.deepEqual(seen, expected);
}

/** `etcdctl ARGS` against one member, running, its output gathered as it comes. */
function etcdctlProcess(endpoint: string, args: readonly string[]) {
  const child = spawn('etcdctl', ['--endpoints', endpoint, ...args], { env: ETCDCTL_ENV });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => {
    output.stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output.stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output, exited };
}

/** The events a watcher emits, as `put key=value (prev)` lines. */
function eventsOf(watcher: Watcher): string[] {
  const seen: string[] = [];
  // etcd3 passes `prev_kv` as decoded: null (not undefined, as typed) when the response has none.
  const line = (type: string) => (kv: IKeyValue, prev?: IKeyValue | null) =>
    seen.push(
      `${type} ${kv.key}=${kv.value}${prev === undefined || prev === null ? '' : ` (${prev.value})`}`,
    );
  watcher.on('put', line('put'));
  watcher.on('delete', line('delete'));
  return seen;
}

/** etcd's Watch stream as the `etcd3` client opens it, with every response it receives. */
interface RawWatch {
  readonly stream: ClientDuplexStream<IWatchRequest, IWatchResponse>;
  readonly responses: IWatchResponse[];
  /** Sends `request`, then resolves with the next `count` responses not yet taken. */
  ask(request: IWatchRequest, count?: number): Promise<IWatchResponse[]>;
  /** Resolves with the next `count` responses not yet taken. */
  take(count: number): Promise<IWatchResponse[]>;
}

/** Opens a Watch stream through `client`'s own gRPC definitions, below its watcher API. */
async function rawWatch(client: Etcd3): Promise<RawWatch> {
  const stream = (await client.watchClient.watch()) as unknown as ClientDuplexStream<
    IWatchRequest,
    IWatchResponse
  >;
  stream.on('error', () => {});
  const responses: IWatchResponse[] = [];
  stream.on('data', (response: IWatchResponse) => responses.push(response));
  let taken = 0;
  const take = async (count: number): Promise<IWatchResponse[]> => {
    await until(
      () => responses.length >= taken + count,
      () => `${count} responses after ${taken}, got ${JSON.stringify(responses.slice(taken))}`,
    );
    taken += count;
    return responses.slice(taken - count, taken);
  };
  return {
    stream,
    responses,
    take,
    ask: (request, count = 1) => {
      stream.write(request);
      return take(count);
    },
  };
}

/** An event as `Type key=value`, its previous value in parentheses. */
function rawEvent(event: NonNullable<IWatchResponse['events']>[number]): string {
  const prev = event.prev_kv === undefined || event.prev_kv === null ? '' : ` (${event.prev_kv.value})`;
  return `${event.type} ${event.kv.key}=${event.kv.value}${prev}`;
}

describe('etcd Watch', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let member: TestMember;
  let other: TestMember;
  const clients: Etcd3[] = [];
  const client = (of: TestMember = member): Etcd3 => {
    const made = etcd3ClientOf(of);
    clients.push(made);
    return made;
  };
  const revisionNow = async (): Promise<number> =>
    Number((await client(other).kv.range({ key: Buffer.from('\0') })).header.revision);

  before(async () => {
    cluster = await startEtcdCluster();
    const leader = await cluster.leader();
    // Watches are served by the member asked: a follower, with writes made through the leader.
    member = cluster.members.find((m) => m !== leader) as TestMember;
    other = leader;
  });

  after(async () => {
    for (const made of clients) made.close();
    await cluster?.destroy();
  });

  it('etcd3: a key watch gets puts and the delete in order, with previous values', async () => {
    const watcher = await client().watch().key('single/k').withPreviousKV().create();
    const seen = eventsOf(watcher);
    const writer = client(other);
    await writer.put('single/k').value('v1');
    await writer.put('single/other').value('x');
    await writer.put('single/k').value('v2');
    await writer.delete().key('single/k');
    await assertEvents(seen, ['put single/k=v1', 'put single/k=v2 (v1)', 'delete single/k= (v2)']);
    await watcher.cancel();
  });

  it('etcd3: a prefix watch gets only the keys under the prefix', async () => {
    const watcher = await client().watch().prefix('pre/').create();
    const seen = eventsOf(watcher);
    const writer = client(other);
    await writer.put('pre/a').value('1');
    await writer.put('prf').value('no');
    await writer.put('pre/b').value('2');
    await writer.put('pre0').value('no');
    await writer.delete().prefix('pre/');
    await assertEvents(seen, ['put pre/a=1', 'put pre/b=2', 'delete pre/a=', 'delete pre/b=']);
    await watcher.cancel();
  });

  it('etcd3: a watch from a past revision replays the history, then goes on live', async () => {
    const writer = client(other);
    const first = await writer.put('past/k').value('1').exec();
    await writer.put('past/k').value('2');
    await writer.delete().key('past/k');
    const watcher = await client().watch().key('past/k').startRevision(first.header.revision).create();
    const seen = eventsOf(watcher);
    await writer.put('past/k').value('3');
    await assertEvents(seen, ['put past/k=1', 'put past/k=2', 'delete past/k=', 'put past/k=3']);
    await watcher.cancel();
  });

  it('etcd3: many watchers share one stream, each gets its own events; a cancelled one gets no more', async () => {
    const etcd = client();
    const count = 50;
    const watchers = await Promise.all(
      Array.from({ length: count }, (_, i) => etcd.watch().key(`many/${i}`).create()),
    );
    assert.equal(new Set(watchers.map((w) => String(w.id))).size, count);
    const seen = watchers.map(eventsOf);
    const writer = client(other);
    await Promise.all(Array.from({ length: count }, (_, i) => writer.put(`many/${i}`).value(`v${i}`)));
    await until(
      () => seen.every((events) => events.length === 1),
      () => seen.map((events) => events.length).join(','),
    );
    assert.deepEqual(
      seen,
      seen.map((_, i) => [`put many/${i}=v${i}`]),
    );
    // Cancelled: its key's next change reaches the others' stream, not it.
    const [cancelled, kept] = watchers as [Watcher, Watcher];
    await cancelled.cancel();
    await writer.put('many/0').value('after');
    await writer.put('many/1').value('after');
    await until(
      () => seen[1]?.length === 2,
      () => String(seen[1]),
    );
    assert.deepEqual(seen[0], ['put many/0=v0']);
    assert.equal(seen[1]?.[1], 'put many/1=after');
    await Promise.all(watchers.filter((w) => w !== cancelled && w !== kept).map((w) => w.cancel()));
    await kept.cancel();
  });

  it('raw stream: ids from 0 or the client’s, etcd’s refusals, cancel, and progress requests', async () => {
    const raw = await rawWatch(client());
    const create = (key: string, more: Record<string, unknown> = {}): IWatchRequest => ({
      create_request: { key: Buffer.from(key), ...more },
    });
    const [a] = await raw.ask(create('ids/a'));
    const [b] = await raw.ask(create('ids/b'));
    const [c] = await raw.ask(create('ids/c', { watch_id: 7 }));
    assert.deepEqual(
      [a, b, c].map((r) => [r?.watch_id, r?.created, r?.canceled]),
      [
        ['0', true, false],
        ['1', true, false],
        ['7', true, false],
      ],
    );
    const [duplicate] = await raw.ask(create('ids/d', { watch_id: 7 }));
    assert.deepEqual(
      [duplicate?.watch_id, duplicate?.created, duplicate?.canceled, duplicate?.cancel_reason],
      ['-1', true, true, 'mvcc: duplicate watch ID provided on the WatchStream'],
    );
    const [empty] = await raw.ask(create('ids/z', { range_end: Buffer.from('ids/a') }));
    assert.deepEqual([empty?.watch_id, empty?.cancel_reason], ['-1', 'mvcc: watcher range is empty']);
    const [cancelled] = await raw.ask({ cancel_request: { watch_id: 1 } });
    assert.deepEqual([cancelled?.watch_id, cancelled?.canceled, cancelled?.created], ['1', true, false]);
    // An id the stream does not have is not answered: the next answer is the progress request's.
    raw.stream.write({ cancel_request: { watch_id: 99 } });
    const now = await revisionNow();
    const [progress] = await raw.ask({ progress_request: {} });
    assert.deepEqual(
      [
        progress?.watch_id,
        progress?.events,
        progress?.created,
        progress?.canceled,
        progress?.header.revision,
      ],
      ['-1', [], false, false, String(now)],
    );
    // The next automatic id is the next unused one, as etcd 3.4 and 3.5 pick it.
    const [next] = await raw.ask(create('ids/e'));
    assert.equal(next?.watch_id, '2');
    // A change reaches its watcher with the header of its revision.
    const put = await client(other).put('ids/a').value('x').exec();
    const [event] = await raw.take(1);
    assert.deepEqual(
      [event?.watch_id, event?.header.revision, event?.events.map(rawEvent)],
      ['0', put.header.revision, ['Put ids/a=x']],
    );
    // Watchers that have had nothing to send since: the progress revision stays where they are known to be.
    const [after] = await raw.ask({ progress_request: {} });
    assert.deepEqual([after?.watch_id, after?.header.revision], ['-1', String(now)]);
    raw.stream.cancel();
  });

  it('raw stream: with fragment, a revision past the message size comes in pieces; without, whole', async () => {
    const writer = client(other);
    const value = 'v'.repeat(100_000);
    const keys = 30;
    let written = 0;
    for (let i = 0; i < keys; i++) {
      const put = await writer
        .put(`frag/${String(i).padStart(2, '0')}`)
        .value(value)
        .exec();
      written = Number(put.header.revision);
    }
    const raw = await rawWatch(client());
    // From the revision after the puts: the watched member may not have applied them all yet, and
    // a put seen by a watcher would be one more response.
    const watch = (fragment: boolean): IWatchRequest => ({
      create_request: {
        key: Buffer.from('frag/'),
        range_end: Buffer.from('frag0'),
        prev_kv: true,
        fragment,
        start_revision: written + 1,
      },
    });
    const [pieces] = await raw.ask(watch(true));
    const [whole] = await raw.ask(watch(false));
    const deleted = await writer.delete().prefix('frag/').exec();
    const piecesOf = (id: string | undefined) => raw.responses.filter((r) => r.watch_id === id && !r.created);
    await until(
      () => piecesOf(whole?.watch_id).length === 1 && piecesOf(pieces?.watch_id).at(-1)?.fragment === false,
      () => `${raw.responses.length} responses`,
    );
    const fragments = piecesOf(pieces?.watch_id);
    assert.ok(fragments.length >= 2, `${fragments.length} fragments`);
    assert.deepEqual(
      fragments.map((r) => r.fragment),
      [...Array(fragments.length - 1).fill(true), false],
    );
    for (const fragment of fragments) {
      const bytes = fragment.events.reduce(
        (sum, e) => sum + e.kv.key.length + (e.prev_kv?.value.length ?? 0),
        0,
      );
      assert.ok(bytes <= ETCD_WATCH_FRAGMENT_BYTES_MAX, `a fragment of ${bytes} bytes`);
    }
    // The pieces are back to back on the stream: nothing of the other watcher between them.
    const first = raw.responses.indexOf(fragments[0] as IWatchResponse);
    assert.deepEqual(raw.responses.slice(first, first + fragments.length), fragments);
    const all = fragments.flatMap((r) => r.events);
    assert.equal(all.length, keys);
    assert.deepEqual(piecesOf(whole?.watch_id)[0]?.events.length, keys);
    for (const event of all) {
      assert.equal(event.type, 'Delete');
      assert.equal(event.kv.mod_revision, deleted.header.revision);
      assert.equal(event.prev_kv?.value.length, value.length);
    }
    raw.stream.cancel();
  });

  it('raw stream: a client that stops reading misses nothing and gets nothing twice once it reads again', async () => {
    const raw = await rawWatch(client());
    const [created] = await raw.ask({
      create_request: { key: Buffer.from('slow/'), range_end: Buffer.from('slow0') },
    });
    raw.stream.pause();
    // More changes than the member buffers for one watcher (WATCH_EVENTS_BUFFERED_MAX): it ends the
    // watcher as too slow, and the adapter watches again from the log, unseen by the client.
    const writer = client(other);
    const txns = 150;
    const puts = 128;
    for (let t = 0; t < txns; t++) {
      await writer.kv.txn({
        success: Array.from({ length: puts }, (_, p) => ({
          request_put: { key: Buffer.from(`slow/${t}/${p}`), value: Buffer.alloc(200, 'x') },
        })),
      });
    }
    raw.stream.resume();
    const events = () =>
      raw.responses.filter((r) => r.watch_id === created?.watch_id).flatMap((r) => r.events);
    await until(
      () => events().length >= txns * puts,
      () => `${events().length} events`,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const keys = events().map((e) => String(e.kv.key));
    const expected = Array.from({ length: txns }, (_, t) =>
      Array.from({ length: puts }, (_, p) => `slow/${t}/${p}`),
    );
    assert.deepEqual(keys, expected.flat());
    assert.ok(raw.responses.every((r) => !r.canceled));
    // It did fall behind, and was watched again (so the test shows the reopening is seamless).
    assert.ok(
      member.logs.some((line) => line.includes('etcd watch: watching again where the client stands')),
      'the member never ended the watcher as too slow',
    );
    raw.stream.cancel();
  });

  it('etcdctl watch --prefix --rev --prev-kv replays and follows a concurrent writer, line for line', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    const writer = client(other);
    const start = await writer.put('ctl/a').value('1').exec();
    await writer.put('ctl/a').value('2');
    const watch = etcdctlProcess(member.etcd as string, [
      'watch',
      'ctl/',
      '--prefix',
      '--rev',
      start.header.revision,
      '--prev-kv',
    ]);
    try {
      await writer.put('ctl/b').value('3');
      await writer.put('ctl/a').value('4');
      await writer.put('ctlx').value('not watched');
      await writer.delete().key('ctl/b');
      const expected = [
        ...['PUT', 'ctl/a', '1'],
        ...['PUT', 'ctl/a', '1', 'ctl/a', '2'],
        ...['PUT', 'ctl/b', '3'],
        ...['PUT', 'ctl/a', '2', 'ctl/a', '4'],
        ...['DELETE', 'ctl/b', '3', 'ctl/b', ''],
      ];
      const { output } = watch;
      await until(
        () => output.stdout.split('\n').length > expected.length,
        () => `${JSON.stringify(output.stdout)} ${output.stderr}`,
      );
      assert.equal(output.stdout, `${expected.join('\n')}\n`);
    } finally {
      watch.child.kill();
      await watch.exited;
    }
  });

  it('etcd3 and etcdctl: a watch from a compacted revision is cancelled with compact_revision', async (t) => {
    const writer = client(other);
    const old = await writer.put('compacted/k').value('old').exec();
    const latest = await writer.put('compacted/k').value('new').exec();
    await writer.kv.compact({ revision: latest.header.revision, physical: true });
    // The wire: created, then canceled with the compacted revision and no reason (as etcd).
    const raw = await rawWatch(client());
    const [created, canceled] = await raw.ask(
      { create_request: { key: Buffer.from('compacted/k'), start_revision: old.header.revision } },
      2,
    );
    assert.deepEqual([created?.created, created?.canceled], [true, false]);
    assert.deepEqual(
      [canceled?.watch_id, canceled?.canceled, canceled?.compact_revision, canceled?.cancel_reason],
      [created?.watch_id, true, latest.header.revision, ''],
    );
    raw.stream.cancel();
    // The etcd3 client: the watcher is created, then fails as its cancellation tells it.
    const watcher = await client().watch().key('compacted/k').startRevision(old.header.revision).create();
    const error = await new Promise<Error>((resolve) => watcher.once('error', resolve));
    assert.ok(error instanceof EtcdError, String(error));
    assert.match(error.message, /^Watcher canceled/);
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    const run = etcdctlProcess(member.etcd as string, ['watch', 'compacted/k', '--rev', old.header.revision]);
    const timer = setTimeout(() => run.child.kill(), WAIT_MS);
    const code = await run.exited;
    clearTimeout(timer);
    assert.equal(run.output.stdout, '');
    assert.match(
      run.output.stderr,
      /watch was canceled \(etcdserver: mvcc: required revision has been compacted\)/,
    );
    assert.notEqual(code, 0);
  });
});
