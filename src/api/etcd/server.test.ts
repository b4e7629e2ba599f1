/**
 * The etcd front door against the `etcd3` npm client, unchanged: a
 * 3-member cluster of real `tessera start` processes with `--listen-etcd`,
 * driven through etcd's own client library. Typed errors the client
 * raises (`EtcdLeaseInvalidError`, `GRPCOutOfRangeError`) come from the
 * status codes and message texts it matches, so they prove those are
 * etcd's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Etcd3, EtcdLeaseInvalidError, GRPCInvalidArgumentError, GRPCOutOfRangeError } from 'etcd3';
import { TestCluster, type TestMember } from '../../../test/helpers/cluster.ts';

/** A client of one member's etcd port (so the test knows which member answers). */
function clientOf(member: TestMember): Etcd3 {
  return new Etcd3({ hosts: [`http://${member.etcd}`], dialTimeout: 5000 });
}

/** Rejects with the error `promise` rejects with, or fails when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  assert.fail('expected the call to fail');
}

describe('startEtcdServer with the etcd3 client', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let leader: TestMember;
  let follower: TestMember;
  const clients: Etcd3[] = [];
  const client = (member: TestMember): Etcd3 => {
    const made = clientOf(member);
    clients.push(made);
    return made;
  };

  before(async () => {
    cluster = await TestCluster.create(3, [], { etcd: true });
    await cluster.startAll();
    leader = await cluster.leader();
    follower = cluster.members.find((m) => m !== leader) as TestMember;
  });

  after(async () => {
    for (const made of clients) made.close();
    await cluster?.destroy();
  });

  it('KV: put, get, getAll by prefix with sort, limit and count, on a follower', async () => {
    const etcd = client(follower);
    await etcd.put('app/b').value('2');
    await etcd.put('app/a').value('1');
    await etcd.put('app/c').value('3');
    await etcd.put('other').value('x');
    assert.equal(await etcd.get('app/a').string(), '1');
    assert.equal(await etcd.get('missing').string(), null);
    assert.deepEqual(await etcd.getAll().prefix('app/').strings(), {
      'app/a': '1',
      'app/b': '2',
      'app/c': '3',
    });
    assert.deepEqual(await etcd.getAll().prefix('app/').sort('Key', 'Descend').limit(2).keys(), [
      'app/c',
      'app/b',
    ]);
    // Sorted by create revision, oldest first: b was put first.
    assert.deepEqual(await etcd.getAll().prefix('app/').sort('Create', 'Ascend').keys(), [
      'app/b',
      'app/a',
      'app/c',
    ]);
    assert.equal(await etcd.getAll().prefix('app/').count(), 3);
    const limited = await etcd.getAll().prefix('app/').limit(1).exec();
    assert.equal(limited.kvs.length, 1);
    assert.equal(limited.more, true);
    assert.equal(limited.count, '3');
  });

  it('KV: delete with prevKv returns the deleted keys, and the header revision moves', async () => {
    const etcd = client(leader);
    await etcd.put('del/1').value('one');
    await etcd.put('del/2').value('two');
    const before = await etcd.kv.range({ key: Buffer.from('del/1') });
    const deleted = await etcd.delete().prefix('del/').getPrevious();
    assert.deepEqual(
      deleted.map((kv) => [kv.key.toString(), kv.value.toString()]),
      [
        ['del/1', 'one'],
        ['del/2', 'two'],
      ],
    );
    assert.equal(await etcd.getAll().prefix('del/').count(), 0);
    const afterwards = await etcd.kv.range({ key: Buffer.from('del/1') });
    assert.ok(BigInt(afterwards.header.revision) > BigInt(before.header.revision));
  });

  it('KV: txn runs then or else by its compares, and nests', async () => {
    const etcd = client(follower);
    await etcd.put('txn/k').value('v1');
    const taken = await etcd
      .if('txn/k', 'Value', '==', 'v1')
      .then(etcd.put('txn/k').value('v2'))
      .else(etcd.put('txn/else').value('ran'))
      .commit();
    assert.equal(taken.succeeded, true);
    assert.equal(await etcd.get('txn/k').string(), 'v2');
    const other = await etcd
      .if('txn/k', 'Version', '>', 5)
      .then(etcd.put('txn/then').value('ran'))
      .else(etcd.get('txn/k'))
      .commit();
    assert.equal(other.succeeded, false);
    assert.equal(other.responses[0]?.response_range?.kvs[0]?.value.toString(), 'v2');
    assert.equal(await etcd.get('txn/then').string(), null);
    const nested = await etcd.kv.txn({
      success: [
        {
          request_txn: {
            compare: [
              { key: Buffer.from('txn/k'), target: 'Value', result: 'Equal', value: Buffer.from('v2') },
            ],
            success: [{ request_put: { key: Buffer.from('txn/nested'), value: Buffer.from('yes') } }],
          },
        },
      ],
    });
    assert.equal(nested.responses[0]?.response_txn?.succeeded, true);
    assert.equal(await etcd.get('txn/nested').string(), 'yes');
  });

  it('KV: refusals carry etcd texts (too many ops, duplicate key, empty key)', async () => {
    const etcd = client(leader);
    const puts = Array.from({ length: 129 }, (_, i) => ({
      request_put: { key: Buffer.from(`many/${i}`), value: Buffer.from('x') },
    }));
    const tooMany = await rejection(etcd.kv.txn({ success: puts }));
    assert.ok(tooMany instanceof GRPCInvalidArgumentError, String(tooMany));
    assert.match(tooMany.message, /etcdserver: too many operations in txn request/);
    const twice = { request_put: { key: Buffer.from('dup'), value: Buffer.from('x') } };
    const duplicate = await rejection(etcd.kv.txn({ success: [twice, twice] }));
    assert.match(duplicate.message, /etcdserver: duplicate key given in txn request/);
    const empty = await rejection(etcd.kv.put({ key: Buffer.alloc(0), value: Buffer.from('x') }));
    assert.match(empty.message, /etcdserver: key is not provided/);
  });

  it('KV: a compacted revision is GRPCOutOfRangeError with etcd text; so is a future one', async () => {
    const etcd = client(follower);
    const first = await etcd.put('compact/k').value('old').exec();
    const oldRevision = first.header.revision;
    const second = await etcd.put('compact/k').value('new').exec();
    assert.equal(await etcd.get('compact/k').revision(oldRevision).string(), 'old');
    await etcd.kv.compact({ revision: second.header.revision, physical: true });
    const compacted = await rejection(etcd.get('compact/k').revision(oldRevision).string());
    assert.ok(compacted instanceof GRPCOutOfRangeError, String(compacted));
    assert.match(compacted.message, /etcdserver: mvcc: required revision has been compacted/);
    const future = await rejection(
      etcd
        .get('compact/k')
        .revision(String(BigInt(second.header.revision) + 1000n))
        .string(),
    );
    assert.ok(future instanceof GRPCOutOfRangeError, String(future));
    assert.match(future.message, /etcdserver: mvcc: required revision is a future revision/);
    assert.equal(await etcd.get('compact/k').string(), 'new');
  });

  it('Lease: grant, keep alive on a stream, time to live with keys, revoke deleting them, on a follower', async () => {
    const etcd = client(follower);
    const lease = etcd.lease(3);
    const id = await lease.grant();
    await lease.put('leased/a').value('1');
    await lease.put('leased/b').value('2');
    const live = await etcd.leaseClient.leaseTimeToLive({ ID: id, keys: true });
    assert.equal(live.grantedTTL, '3');
    assert.ok(Number(live.TTL) > 0 && Number(live.TTL) <= 3, `TTL ${live.TTL}`);
    assert.deepEqual(live.keys.map((key) => key.toString()).sort(), ['leased/a', 'leased/b']);
    const listed = await etcd.leaseClient.leaseLeases();
    assert.ok(listed.leases.some((l) => l.ID === id));
    // Kept alive by the client's keep-alive stream for twice the TTL.
    await new Promise((resolve) => setTimeout(resolve, 6500));
    assert.equal(await etcd.get('leased/a').string(), '1');
    const renewed = await lease.keepaliveOnce();
    assert.equal(renewed.TTL, '3');
    await lease.revoke();
    assert.equal(await etcd.getAll().prefix('leased/').count(), 0);
    const gone = await etcd.leaseClient.leaseTimeToLive({ ID: id });
    assert.equal(gone.TTL, '-1');
  });

  it('Lease: a missing lease is EtcdLeaseInvalidError, on revoke, put and keep-alive', async () => {
    const etcd = client(leader);
    const revoke = await rejection(etcd.leaseClient.leaseRevoke({ ID: '4242' }));
    assert.ok(revoke instanceof EtcdLeaseInvalidError, String(revoke));
    const put = await rejection(etcd.put('nolease').value('x').lease('4242').exec());
    assert.ok(put instanceof EtcdLeaseInvalidError, String(put));
    // Revoked behind the Lease object's back: its keep-alive is answered TTL 0, which the client reports so.
    const lease = etcd.lease(30, { autoKeepAlive: false });
    lease.on('lost', () => {});
    const id = await lease.grant();
    await etcd.leaseClient.leaseRevoke({ ID: id });
    const keepAlive = await rejection(lease.keepaliveOnce());
    assert.ok(keepAlive instanceof EtcdLeaseInvalidError, String(keepAlive));
  });

  it('Lease: keep-alives written on one stream without waiting are answered in order, sharing log entries', async () => {
    const etcd = client(leader);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await etcd.leaseClient.leaseGrant({ TTL: 30 + i, ID: 0 })).ID);
    const missing = '4343';
    const requests = [...ids.slice(0, 10), missing, ...ids.slice(10)];
    const stream = await etcd.leaseClient.leaseKeepAlive();
    const answers: { ID: string; TTL: string }[] = [];
    const all = new Promise<void>((resolve, reject) => {
      stream.on('data', (response: { ID: string; TTL: string }) => {
        answers.push(response);
        if (answers.length === requests.length) resolve();
      });
      stream.on('error', reject);
    });
    const before = (await cluster.status(leader))?.commit ?? 0;
    for (const id of requests) stream.write({ ID: id });
    await all;
    const entries = ((await cluster.status(leader))?.commit ?? 0) - before;
    stream.end();
    assert.deepEqual(
      answers.map((answer) => [answer.ID, answer.TTL]),
      requests.map((id) => [id, id === missing ? '0' : String(30 + ids.indexOf(id))]),
    );
    // One at a time, 20 renewals would be 20 entries; a checkpoint the lessor proposed may commit meanwhile.
    assert.ok(entries <= 5, `${entries} entries for ${ids.length} renewals`);
  });

  it('Lease: an id past Number.MAX_SAFE_INTEGER is INVALID_ARGUMENT, not rounded', async () => {
    const etcd = client(leader);
    const refused = await rejection(etcd.leaseClient.leaseGrant({ TTL: 10, ID: '9223372036854775807' }));
    assert.ok(refused instanceof GRPCInvalidArgumentError, String(refused));
    const exact = String(Number.MAX_SAFE_INTEGER);
    const granted = await etcd.leaseClient.leaseGrant({ TTL: 10, ID: exact });
    assert.equal(granted.ID, exact);
    await etcd.leaseClient.leaseRevoke({ ID: exact });
    const tooLong = await rejection(etcd.leaseClient.leaseGrant({ TTL: 9_000_000_001 }));
    assert.ok(tooLong instanceof GRPCOutOfRangeError, String(tooLong));
    assert.match(tooLong.message, /etcdserver: too large lease TTL/);
  });

  it('ResponseHeader: one cluster id, the answering member id, the revision and the term', async () => {
    const headers = await Promise.all(
      cluster.members.map(async (member) => {
        const response = await client(member).kv.range({ key: Buffer.from('header'), serializable: true });
        return { member, header: response.header };
      }),
    );
    const clusterIds = new Set(headers.map(({ header }) => header.cluster_id));
    assert.equal(clusterIds.size, 1);
    assert.notEqual([...clusterIds][0], '0');
    for (const { member, header } of headers) {
      const status = await cluster.status(member);
      assert.equal(header.member_id, String(status?.id));
      assert.equal(header.raft_term, String(status?.term));
      assert.ok(Number(header.revision) >= 1);
    }
  });
});
