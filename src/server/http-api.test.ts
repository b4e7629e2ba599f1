import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  CompactedError,
  ConnectionLostError,
  DeadlineExceededError,
  type ErrorCode,
  InternalError,
  NotLeaderError,
  OutcomeUnknownError,
  RemoteError,
} from '../base/errors.ts';
import { RecordingLogger } from '../base/logger.ts';
import { REQUEST_BYTES_MAX, TXN_OPS_MAX } from '../kv/limits.ts';
import {
  HTTP_BODY_BYTES_MAX,
  HTTP_STATUS_BY_CODE,
  httpErrorOf,
  httpStatusOf,
  registerHttpApi,
} from './http-api.ts';
import { TesseraNode } from './node.ts';
import { clientHandlers } from './serve.ts';
import { LmdbState } from './state.ts';
import { memoryNodeStores } from './test-node-stores.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Member {
  readonly node: TesseraNode;
  readonly state: LmdbState;
  readonly app: FastifyInstance;
  readonly fillDisk: () => void;
  close(): Promise<void>;
}

/**
 * A single-member cluster on memory stores with the HTTP API on a fastify
 * instance (not listening). With `leader: false` its ticks are an hour
 * apart, so it never elects itself.
 */
async function startMember(options: { leader?: boolean } = {}): Promise<Member> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-http-'));
  dirs.push(dir);
  const { stores, fillDisk } = memoryNodeStores();
  const self = { name: 'solo', peer: '127.0.0.1:1', client: '127.0.0.1:2', http: '127.0.0.1:3' };
  const state = LmdbState.open(join(dir, 'state'));
  const node = await TesseraNode.start({
    self,
    initialCluster: new Map([[self.name, self.peer]]),
    initialClusterState: 'new',
    stores,
    state,
    logger: new RecordingLogger(),
    tickMs: options.leader === false ? 3_600_000 : 5,
  });
  const app = Fastify({ logger: false });
  registerHttpApi(app, node, { handlers: clientHandlers(node) });
  if (options.leader !== false) await until(() => node.status().role === 'leader', 'leadership');
  return {
    node,
    state,
    app,
    fillDisk,
    async close() {
      await app.close();
      await node.close();
    },
  };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const b64 = (text: string): string => Buffer.from(text).toString('base64');
const text = (base64: unknown): string => Buffer.from(base64 as string, 'base64').toString();

// biome-ignore lint/suspicious/noExplicitAny: answers are JSON read by shape in assertions.
type Json = any;

/** POSTs `body` as JSON (or `raw` bytes as given) and answers the status and parsed body. */
async function post(
  app: FastifyInstance,
  url: string,
  body: unknown,
  options: { raw?: string; contentType?: string } = {},
): Promise<{ status: number; body: Json }> {
  const response = await app.inject({
    method: 'POST',
    url,
    payload: options.raw ?? JSON.stringify(body),
    headers: { 'content-type': options.contentType ?? 'application/json' },
  });
  return { status: response.statusCode, body: response.body === '' ? undefined : response.json() };
}

async function ok(app: FastifyInstance, url: string, body: unknown): Promise<Json> {
  const { status, body: answer } = await post(app, url, body);
  assert.equal(status, 200, `${url} ${JSON.stringify(body)} answered ${status} ${JSON.stringify(answer)}`);
  return answer;
}

/** Asserts `url` refuses `body` with `status` and `code`, and that the store's revision did not move. */
async function refused(
  member: Member,
  url: string,
  body: unknown,
  expected: { status: number; code: string },
  options: { raw?: string; contentType?: string } = {},
): Promise<Json> {
  const revision = member.node.status().revision;
  const answer = await post(member.app, url, body, options);
  assert.equal(answer.status, expected.status, `${url} answered ${JSON.stringify(answer.body)}`);
  assert.equal(answer.body.code, expected.code, answer.body.message);
  assert.equal(typeof answer.body.message, 'string');
  assert.equal(member.node.status().revision, revision, 'a refused request changed the revision');
  return answer.body;
}

/** Reads an NDJSON response body one parsed line at a time. */
class LineReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = '';

  constructor(response: Response) {
    assert.ok(response.body !== null);
    this.#reader = response.body.getReader();
  }

  /** The next line parsed, or undefined when the stream ended. */
  async next(): Promise<Json> {
    for (;;) {
      const end = this.#buffer.indexOf('\n');
      if (end >= 0) {
        const line = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 1);
        return JSON.parse(line);
      }
      const { done, value } = await this.#reader.read();
      if (done) {
        assert.equal(this.#buffer, '', 'the stream ended inside a line');
        return undefined;
      }
      this.#buffer += this.#decoder.decode(value, { stream: true });
    }
  }
}

/**
 * The HTTP API of `member` on a real port (watches need one). It closes
 * connections at once when it closes: fetch keeps a spare connection open
 * beside a streaming one, which a plain close would wait on.
 */
async function listening(
  member: Member,
  options: { watchesPerConnectionMax?: number } = {},
): Promise<{ app: FastifyInstance; base: string }> {
  const app = Fastify({ logger: false, forceCloseConnections: true });
  registerHttpApi(app, member.node, { handlers: clientHandlers(member.node, options) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  assert.ok(typeof address === 'object' && address !== null);
  return { app, base: `http://127.0.0.1:${address.port}` };
}

function watch(base: string, body: unknown, signal: AbortSignal): Promise<Response> {
  return fetch(`${base}/v1/watch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
}

describe('registerHttpApi on a leader', () => {
  let member: Member;
  before(async () => {
    member = await startMember();
  });
  after(() => member.close());

  it('put, get, and range with prefix, limit and sort', async () => {
    const { app } = member;
    const first = await ok(app, '/v1/kv/put', { key: b64('kv/a'), value: b64('1') });
    assert.ok(Number.isSafeInteger(first.revision) && first.revision > 0);
    const again = await ok(app, '/v1/kv/put', { key: b64('kv/a'), value: b64('2'), prevKv: true });
    assert.equal(again.revision, first.revision + 1);
    assert.equal(text(again.prevKv.value), '1');
    await ok(app, '/v1/kv/put', { key: b64('kv/b'), value: b64('3') });
    await ok(app, '/v1/kv/put', { key: b64('kv/c'), value: b64('4') });
    await ok(app, '/v1/kv/put', { key: b64('kw'), value: b64('outside') });

    const got = await ok(app, '/v1/kv/range', { key: b64('kv/a') });
    assert.equal(got.count, 1);
    assert.deepEqual(
      { key: text(got.kvs[0].key), value: text(got.kvs[0].value), version: got.kvs[0].version },
      { key: 'kv/a', value: '2', version: 2 },
    );
    assert.equal(got.kvs[0].modRevision, again.revision);

    // The prefix kv/ is [kv/, kv0).
    const page = await ok(app, '/v1/kv/range', {
      key: b64('kv/'),
      rangeEnd: b64('kv0'),
      limit: 2,
      sortOrder: 'descend',
      sortTarget: 'key',
      serializable: true,
    });
    assert.deepEqual(
      page.kvs.map((kv: Json) => text(kv.key)),
      ['kv/c', 'kv/b'],
    );
    assert.equal(page.more, true);
    assert.equal(page.count, 3);
    const keysOnly = await ok(app, '/v1/kv/range', { key: b64('kv/'), rangeEnd: b64('kv0'), keysOnly: true });
    assert.deepEqual(
      keysOnly.kvs.map((kv: Json) => [text(kv.key), kv.value]),
      [
        ['kv/a', ''],
        ['kv/b', ''],
        ['kv/c', ''],
      ],
    );
    const past = await ok(app, '/v1/kv/range', { key: b64('kv/a'), revision: first.revision });
    assert.equal(text(past.kvs[0].value), '1');
  });

  it('deleterange deletes a span and returns the deleted keys with prevKv', async () => {
    const { app } = member;
    for (const key of ['del/a', 'del/b', 'del/c'])
      await ok(app, '/v1/kv/put', { key: b64(key), value: b64(key) });
    const deleted = await ok(app, '/v1/kv/deleterange', {
      key: b64('del/a'),
      rangeEnd: b64('del/c'),
      prevKv: true,
    });
    assert.equal(deleted.deleted, 2);
    assert.deepEqual(
      deleted.prevKvs.map((kv: Json) => [text(kv.key), text(kv.value)]),
      [
        ['del/a', 'del/a'],
        ['del/b', 'del/b'],
      ],
    );
    const left = await ok(app, '/v1/kv/range', { key: b64('del/'), rangeEnd: b64('del0') });
    assert.deepEqual(
      left.kvs.map((kv: Json) => text(kv.key)),
      ['del/c'],
    );
    const none = await ok(app, '/v1/kv/deleterange', { key: b64('del/zz') });
    assert.deepEqual(none, { revision: deleted.revision, deleted: 0, prevKvs: [] });
  });

  it('txn runs success when every compare passes and failure otherwise, with base64 inside', async () => {
    const { app } = member;
    await ok(app, '/v1/kv/put', { key: b64('txn/k'), value: b64('old') });
    const casFrom = (expected: string) => ({
      compare: [{ key: b64('txn/k'), target: 'value', result: 'equal', value: b64(expected) }],
      success: [
        { type: 'put', request: { key: b64('txn/k'), value: b64('new'), prevKv: true } },
        { type: 'range', request: { key: b64('txn/k') } },
      ],
      failure: [{ type: 'range', request: { key: b64('txn/k') } }],
    });
    const won = await ok(app, '/v1/kv/txn', casFrom('old'));
    assert.equal(won.succeeded, true);
    assert.deepEqual(
      won.responses.map((op: Json) => op.type),
      ['put', 'range'],
    );
    assert.equal(text(won.responses[0].response.prevKv.value), 'old');
    assert.equal(text(won.responses[1].response.kvs[0].value), 'new');

    const lost = await ok(app, '/v1/kv/txn', casFrom('old'));
    assert.equal(lost.succeeded, false);
    assert.equal(lost.revision, won.revision, 'the failure branch only read');
    assert.equal(lost.responses.length, 1);
    assert.equal(text(lost.responses[0].response.kvs[0].value), 'new');
  });

  it('compaction, then a read below it answers 410 COMPACTED', async () => {
    const { app } = member;
    const first = await ok(app, '/v1/kv/put', { key: b64('compact/k'), value: b64('1') });
    const second = await ok(app, '/v1/kv/put', { key: b64('compact/k'), value: b64('2') });
    const compacted = await ok(app, '/v1/kv/compaction', { revision: second.revision });
    assert.equal(compacted.revision, second.revision);
    const error = await refused(
      member,
      '/v1/kv/range',
      { key: b64('compact/k'), revision: first.revision },
      { status: 410, code: 'COMPACTED' },
    );
    assert.equal(error.details.compactRevision, second.revision);
    await refused(
      member,
      '/v1/kv/compaction',
      { revision: second.revision },
      { status: 410, code: 'COMPACTED' },
    );
    const current = await ok(app, '/v1/kv/range', { key: b64('compact/k'), revision: second.revision });
    assert.equal(text(current.kvs[0].value), '2');
  });

  it('leases: grant, keep-alive, time-to-live with keys, list, and revoke deleting the keys', async () => {
    const { app } = member;
    const granted = await ok(app, '/v1/lease/grant', { ttl: 30 });
    assert.ok(Number.isSafeInteger(granted.id) && granted.id > 0);
    assert.equal(granted.ttl, 30);
    const chosen = await ok(app, '/v1/lease/grant', { ttl: 30, id: 4242 });
    assert.equal(chosen.id, 4242);
    await refused(
      member,
      '/v1/lease/grant',
      { ttl: 30, id: 4242 },
      { status: 400, code: 'INVALID_ARGUMENT' },
    );
    await ok(app, '/v1/kv/put', { key: b64('lease/a'), value: b64('1'), lease: granted.id });
    await ok(app, '/v1/kv/put', { key: b64('lease/b'), value: b64('2'), lease: granted.id });

    const kept = await ok(app, '/v1/lease/keepalive', { id: granted.id });
    assert.deepEqual(kept, { revision: member.node.status().revision, id: granted.id, ttl: 30 });
    const live = await ok(app, '/v1/lease/timetolive', { id: granted.id, keys: true });
    assert.equal(live.grantedTtl, 30);
    assert.ok(live.ttl > 0 && live.ttl <= 30, `ttl ${live.ttl}`);
    assert.deepEqual(live.keys.map(text), ['lease/a', 'lease/b']);
    assert.deepEqual((await ok(app, '/v1/lease/timetolive', { id: granted.id })).keys, []);
    assert.deepEqual(await ok(app, '/v1/lease/timetolive', { id: 999_999 }), {
      id: 999_999,
      ttl: -1,
      grantedTtl: 0,
      keys: [],
    });
    const list = await ok(app, '/v1/lease/leases', {});
    assert.deepEqual(
      list.leases,
      [granted.id, 4242].sort((a, b) => a - b),
    );
    const noBody = await member.app.inject({ method: 'POST', url: '/v1/lease/leases' });
    assert.deepEqual(noBody.json(), list);

    const revoked = await ok(app, '/v1/lease/revoke', { id: granted.id });
    assert.equal(revoked.deleted, 2);
    const gone = await ok(app, '/v1/kv/range', { key: b64('lease/'), rangeEnd: b64('lease0') });
    assert.equal(gone.count, 0);
    const keepGone = await refused(
      member,
      '/v1/lease/keepalive',
      { id: granted.id },
      { status: 400, code: 'INVALID_ARGUMENT' },
    );
    assert.equal(keepGone.details.reason, 'LEASE_NOT_FOUND');
    await ok(app, '/v1/lease/revoke', { id: 4242 });
    assert.deepEqual((await ok(app, '/v1/lease/leases', {})).leases, []);
  });

  it('watch streams the created item then events in order as NDJSON, and an abort ends the watcher', async () => {
    const { app, base } = await listening(member);
    try {
      const before = member.state.hub.size;
      const abort = new AbortController();
      const response = await watch(base, { key: b64('w/'), rangeEnd: b64('w0'), prevKv: true }, abort.signal);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'application/x-ndjson');
      const lines = new LineReader(response);
      const created = await lines.next();
      assert.deepEqual(created.events, []);
      assert.equal(created.revision, member.node.status().revision);
      assert.equal(member.state.hub.size, before + 1);

      await ok(member.app, '/v1/kv/put', { key: b64('w/a'), value: b64('1') });
      await ok(member.app, '/v1/kv/put', { key: b64('outside'), value: b64('x') });
      await ok(member.app, '/v1/kv/put', { key: b64('w/a'), value: b64('2') });
      await ok(member.app, '/v1/kv/deleterange', { key: b64('w/a') });
      const seen: string[] = [];
      while (seen.length < 3) {
        const item = await lines.next();
        assert.equal(item.watchId, created.watchId);
        for (const event of item.events) {
          const previous = event.prevKv === undefined ? '' : `<-${text(event.prevKv.value)}`;
          seen.push(`${event.type} ${text(event.kv.key)}=${text(event.kv.value)}${previous}`);
        }
      }
      assert.deepEqual(seen, ['put w/a=1', 'put w/a=2<-1', 'delete w/a=<-2']);

      abort.abort();
      await until(() => member.state.hub.size === before, 'the aborted watcher to be cancelled');
    } finally {
      await app.close();
    }
  });

  it('watch: a compacted start is a 410 JSON error, a bad request 400, and a closing server ends streams with UNAVAILABLE', async () => {
    const { app, base } = await listening(member);
    const before = member.state.hub.size;
    try {
      const signal = new AbortController().signal;
      const compacted = await watch(base, { key: b64('compact/k'), startRevision: 1 }, signal);
      assert.equal(compacted.status, 410);
      assert.equal(((await compacted.json()) as Json).code, 'COMPACTED');
      const bad = await watch(base, { key: '***', startRevision: 1 }, signal);
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as Json).code, 'INVALID_ARGUMENT');
      const unknown = await watch(base, { key: b64('k'), fragment: true }, signal);
      assert.equal(unknown.status, 400);
      assert.equal(member.state.hub.size, before);

      const open = await watch(base, { key: b64('closing') }, signal);
      const lines = new LineReader(open);
      assert.deepEqual((await lines.next()).events, []);
      await app.close();
      const last = await lines.next();
      assert.equal(last.error.code, 'UNAVAILABLE');
      assert.equal(await lines.next(), undefined);
      await until(() => member.state.hub.size === before, 'the watcher to be cancelled');
    } finally {
      await app.close();
    }
  });

  it('watch: at most watchesPerConnectionMax streams per client address (LIMIT_EXCEEDED 400), freed when one ends', async () => {
    const { app, base } = await listening(member, { watchesPerConnectionMax: 2 });
    const before = member.state.hub.size;
    try {
      const aborts = [new AbortController(), new AbortController()];
      for (const abort of aborts) {
        const response = await watch(base, { key: b64('limit') }, abort.signal);
        assert.deepEqual((await new LineReader(response).next()).events, []);
      }
      const third = await watch(base, { key: b64('limit') }, new AbortController().signal);
      assert.equal(third.status, 400);
      const error = (await third.json()) as Json;
      assert.equal(error.code, 'LIMIT_EXCEEDED');
      assert.equal(error.details.limit, 2);

      aborts[0]?.abort();
      await until(() => member.state.hub.size === before + 1, 'the first watcher to end');
      const again = new AbortController();
      const fourth = await watch(base, { key: b64('limit') }, again.signal);
      assert.equal(fourth.status, 200);
      again.abort();
      aborts[1]?.abort();
      await until(() => member.state.hub.size === before, 'every watcher to end');
    } finally {
      await app.close();
    }
  });

  it('refuses bad input with a typed error and changes nothing', async () => {
    const bad = { status: 400, code: 'INVALID_ARGUMENT' };
    await refused(member, '/v1/kv/put', undefined, bad, { raw: '{"key": "YQ==", ' });
    await refused(member, '/v1/kv/put', undefined, bad, { raw: '' });
    await refused(member, '/v1/kv/put', [{ key: b64('a') }], bad);
    await refused(member, '/v1/kv/put', 'a string', bad);
    await refused(member, '/v1/kv/put', null, bad);
    await refused(member, '/v1/kv/put', 42, bad);
    await refused(member, '/v1/kv/put', {}, bad);
    await refused(member, '/v1/kv/put', { key: 12, value: b64('v') }, bad);
    await refused(member, '/v1/kv/put', { key: b64('a'), value: b64('v'), prevKv: 'yes' }, bad);
    await refused(member, '/v1/kv/put', { key: b64('a'), value: b64('v'), lease: -1 }, bad);
    await refused(member, '/v1/kv/put', { key: b64('a'), value: b64('v'), lease: 1.5 }, bad);
    await refused(member, '/v1/kv/put', { key: '', value: b64('v') }, bad);
    await refused(member, '/v1/kv/range', { key: b64('a'), limit: 'ten' }, bad);
    await refused(member, '/v1/kv/range', { key: b64('a'), sortOrder: 'sideways' }, bad);
    await refused(member, '/v1/kv/range', { key: b64('a'), forwarded: true }, bad);
    await refused(member, '/v1/kv/range', { key: b64('a'), serializable: 'no' }, bad);
    await refused(member, '/v1/kv/range', { key: b64('a'), revision: 10 ** 9 }, bad);
    // Not base64: characters outside the alphabet, missing padding, the URL-safe alphabet.
    for (const key of ['not base64!', 'YQ', 'YQ=', '-_-_', ' YQ==', 'YR==']) {
      const error = await refused(member, '/v1/kv/put', { key, value: b64('v') }, bad);
      assert.match(error.message, /base64/);
    }
    await refused(
      member,
      '/v1/kv/txn',
      { compare: [{ key: b64('a'), target: 'value', result: 'equal', value: '%%' }] },
      bad,
    );
    await refused(member, '/v1/kv/put', { key: b64('a'), value: b64('v'), colour: 'red' }, bad);
    await refused(member, '/v1/kv/txn', { success: [], extra: 1 }, bad);
    await refused(
      member,
      '/v1/kv/txn',
      { success: [{ type: 'put', request: { key: b64('a'), bogus: 1 } }] },
      bad,
    );
    await refused(member, '/v1/lease/grant', { ttl: -5 }, bad);
    await refused(member, '/v1/lease/grant', { ttl: 10, owner: 'me' }, bad);
    await refused(member, '/v1/lease/revoke', { id: 0 }, bad);
    await refused(member, '/v1/lease/leases', { all: true }, bad);
    await refused(member, '/v1/kv/compaction', { revision: '3' }, bad);
    // Nesting deep enough to overflow a recursive decoder's stack is refused, not a crash.
    const deep = `{"key":"YQ==","value":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
    const tooDeep = await refused(member, '/v1/kv/put', undefined, bad, { raw: deep });
    assert.match(tooDeep.message, /deeper than/);
    await refused(member, '/v1/kv/put', undefined, bad, { raw: '{"__proto__": {"key": "YQ=="}}' });
    // A text body parses as a string, not an object; a form is not a media type this API takes.
    await refused(member, '/v1/kv/put', undefined, bad, { raw: '{"key":"YQ=="}', contentType: 'text/plain' });
    const form = await refused(
      member,
      '/v1/kv/put',
      undefined,
      { status: 415, code: 'INVALID_ARGUMENT' },
      { raw: 'key=a', contentType: 'application/x-www-form-urlencoded' },
    );
    assert.match(form.message, /content-type: application\/json/);

    // Requests the store would refuse whatever its state never take a place in the log.
    const commit = member.node.status().commit;
    const tooMany = Array.from({ length: TXN_OPS_MAX + 1 }, (_, i) => ({
      key: b64(`ops/${i}`),
      target: 'version',
      result: 'equal',
      version: 0,
    }));
    const limit = await refused(
      member,
      '/v1/kv/txn',
      { compare: tooMany },
      { status: 400, code: 'LIMIT_EXCEEDED' },
    );
    assert.equal(limit.details.limit, TXN_OPS_MAX);

    // Just past REQUEST_BYTES_MAX: within the body limit, refused by the store.
    const over = Buffer.alloc(REQUEST_BYTES_MAX + 1, 7).toString('base64');
    const large = await refused(
      member,
      '/v1/kv/put',
      { key: b64('big'), value: over },
      { status: 413, code: 'TOO_LARGE' },
    );
    assert.equal(large.details.limit, REQUEST_BYTES_MAX);
    // Past the body limit: refused before parsing.
    const huge = Buffer.alloc(HTTP_BODY_BYTES_MAX, 7).toString('base64');
    const body = await refused(
      member,
      '/v1/kv/put',
      { key: b64('big'), value: huge },
      { status: 413, code: 'TOO_LARGE' },
    );
    assert.equal(body.details.limit, HTTP_BODY_BYTES_MAX);
    assert.equal(member.node.status().commit, commit, 'a refused request took a log entry');
    // The largest value that fits is taken.
    const fits = Buffer.alloc(REQUEST_BYTES_MAX - 3, 7).toString('base64');
    await ok(member.app, '/v1/kv/put', { key: b64('big'), value: fits });
  });

  it('answers 404 for an unknown route and 405 with Allow for a wrong method', async () => {
    const missing = await member.app.inject({ method: 'POST', url: '/v1/kv/nothing' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().code, 'UNKNOWN_METHOD');
    const wrong = await member.app.inject({ method: 'GET', url: '/v1/kv/put?x=1' });
    assert.equal(wrong.statusCode, 405);
    assert.equal(wrong.headers['allow'], 'POST');
    assert.equal(wrong.json().code, 'UNKNOWN_METHOD');
    const status = await member.app.inject({ method: 'POST', url: '/v1/status' });
    assert.equal(status.statusCode, 405);
    assert.equal(status.headers['allow'], 'GET');
  });

  it('keeps /v1/status, /healthz and /metrics', async () => {
    const status = await member.app.inject({ method: 'GET', url: '/v1/status' });
    assert.equal(status.json().role, 'leader');
    assert.equal(status.json().revision, member.node.status().revision);
    const health = await member.app.inject({ method: 'GET', url: '/healthz' });
    assert.deepEqual([health.statusCode, health.json()], [200, { health: true, reason: '' }]);
    const metrics = await member.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(metrics.statusCode, 200);
    assert.match(metrics.body, /^# HELP /m);
  });
});

describe('registerHttpApi error statuses', () => {
  it('a member without a leader: writes 503 UNAVAILABLE, lease reads 503 NOT_LEADER with the leader hint', async () => {
    const member = await startMember({ leader: false });
    try {
      await refused(
        member,
        '/v1/kv/put',
        { key: b64('a'), value: b64('1') },
        { status: 503, code: 'UNAVAILABLE' },
      );
      await refused(member, '/v1/lease/grant', { ttl: 10 }, { status: 503, code: 'UNAVAILABLE' });
      const notLeader = await refused(
        member,
        '/v1/lease/timetolive',
        { id: 7 },
        { status: 503, code: 'NOT_LEADER' },
      );
      assert.deepEqual(notLeader.details, { leaderHint: 0, leaderClient: '', leaderHttp: '' });
      const read = await ok(member.app, '/v1/kv/range', { key: b64('a'), serializable: true });
      assert.equal(read.count, 0);
      const health = await member.app.inject({ method: 'GET', url: '/healthz' });
      assert.deepEqual([health.statusCode, health.json()], [503, { health: false, reason: 'no leader' }]);
    } finally {
      await member.close();
    }
  });

  it('a member whose disk failed: 507 NO_SPACE for writes, 503 for linearizable reads, 503 CONNECTION_LOST at shutdown', async () => {
    const member = await startMember();
    try {
      await ok(member.app, '/v1/kv/put', { key: b64('kept'), value: b64('yes') });
      member.fillDisk();
      const inFlight = post(member.app, '/v1/kv/put', { key: b64('lost'), value: b64('no') });
      await until(() => member.node.status().alarms.length > 0, 'the alarm');
      const revision = member.node.status().revision;
      await refused(
        member,
        '/v1/kv/put',
        { key: b64('after'), value: b64('x') },
        { status: 507, code: 'NO_SPACE' },
      );
      await refused(member, '/v1/lease/grant', { ttl: 10 }, { status: 507, code: 'NO_SPACE' });
      // No other member to ask for a linearizable read.
      await refused(member, '/v1/kv/range', { key: b64('kept') }, { status: 503, code: 'UNAVAILABLE' });
      const read = await ok(member.app, '/v1/kv/range', { key: b64('kept'), serializable: true });
      assert.equal(text(read.kvs[0].value), 'yes');
      const health = await member.app.inject({ method: 'GET', url: '/healthz' });
      assert.deepEqual([health.statusCode, health.json()], [503, { health: false, reason: 'NOSPACE' }]);

      await member.node.close();
      const lost = await inFlight;
      assert.equal(lost.status, 503);
      assert.equal(lost.body.code, 'CONNECTION_LOST');
      assert.equal(member.node.status().revision, revision);
    } finally {
      await member.close();
    }
  });

  it('httpStatusOf gives each code its documented status; anything else is 500 INTERNAL', () => {
    const documented: Record<string, number> = {
      INVALID_ARGUMENT: 400,
      LIMIT_EXCEEDED: 400,
      UNKNOWN_METHOD: 404,
      COMPACTED: 410,
      TOO_LARGE: 413,
      NOT_LEADER: 503,
      UNAVAILABLE: 503,
      PROPOSAL_DROPPED: 503,
      CONNECTION_LOST: 503,
      OUTCOME_UNKNOWN: 503,
      DEADLINE_EXCEEDED: 504,
      NO_SPACE: 507,
      INTERNAL: 500,
      CORRUPT: 500,
    };
    for (const [code, status] of Object.entries(documented)) assert.equal(httpStatusOf(code), status, code);
    for (const code of Object.keys(HTTP_STATUS_BY_CODE) as ErrorCode[]) {
      assert.ok(httpStatusOf(code) >= 400, code);
    }
    assert.equal(httpStatusOf('SOMETHING_NEW'), 500);
    assert.equal(httpStatusOf('toString'), 500);

    assert.deepEqual(httpErrorOf(new DeadlineExceededError('slow')), {
      status: 504,
      body: { code: 'DEADLINE_EXCEEDED', message: 'slow' },
    });
    assert.equal(httpErrorOf(new OutcomeUnknownError('maybe')).status, 503);
    assert.equal(httpErrorOf(new ConnectionLostError('gone')).status, 503);
    assert.deepEqual(httpErrorOf(new NotLeaderError('no', { details: { leaderHint: 3 } })).body, {
      code: 'NOT_LEADER',
      message: 'no',
      details: { leaderHint: 3 },
    });
    assert.equal(httpErrorOf(new CompactedError('old')).status, 410);
    assert.deepEqual(httpErrorOf(new RemoteError('FUTURE_CODE', 'new')), {
      status: 500,
      body: { code: 'FUTURE_CODE', message: 'new' },
    });
    assert.deepEqual(httpErrorOf(new TypeError('bug')), {
      status: 500,
      body: { code: 'INTERNAL', message: 'bug' },
    });
    assert.equal(httpErrorOf(new InternalError('bug')).status, 500);
    assert.equal(httpErrorOf('thrown string').body.code, 'INTERNAL');
  });
});

/** Every path to a node of a JSON value (object keys and array indexes). */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [];
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((item, i) => [i, item])
    : Object.entries(value);
  return entries.flatMap(([name, item]) => [[...prefix, name], ...pathsOf(item, [...prefix, name])]);
}

/** `value` with the node at `path` set to `replacement` (or removed when it is undefined). */
function replaced(value: unknown, path: (string | number)[], replacement: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return replacement;
  if (Array.isArray(value)) {
    const copy = [...value];
    copy[head as number] = replaced(copy[head as number], rest, replacement);
    return copy;
  }
  const copy = { ...(value as Record<string, unknown>) };
  const next = replaced(copy[head], rest, replacement);
  if (next === undefined) delete copy[head];
  else copy[head] = next;
  return copy;
}

const base64Arbitrary = fc.string({ minLength: 1, maxLength: 8 }).map(b64);
const notBase64 = fc.constantFrom('!', 'YQ', 'YR==', '-_', 'a b', '====', 'Y Q==');
const span = {
  key: base64Arbitrary,
  rangeEnd: fc.option(fc.constantFrom(b64('\0'), b64('z'), ''), { nil: undefined }),
};
const op = fc.oneof(
  fc.record({
    type: fc.constant('put'),
    request: fc.record({ key: base64Arbitrary, value: base64Arbitrary }),
  }),
  fc.record({ type: fc.constant('range'), request: fc.record(span, { requiredKeys: ['key'] }) }),
  fc.record({ type: fc.constant('deleteRange'), request: fc.record(span, { requiredKeys: ['key'] }) }),
);
const leaseId = fc.oneof(fc.integer({ min: 1, max: 50 }), fc.maxSafeNat());

/** Valid request shapes for each POST route. */
const VALID_BODIES: Record<string, fc.Arbitrary<unknown>> = {
  '/v1/kv/range': fc.record(
    {
      ...span,
      limit: fc.nat(5),
      revision: fc.nat(3),
      sortOrder: fc.constantFrom('none', 'ascend', 'descend'),
      sortTarget: fc.constantFrom('key', 'version', 'create', 'mod', 'value'),
      keysOnly: fc.boolean(),
      countOnly: fc.boolean(),
      serializable: fc.boolean(),
    },
    { requiredKeys: ['key'] },
  ),
  '/v1/kv/put': fc.record(
    { key: base64Arbitrary, value: base64Arbitrary, prevKv: fc.boolean(), lease: fc.constant(0) },
    { requiredKeys: ['key'] },
  ),
  '/v1/kv/deleterange': fc.record({ ...span, prevKv: fc.boolean() }, { requiredKeys: ['key'] }),
  '/v1/kv/txn': fc.record(
    {
      compare: fc.array(
        fc.record({
          key: base64Arbitrary,
          target: fc.constant('version'),
          result: fc.constantFrom('equal', 'notEqual', 'less', 'greater'),
          version: fc.nat(3),
        }),
        { maxLength: 2 },
      ),
      success: fc.array(op, { maxLength: 2 }),
      failure: fc.array(op, { maxLength: 2 }),
    },
    { requiredKeys: [] },
  ),
  '/v1/kv/compaction': fc.record({ revision: fc.nat(5) }),
  '/v1/lease/grant': fc.record(
    { ttl: fc.integer({ min: 0, max: 60 }), id: leaseId },
    { requiredKeys: ['ttl'] },
  ),
  '/v1/lease/revoke': fc.record({ id: leaseId }),
  '/v1/lease/keepalive': fc.record({ id: leaseId }),
  '/v1/lease/timetolive': fc.record({ id: leaseId, keys: fc.boolean() }, { requiredKeys: ['id'] }),
  '/v1/lease/leases': fc.constant({}),
  '/v1/watch': fc.record(
    {
      ...span,
      startRevision: fc.nat(3),
      prevKv: fc.boolean(),
      filters: fc.subarray(['noPut', 'noDelete']),
      progressNotify: fc.boolean(),
    },
    { requiredKeys: ['key'] },
  ),
};

/** A mutation of a valid body: a node replaced by any JSON, by a string that is not base64, removed, or a field added. */
const mutation = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('json', 'notBase64', 'remove', 'addField'),
  json: fc.jsonValue({ maxDepth: 3 }),
  bad: notBase64,
  name: fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('key', 'value', 'forwarded', 'serializable')),
});

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutated(body: unknown, mutations: readonly Mutation[]): unknown {
  let result = body;
  for (const m of mutations) {
    const paths = pathsOf(result);
    const path = paths.length === 0 ? [] : (paths[m.at % paths.length] as (string | number)[]);
    if (m.kind === 'addField') {
      const parent = path.slice(0, -1);
      result = replaced(result, [...parent, m.name], m.json);
    } else {
      result = replaced(
        result,
        path,
        m.kind === 'json' ? m.json : m.kind === 'notBase64' ? m.bad : undefined,
      );
    }
  }
  return result;
}

/** A body for `route`: any JSON value, a valid request mutated, a valid one, or bytes that are not JSON. */
function bodyFor(route: string): fc.Arbitrary<{ raw: string }> {
  const valid = VALID_BODIES[route] as fc.Arbitrary<unknown>;
  return fc.oneof(
    fc.jsonValue({ maxDepth: 4 }).map((value) => ({ raw: JSON.stringify(value) ?? 'null' })),
    fc
      .tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 3 }))
      .map(([body, mutations]) => ({ raw: JSON.stringify(mutated(body, mutations)) ?? 'null' })),
    valid.map((body) => ({ raw: JSON.stringify(body) })),
    fc.string({ maxLength: 20 }).map((raw) => ({ raw })),
  );
}

describe('registerHttpApi under random bodies', () => {
  let member: Member;
  before(async () => {
    member = await startMember();
    // Leases for revoke, keep-alive and time-to-live to find; too long-lived to expire during the runs.
    for (let id = 1; id <= 50; id++) await member.node.leaseGrant(3600, id);
  });
  after(() => member.close());

  const checkAnswer = (route: string, raw: string, status: number, body: Json, revision: number): void => {
    const context = `${route} ${raw} -> ${status} ${JSON.stringify(body)}`;
    assert.notEqual(status, 500, context);
    if (status === 200) return;
    assert.ok(status >= 400 && status < 600, context);
    assert.equal(typeof body.code, 'string', context);
    assert.equal(typeof body.message, 'string', context);
    assert.equal(member.node.status().revision, revision, `a refused call changed the revision: ${context}`);
  };

  for (const route of Object.keys(VALID_BODIES).filter((path) => path !== '/v1/watch')) {
    it(`${route} never answers 500, and a refused call changes nothing`, async () => {
      await fc.assert(
        fc.asyncProperty(bodyFor(route), async ({ raw }) => {
          const revision = member.node.status().revision;
          const { status, body } = await post(member.app, route, undefined, { raw });
          checkAnswer(route, raw, status, body, revision);
          // A granted lease would expire later and move the revision under another run: revoke it now.
          if (route === '/v1/lease/grant' && status === 200) await member.node.leaseRevoke(body.id);
        }),
        { numRuns: 200 },
      );
    });
  }

  it('/v1/watch never answers 500, a refused watch changes nothing, and no watcher outlives its stream', async () => {
    const { app, base } = await listening(member);
    const before = member.state.hub.size;
    try {
      await fc.assert(
        fc.asyncProperty(bodyFor('/v1/watch'), async ({ raw }) => {
          const revision = member.node.status().revision;
          const abort = new AbortController();
          const response = await fetch(`${base}/v1/watch`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: raw,
            signal: abort.signal,
          });
          if (response.status === 200) {
            assert.ok((await new LineReader(response).next()).watchId >= 0);
            abort.abort();
            return;
          }
          checkAnswer('/v1/watch', raw, response.status, await response.json(), revision);
        }),
        { numRuns: 200 },
      );
      await until(() => member.state.hub.size === before, 'every fuzzed watcher to end');
    } finally {
      await app.close();
    }
  });
});
