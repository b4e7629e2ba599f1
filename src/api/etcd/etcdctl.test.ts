/**
 * The etcd front door against `etcdctl` (etcd's own command, v3 API),
 * unchanged, on a 3-member cluster of `tessera start` processes: each
 * command's output is what etcdctl prints against etcd. Skipped, saying
 * so, where etcdctl is not installed (Debian: `etcd-client`).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { TestCluster } from '../../../test/helpers/cluster.ts';
import { ETCDCTL_ENV, ETCDCTL_INSTALLED, ETCDCTL_MISSING } from './etcd-cluster.suite.ts';

/** What an etcdctl run printed, and how it exited. */
interface EtcdctlRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

describe('startEtcdServer with etcdctl', { timeout: 120_000 }, () => {
  let cluster: TestCluster | undefined;
  /** Runs `etcdctl` against every member's etcd port, with `input` on stdin. */
  const etcdctl = (args: string[], input = ''): Promise<EtcdctlRun> =>
    new Promise((resolve) => {
      const endpoints = (cluster as TestCluster).etcdEndpoints.join(',');
      const child = execFile(
        'etcdctl',
        ['--endpoints', endpoints, '--command-timeout', '15s', ...args],
        { env: ETCDCTL_ENV, timeout: 30_000 },
        (_error, stdout, stderr) => resolve({ code: child.exitCode ?? -1, stdout, stderr }),
      );
      child.stdin?.end(input);
    });
  /** Runs etcdctl and returns its output, failing on a non-zero exit. */
  const ok = async (...args: string[]): Promise<string> => {
    const run = await etcdctl(args);
    assert.equal(run.code, 0, `etcdctl ${args.join(' ')}: ${run.stderr}`);
    return run.stdout;
  };

  before(async () => {
    if (!ETCDCTL_INSTALLED) return;
    cluster = await TestCluster.create(3, [], { etcd: true });
    await cluster.startAll();
    await cluster.waitForLeader();
  });

  after(async () => {
    await cluster?.destroy();
  });

  it('put, get (prefix, limit, sort, keys-only, print-value-only, -w json), del --prev-kv', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    assert.equal(await ok('put', 'greeting', 'hello'), 'OK\n');
    assert.equal(await ok('get', 'greeting'), 'greeting\nhello\n');
    assert.equal(await ok('get', 'greeting', '--print-value-only'), 'hello\n');
    await ok('put', 'app/b', '2');
    await ok('put', 'app/a', '1');
    assert.equal(await ok('get', 'app/', '--prefix'), 'app/a\n1\napp/b\n2\n');
    assert.equal(await ok('get', 'app/', '--prefix', '--keys-only'), 'app/a\n\napp/b\n\n');
    assert.equal(
      await ok('get', 'app/', '--prefix', '--sort-by=KEY', '--order=DESCEND'),
      'app/b\n2\napp/a\n1\n',
    );
    assert.equal(await ok('get', 'app/', '--prefix', '--sort-by=CREATE', '--limit=1'), 'app/b\n2\n');
    const page = JSON.parse(await ok('get', 'app/', '--prefix', '--limit=1', '-w', 'json')) as {
      header: { cluster_id: number; member_id: number; revision: number; raft_term: number };
      kvs: { key: string; value: string; version: number }[];
      more: boolean;
      count: number;
    };
    assert.equal(page.kvs.length, 1);
    assert.equal(Buffer.from(page.kvs[0]?.key ?? '', 'base64').toString(), 'app/a');
    assert.equal(page.more, true);
    assert.equal(page.count, 2);
    assert.ok(page.header.revision >= 4 && page.header.raft_term >= 1 && page.header.member_id > 0);
    assert.equal(await ok('del', 'app/', '--prefix', '--prev-kv'), '2\napp/a\n1\napp/b\n2\n');
    const missing = await etcdctl(['get', 'app/a']);
    assert.deepEqual([missing.code, missing.stdout], [0, '']);
  });

  it('txn (interactive form from stdin): success and failure branches', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    await ok('put', 'txn/k', 'v');
    const script = 'value("txn/k") = "v"\n\nput txn/k v2\nget txn/k\n\nput txn/k other\n\n';
    const taken = await etcdctl(['txn'], script);
    assert.equal(taken.code, 0, taken.stderr);
    assert.equal(taken.stdout, 'SUCCESS\n\nOK\n\ntxn/k\nv2\n');
    const failed = await etcdctl(['txn'], script);
    assert.equal(failed.stdout, 'FAILURE\n\nOK\n');
    assert.equal(await ok('get', 'txn/k', '--print-value-only'), 'other\n');
  });

  it('lease grant, put --lease, timetolive --keys, list, keep-alive --once, revoke', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    const granted = await ok('lease', 'grant', '60');
    const id = /^lease ([0-9a-f]{16}) granted with TTL\(60s\)\n$/.exec(granted)?.[1];
    assert.ok(id !== undefined, granted);
    assert.equal(await ok('put', '--lease', id, 'leased', 'v'), 'OK\n');
    assert.match(
      await ok('lease', 'timetolive', id, '--keys'),
      new RegExp(
        `^lease ${id} granted with TTL\\(60s\\), remaining\\((59|60)s\\), attached keys\\(\\[leased\\]\\)\n$`,
      ),
    );
    assert.equal(await ok('lease', 'list'), `found 1 leases\n${id}\n`);
    assert.equal(await ok('lease', 'keep-alive', '--once', id), `lease ${id} keepalived with TTL(60)\n`);
    assert.equal(await ok('lease', 'revoke', id), `lease ${id} revoked\n`);
    assert.equal(await ok('get', 'leased'), '');
    assert.equal(await ok('lease', 'timetolive', id), `lease ${id} already expired\n`);
    const renewGone = await etcdctl(['lease', 'keep-alive', '--once', id]);
    assert.notEqual(renewGone.code, 0);
    assert.match(renewGone.stderr, /etcdserver: requested lease not found/);
  });

  it('compaction, then a read at a compacted revision fails with etcd text', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    await ok('put', 'compact/k', 'old');
    const { header } = JSON.parse(await ok('get', 'compact/k', '-w', 'json')) as {
      header: { revision: number };
    };
    await ok('put', 'compact/k', 'new');
    assert.equal(
      await ok('get', 'compact/k', '--rev', String(header.revision), '--print-value-only'),
      'old\n',
    );
    const latest = header.revision + 1;
    assert.equal(await ok('compaction', String(latest)), `compacted revision ${latest}\n`);
    const compacted = await etcdctl(['get', 'compact/k', '--rev', String(header.revision)]);
    assert.notEqual(compacted.code, 0);
    assert.match(compacted.stderr, /Error: etcdserver: mvcc: required revision has been compacted/);
    const future = await etcdctl(['get', 'compact/k', '--rev', String(latest + 100)]);
    assert.match(future.stderr, /Error: etcdserver: mvcc: required revision is a future revision/);
  });
});
