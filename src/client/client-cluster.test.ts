/**
 * The client against a real cluster: three `tessera start` processes (the
 * test harness of `test/`), killed by PID. The tests run in order on one
 * cluster; the last kills the leader.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePort, TestCluster, type TestMember } from '../../test/helpers/cluster.ts';
import { RecordingLogger } from '../base/logger.ts';
import { type Client, CompactedError, compare, connect, InvalidArgumentError, op, text } from './index.ts';

const clients: Client[] = [];
let cluster: TestCluster;
let leader: TestMember;

async function connectTo(endpoints: string[]): Promise<Client> {
  const client = await connect({ endpoints, timeoutMs: 15_000, logger: new RecordingLogger() });
  clients.push(client);
  return client;
}

const textOf = (kv: { value: Uint8Array } | undefined) => (kv === undefined ? undefined : text(kv.value));

describe('Client on a 3-member cluster', { timeout: 60_000 }, () => {
  before(async () => {
    cluster = await TestCluster.create(3);
    await cluster.startAll();
    leader = await cluster.leader();
    // Members publish their client addresses through the log once a leader is known; until every
    // member has applied that, a follower cannot name the leader's address.
    for (let i = 0; i < 200; i++) {
      const statuses = await Promise.all(cluster.members.map((m) => cluster.status(m)));
      if (statuses.every((s) => s?.members.length === 3 && s.members.every((m) => m.client !== ''))) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  after(async () => {
    for (const client of clients) client.close();
    await cluster?.destroy();
  });

  it('connects through a follower alone, finds the leader, and writes there', async () => {
    const follower = cluster.members.find((m) => m !== leader) as TestMember;
    const client = await connectTo([follower.client]);
    assert.equal(client.activeEndpoint, leader.client);
    const { revision } = await client.kv.put('via/follower', 'yes');
    assert.ok(revision > 1);
    assert.equal(textOf(await client.kv.get('via/follower')), 'yes');
    assert.equal((await client.cluster.status()).name, leader.name);
    const followerStatus = await client.cluster.status({ endpoint: follower.client });
    assert.deepEqual([followerStatus.name, followerStatus.role], [follower.name, 'follower']);
  });

  it('reads and writes: put, get, range by prefix, txn, delete, compact, members', async () => {
    const client = await connectTo(cluster.endpoints);
    const first = await client.kv.put('jobs/1', 'queued');
    await client.kv.put('jobs/2', Uint8Array.of(0xde, 0xad));
    await client.kv.put('jobsx', 'outside the prefix');
    const previous = await client.kv.put('jobs/1', 'running', { prevKv: true });
    assert.equal(textOf(previous.prevKv), 'queued');
    assert.equal(previous.revision, first.revision + 3);

    const one = await client.kv.get('jobs/1');
    assert.deepEqual(
      [textOf(one), one?.version, one?.createRevision, one?.modRevision],
      ['running', 2, first.revision, previous.revision],
    );
    assert.equal(await client.kv.get('jobs/none'), undefined);
    assert.equal(textOf(await client.kv.get('jobs/1', { revision: first.revision })), 'queued');
    assert.equal(
      textOf(await client.kv.get('jobs/1', { serializable: true, timeoutMs: 2000 })) !== undefined,
      true,
    );

    const all = await client.kv.range({ prefix: 'jobs/' });
    assert.deepEqual(
      all.kvs.map((kv) => text(kv.key)),
      ['jobs/1', 'jobs/2'],
    );
    assert.deepEqual([...(all.kvs[1]?.value ?? [])], [0xde, 0xad]);
    const page = await client.kv.range({ prefix: 'jobs/', limit: 1, sortOrder: 'descend' });
    assert.deepEqual([page.kvs.map((kv) => text(kv.key)), page.more, page.count], [['jobs/2'], true, 2]);

    const swapped = await client.kv.txn({
      compare: [compare.value('jobs/1', 'equal', 'running')],
      success: [op.put('jobs/1', 'done'), op.get('jobs/1')],
      failure: [op.get('jobs/1')],
    });
    assert.equal(swapped.succeeded, true);
    const read = swapped.responses[1];
    assert.equal(read?.type === 'range' ? textOf(read.response.kvs[0]) : undefined, 'done');
    const refused = await client.kv.txn({ compare: [compare.value('jobs/1', 'equal', 'running')] });
    assert.equal(refused.succeeded, false);

    const deleted = await client.kv.delete({ prefix: 'jobs/' }, { prevKv: true });
    assert.equal(deleted.deleted, 2);
    assert.deepEqual(deleted.prevKvs.map((kv) => text(kv.key)).sort(), ['jobs/1', 'jobs/2']);
    assert.equal(textOf(await client.kv.get('jobsx')), 'outside the prefix');
    assert.equal((await client.kv.delete('jobsx')).deleted, 1);

    await client.kv.compact(previous.revision);
    await assert.rejects(client.kv.get('jobs/1', { revision: first.revision }), CompactedError);

    const members = await client.cluster.members();
    assert.deepEqual(members.map((m) => m.client).sort(), [...cluster.endpoints].sort());
  });

  it('skips a dead endpoint in the list', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const client = await connectTo([dead, ...cluster.endpoints]);
    await client.kv.put('dead/skipped', 'ok');
    assert.equal(textOf(await client.kv.get('dead/skipped')), 'ok');
    assert.notEqual(client.activeEndpoint, dead);
  });

  it('leases: grant, keys attached, kept alive in the background, time-to-live, list, revoke', async () => {
    const client = await connectTo(cluster.endpoints);
    const { id, ttl } = await client.lease.grant(3);
    assert.equal(ttl, 3);
    await client.kv.put('lease/a', 'held', { lease: id });
    const keepAlive = client.lease.keepAlive(id);
    let renewals = 0;
    // Renewed a third of the TTL apart: after five renewals the lease has outlived its TTL.
    for await (const renewal of keepAlive) {
      assert.deepEqual([renewal.id, renewal.ttl], [id, 3]);
      if (++renewals === 5) break;
    }
    const info = await client.lease.timeToLive(id, { keys: true });
    assert.deepEqual([info.grantedTtl, info.keys.map((key) => text(key))], [3, ['lease/a']]);
    assert.ok(info.ttl > 0 && info.ttl <= 3);
    assert.ok((await client.lease.list()).includes(id));
    keepAlive.stop();
    await keepAlive.done;
    assert.equal(textOf(await client.kv.get('lease/a')), 'held');
    assert.equal((await client.lease.revoke(id)).deleted, 1);
    assert.equal(await client.kv.get('lease/a'), undefined);
    assert.equal((await client.lease.timeToLive(id)).ttl, -1);
    const notFound = (error: unknown) =>
      error instanceof InvalidArgumentError && error.details?.['reason'] === 'LEASE_NOT_FOUND';
    await assert.rejects(client.lease.keepAliveOnce(id), notFound);
    await assert.rejects(client.lease.keepAlive(id).done, notFound);
  });

  it('watches: live changes in order, a replay from a past revision, filters, and COMPACTED for a compacted start', async () => {
    const client = await connectTo(cluster.endpoints);
    const first = await client.kv.put('w/a', '1');
    const stop = new AbortController();
    const live: string[] = [];
    const replay: string[] = [];
    const collect = async (into: string[], options: Parameters<Client['watch']>[1], count: number) => {
      for await (const { events } of client.watch({ prefix: 'w/' }, options)) {
        for (const event of events) {
          const prev = event.prevKv === undefined ? '' : ` (was ${text(event.prevKv.value)})`;
          into.push(`${event.type} ${text(event.kv.key)}@${event.kv.modRevision}${prev}`);
        }
        if (into.length >= count) return;
      }
    };
    // Every change from the first put on, replayed and then live; a put-only watch from the same point.
    const replaying = collect(
      replay,
      { startRevision: first.revision, prevKv: true, signal: stop.signal },
      4,
    );
    const putsOnly: string[] = [];
    const filtering = collect(
      putsOnly,
      { startRevision: first.revision, filters: ['noDelete'], signal: stop.signal },
      3,
    );
    const b = await client.kv.put('w/b', '2');
    const a2 = await client.kv.put('w/a', '3');
    const del = await client.kv.delete('w/b');
    await client.kv.put('x/outside', 'not watched');
    await Promise.all([replaying, filtering]);
    assert.deepEqual(replay, [
      `put w/a@${first.revision}`,
      `put w/b@${b.revision}`,
      `put w/a@${a2.revision} (was 1)`,
      `delete w/b@${del.revision} (was 2)`,
    ]);
    assert.deepEqual(putsOnly, [
      `put w/a@${first.revision}`,
      `put w/b@${b.revision}`,
      `put w/a@${a2.revision}`,
    ]);
    // From now: sees only what comes after.
    const fromNow = collect(live, { signal: stop.signal }, 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const later = await client.kv.put('w/c', '4');
    await fromNow;
    assert.deepEqual(live, [`put w/c@${later.revision}`]);
    stop.abort();
    await client.kv.compact(later.revision);
    await assert.rejects(
      collect([], { startRevision: first.revision, signal: new AbortController().signal }, 1),
      CompactedError,
    );
  });

  it('fails over when the leader is killed: reads and writes go on after the election', async () => {
    const client = await connectTo(cluster.endpoints);
    // A watch open across the failover sees every change once, in order: it watches again where it stood.
    const start = await client.kv.put('failover/start', '0');
    const stopWatch = new AbortController();
    const watched: string[] = [];
    const watching = (async () => {
      for await (const { events } of client.watch(
        { prefix: 'failover/' },
        { startRevision: start.revision, signal: stopWatch.signal },
      )) {
        for (const event of events) watched.push(`${text(event.kv.key)}@${event.kv.modRevision}`);
        if (watched.some((line) => line.startsWith('failover/after@'))) return;
      }
    })();
    // A lease kept alive across the failover keeps its key: the new leader starts from the renewal in the log.
    const { id } = await client.lease.grant(6);
    await client.kv.put('failover/session', 'alive', { lease: id });
    const keepAlive = client.lease.keepAlive(id);
    const before = await client.kv.put('failover/before', 'v1');
    assert.equal(client.activeEndpoint, leader.client);
    await cluster.kill(leader);
    // Let the members and this process see the connections close (not a timing assertion: a write
    // sent on a connection not yet known to be dead would be reported OutcomeUnknown, correctly).
    await new Promise((resolve) => setTimeout(resolve, 50));
    const [read, after] = await Promise.all([
      client.kv.get('failover/before'),
      client.kv.put('failover/after', 'v2'),
    ]);
    assert.equal(textOf(read), 'v1');
    assert.ok(after.revision > before.revision);
    assert.equal(textOf(await client.kv.get('failover/after')), 'v2');
    assert.notEqual(client.activeEndpoint, leader.client);
    const status = await client.cluster.status();
    assert.notEqual(status.leaderName, leader.name);
    assert.notEqual(status.leaderId, 0);
    // Renewals go on through the new leader for more than the lease's TTL.
    const renewedBy = Date.now() + 8000;
    for await (const renewal of keepAlive) {
      assert.equal(renewal.id, id);
      if (Date.now() > renewedBy) break;
    }
    assert.equal(textOf(await client.kv.get('failover/session')), 'alive');
    keepAlive.stop();
    await keepAlive.done;
    await watching;
    stopWatch.abort();
    assert.deepEqual(watched, [
      `failover/start@${start.revision}`,
      `failover/session@${start.revision + 1}`,
      `failover/before@${before.revision}`,
      `failover/after@${after.revision}`,
    ]);
  });
});
