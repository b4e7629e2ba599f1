/**
 * Sessions and mutexes against a real one-member cluster (a `tessera
 * start` process, killed by PID).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestCluster } from '../../test/helpers/cluster.ts';
import { CancelledError, DeadlineExceededError, FencedError, SessionExpiredError } from '../base/errors.ts';
import { RecordingLogger } from '../base/logger.ts';
import { type Client, connect, op, text } from '../client/index.ts';
import { Mutex } from './mutex.ts';
import { Session } from './session.ts';

let cluster: TestCluster;
let client: Client;
const sessions: Session[] = [];

async function session(ttl = 5): Promise<Session> {
  const created = await Session.create(client, { ttl });
  sessions.push(created);
  return created;
}

async function keysUnder(prefix: string): Promise<string[]> {
  const { kvs } = await client.kv.range({ prefix });
  return kvs.map((kv) => text(kv.key));
}

/** Resolves with how a promise settled, without waiting when `ms` passes first. */
async function settledWithin<T>(
  promise: Promise<T>,
  ms: number,
): Promise<'pending' | 'resolved' | 'rejected'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  const outcome = promise.then(
    () => 'resolved' as const,
    () => 'rejected' as const,
  );
  const result = await Promise.race([outcome, timeout]);
  clearTimeout(timer);
  return result;
}

describe('Session and Mutex on a cluster', { timeout: 60_000 }, () => {
  before(async () => {
    cluster = await TestCluster.create(1);
    await cluster.startAll();
    await cluster.leader();
    client = await connect({
      endpoints: cluster.endpoints,
      timeoutMs: 10_000,
      logger: new RecordingLogger(),
    });
  });
  after(async () => {
    for (const s of sessions) await s.close();
    client?.close();
    await cluster?.destroy();
  });

  it('a session keeps its lease past its TTL, and closing revokes it', async () => {
    const s = await session(2);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal(s.alive, true);
    assert.ok((await client.lease.timeToLive(s.lease)).ttl > 0);
    await s.close();
    assert.deepEqual(await s.done, { reason: 'closed' });
    assert.equal(s.signal.aborted, true);
    assert.equal((await client.lease.timeToLive(s.lease)).ttl, -1);
  });

  it('a session whose lease is revoked elsewhere ends as lease-lost, and its signal aborts with SessionExpiredError', async () => {
    const s = await session(3);
    await client.lease.revoke(s.lease);
    const end = await s.done;
    assert.equal(end.reason, 'lease-lost');
    assert.ok(s.signal.reason instanceof SessionExpiredError);
    assert.throws(() => s.checkAlive('lock'), SessionExpiredError);
  });

  it('grants in queue order with growing tokens; a fenced write fails once the lock moved on; tryLock does not wait', async () => {
    const [a, b, c] = [await session(), await session(), await session()];
    const [ma, mb, mc] = [new Mutex(a, 'm1'), new Mutex(b, 'm1'), new Mutex(c, 'm1')];
    const grantA = await ma.lock();
    assert.equal(text(grantA.key), `m1/${a.lease.toString(16)}`);
    const waitingB = mb.lock();
    assert.equal(await settledWithin(waitingB, 300), 'pending');
    assert.equal(await mc.tryLock(), undefined);
    // tryLock left no key: only A's and B's are queued.
    assert.deepEqual((await keysUnder('m1/')).length, 2);

    await client.kv.put('m1-data', 'by A', { fence: grantA.fence });
    const { succeeded } = await client.kv.txn({
      compare: [ma.isOwner()],
      success: [op.put('m1-owner', 'A')],
    });
    assert.equal(succeeded, true);

    await ma.unlock();
    const grantB = await waitingB;
    assert.ok(grantB.token > grantA.token);
    await assert.rejects(client.kv.put('m1-data', 'stale A', { fence: grantA.fence }), (error) => {
      assert.ok(error instanceof FencedError);
      assert.deepEqual(error.details, { token: grantA.token, holderToken: grantB.token });
      return true;
    });
    await assert.rejects(
      client.kv.txn({ fence: grantA.fence, success: [op.put('m1-data', 'stale A')] }),
      FencedError,
    );
    assert.equal(text((await client.kv.get('m1-data'))?.value ?? new Uint8Array()), 'by A');
    assert.throws(() => ma.isOwner(), /the lock is not held/);
    await mb.unlock();
    assert.ok((await mc.tryLock()) !== undefined);
    await mc.unlock();
    assert.deepEqual(await keysUnder('m1/'), []);
  });

  it('five contenders are granted in the order they queued, each after its predecessor unlocked', async () => {
    const contenders = await Promise.all([1, 2, 3, 4, 5].map(() => session()));
    const holder = new Mutex(await session(), 'm2');
    await holder.lock();
    const order: number[] = [];
    const grants: number[] = [];
    const mutexes = contenders.map((s) => new Mutex(s, 'm2'));
    const waits: Promise<void>[] = [];
    for (const [index, mutex] of mutexes.entries()) {
      waits.push(
        mutex.lock().then(async (grant) => {
          order.push(index);
          grants.push(grant.token);
          await mutex.unlock();
        }),
      );
      // Queue one after another so the queue order is known.
      while ((await keysUnder('m2/')).length < index + 2) await new Promise((r) => setTimeout(r, 10));
    }
    await holder.unlock();
    await Promise.all(waits);
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
    for (let i = 1; i < grants.length; i++) assert.ok((grants[i] as number) > (grants[i - 1] as number));
  });

  it('a waiter gives up on its signal, its deadline, or the loss of its session, leaving the queue', async () => {
    const holder = new Mutex(await session(), 'm3');
    await holder.lock();

    const stop = new AbortController();
    const byAbort = new Mutex(await session(), 'm3').lock({ signal: stop.signal });
    assert.equal(await settledWithin(byAbort, 200), 'pending');
    stop.abort();
    await assert.rejects(byAbort, CancelledError);

    await assert.rejects(new Mutex(await session(), 'm3').lock({ timeoutMs: 300 }), DeadlineExceededError);

    const doomed = await session(3);
    const byLoss = new Mutex(doomed, 'm3').lock();
    assert.equal(await settledWithin(byLoss, 200), 'pending');
    await client.lease.revoke(doomed.lease);
    await assert.rejects(byLoss, SessionExpiredError);

    assert.deepEqual(await keysUnder('m3/'), [text(holder.key)]);
    await holder.unlock();
    await assert.rejects(new Mutex(doomed, 'm3').lock(), SessionExpiredError);
  });
});
