/**
 * The lock and election services over HTTP and the native RPC, against a
 * real one-member cluster (a `tessera start` process, killed by PID).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestCluster } from '../../test/helpers/cluster.ts';
import { LockService } from './coord-api.ts';
import { CLIENT_TIMEOUT_MS, withEndpoint } from './endpoints.ts';

let cluster: TestCluster;
let base: string;

const b64 = (text: string) => Buffer.from(text).toString('base64');
const unb64 = (text: string) => Buffer.from(text, 'base64').toString();

// biome-ignore lint/suspicious/noExplicitAny: the JSON bodies of the HTTP API, read field by field
type Json = any;

async function post(
  path: string,
  body: unknown,
  signal?: AbortSignal,
): Promise<{ status: number; json: Json }> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...(signal === undefined ? {} : { signal }),
  });
  return { status: response.status, json: await response.json() };
}

async function lease(ttl = 10): Promise<number> {
  const { json } = await post('/v1/lease/grant', { ttl });
  return json.id as number;
}

async function keysUnder(prefix: string): Promise<string[]> {
  const { json } = await post('/v1/kv/range', { key: b64(prefix), rangeEnd: b64(`${prefix.slice(0, -1)}0`) });
  return (json.kvs as { key: string }[]).map((kv) => unb64(kv.key));
}

async function pendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  const done = () => {
    settled = true;
  };
  promise.then(done, done);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return !settled;
}

describe('lock and election services', { timeout: 60_000 }, () => {
  before(async () => {
    cluster = await TestCluster.create(1);
    await cluster.startAll();
    await cluster.leader();
    base = `http://${cluster.members[0]?.http}`;
  });
  after(async () => {
    await cluster?.destroy();
  });

  it('HTTP: lock waits for the holder, unlock hands over with a larger token, the old token is fenced off', async () => {
    const [first, second] = [await lease(), await lease()];
    const held = await post('/v1/lock/lock', { name: b64('L1'), lease: first });
    assert.equal(held.status, 200, JSON.stringify(held.json));
    assert.equal(unb64(held.json.key), `L1/${first.toString(16)}`);
    const waiting = post('/v1/lock/lock', { name: b64('L1'), lease: second });
    assert.equal(await pendingAfter(waiting, 300), true);
    const fenced = { lock: b64('L1'), token: held.json.token };
    assert.equal(
      (await post('/v1/kv/put', { key: b64('L1-data'), value: b64('first'), fence: fenced })).status,
      200,
    );
    assert.equal((await post('/v1/lock/unlock', { key: held.json.key })).status, 200);
    const next = await waiting;
    assert.equal(next.status, 200);
    assert.ok(next.json.token > held.json.token);
    const stale = await post('/v1/kv/put', { key: b64('L1-data'), value: b64('stale'), fence: fenced });
    assert.equal(stale.status, 409);
    assert.equal(stale.json.code, 'FENCED');
    const { json } = await post('/v1/kv/range', { key: b64('L1-data') });
    assert.equal(unb64(json.kvs[0].value), 'first');
    // The member did not revoke or stop owning the caller's lease: the key is still there, attached.
    assert.deepEqual(await keysUnder('L1/'), [`L1/${second.toString(16)}`]);
  });

  it('a waiter that goes away is withdrawn from the queue; bad calls are 400 and queue nothing', async () => {
    const [holder, quitter] = [await lease(), await lease()];
    await post('/v1/lock/lock', { name: b64('L2'), lease: holder });
    const stop = new AbortController();
    const waiting = post('/v1/lock/lock', { name: b64('L2'), lease: quitter }, stop.signal);
    assert.equal(await pendingAfter(waiting, 300), true);
    assert.equal((await keysUnder('L2/')).length, 2);
    stop.abort();
    await assert.rejects(waiting);
    for (let i = 0; i < 100 && (await keysUnder('L2/')).length > 1; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await keysUnder('L2/'), [`L2/${holder.toString(16)}`]);
    for (const body of [
      { name: '', lease: holder },
      { name: b64('L2'), lease: 0 },
      { name: b64('L2') },
      { name: b64('L2'), lease: holder, x: 1 },
    ]) {
      const refused = await post('/v1/lock/lock', body);
      assert.equal(refused.status, 400, JSON.stringify(body));
      assert.equal(refused.json.code, 'INVALID_ARGUMENT');
    }
    assert.equal((await keysUnder('L2/')).length, 1);
  });

  it('native RPC: lock and unlock', async () => {
    const [first, second] = [await lease(), await lease()];
    const endpoints = [cluster.members[0]?.client as string];
    const call = { timeoutMs: CLIENT_TIMEOUT_MS };
    const name = new TextEncoder().encode('L3');
    const held = await withEndpoint(endpoints, (rpc) =>
      rpc.service(LockService).lock({ name, lease: first }, call),
    );
    const waiting = withEndpoint(endpoints, (rpc) =>
      rpc.service(LockService).lock({ name, lease: second }, call),
    );
    assert.equal(await pendingAfter(waiting, 300), true);
    await withEndpoint(endpoints, (rpc) => rpc.service(LockService).unlock({ key: held.key }, call));
    assert.ok((await waiting).token > held.token);
  });

  it('HTTP elections: campaign, leader, proclaim, resign, observe as NDJSON, and ELECTION_NOT_LEADER for a stale leader', async () => {
    const [a, b] = [await lease(), await lease()];
    const observer = new AbortController();
    // Its answer starts with the first leader: awaited once there is one.
    const streamed = fetch(`${base}/v1/election/observe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: b64('E1') }),
      signal: observer.signal,
    });
    const leadA = await post('/v1/election/campaign', { name: b64('E1'), lease: a, value: b64('a') });
    assert.equal(leadA.status, 200, JSON.stringify(leadA.json));
    const campaignB = post('/v1/election/campaign', { name: b64('E1'), lease: b, value: b64('b') });
    assert.equal(await pendingAfter(campaignB, 300), true);
    assert.equal((await post('/v1/election/proclaim', { leader: leadA.json, value: b64('a2') })).status, 200);
    assert.equal(unb64((await post('/v1/election/leader', { name: b64('E1') })).json.value), 'a2');
    assert.equal((await post('/v1/election/resign', { leader: leadA.json })).status, 200);
    const leadB = await campaignB;
    assert.equal(leadB.status, 200);
    const stale = await post('/v1/election/proclaim', { leader: leadA.json, value: b64('a3') });
    assert.deepEqual([stale.status, stale.json.code], [409, 'ELECTION_NOT_LEADER']);
    // The stream: the first item is sent once there is a leader, then every change.
    const stream = await streamed;
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (text.split('\n').length < 4) text += new TextDecoder().decode((await reader.read()).value);
    observer.abort();
    const seen = text
      .split('\n')
      .slice(0, 3)
      .map((line) => unb64(JSON.parse(line).value));
    assert.deepEqual(seen, ['a', 'a2', 'b']);
    await post('/v1/election/resign', { leader: leadB.json });
    const none = await post('/v1/election/leader', { name: b64('E1') });
    assert.deepEqual([none.status, none.json.code], [404, 'ELECTION_NO_LEADER']);
  });
});
