/**
 * `etcdserverpb.Maintenance` and `etcdserverpb.Auth` against `etcdctl`
 * (etcd's own command, v3 API) and the `etcd3` npm client, on a 3-member
 * cluster of `tessera start` processes: endpoint status/health/hashkv,
 * alarm list/disarm, defrag, snapshot save and the auth commands print
 * what they print against etcd (or, where Tessera differs, what the
 * module comments say). Skipped, saying so, where etcdctl is not
 * installed.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type AlarmAction, type AlarmType, Etcd3, type ISnapshotResponse } from 'etcd3';
import type { TestCluster, TestMember } from '../../../test/helpers/cluster.ts';
import { decodeMultiple } from '../../codec/msgpack.ts';
import { memberIdOf } from '../../server/member.ts';
import { ETCDCTL_INSTALLED, ETCDCTL_MISSING, startEtcdCluster } from './etcd-cluster.suite.ts';
import { etcdctlRunner } from './etcdctl-runner.suite.ts';
import { ETCD_VERSION_REPORTED } from './maintenance-service.ts';
import { SNAPSHOT_BLOCK_BYTES, SNAPSHOT_CHUNK_BYTES } from './snapshot-stream.ts';

/** `etcdctl endpoint status -w json`, one entry per endpoint. */
interface JsonEndpointStatus {
  readonly Endpoint: string;
  readonly Status: {
    readonly header: { readonly member_id: number; readonly revision: number };
    readonly version: string;
    readonly dbSize: number;
    readonly leader: number;
    readonly raftIndex: number;
    readonly raftTerm: number;
    readonly raftAppliedIndex: number;
  };
}

/** Keys written before the tests, so that a snapshot spans many chunks. */
const KEYS_WRITTEN = 200;

describe('maintenanceService and authService with etcdctl and the etcd3 client', { timeout: 180_000 }, () => {
  let cluster: TestCluster | undefined;
  let client: Etcd3 | undefined;
  const etcdctl = etcdctlRunner(() => cluster?.etcdEndpoints ?? []);
  const members = (): TestMember[] => (cluster as TestCluster).members;
  /** The revision after a write of `key`, once every member has applied it (a linearizable read on each). */
  const writeEverywhere = async (key: string, value: string): Promise<number> => {
    await etcdctl.ok('put', key, value);
    let revision = 0;
    for (const member of members()) {
      const read = await etcdctl.run(['get', key, '-w', 'json'], { endpoints: [member.etcd as string] });
      revision = (JSON.parse(read.stdout) as { header: { revision: number } }).header.revision;
    }
    return revision;
  };
  /** `endpoint hashkv --rev` on every member: endpoint → hash. */
  const hashes = async (revision: number): Promise<Map<string, string>> => {
    const lines = (await etcdctl.ok('endpoint', 'hashkv', `--rev=${revision}`)).split('\n').filter(Boolean);
    return new Map(lines.map((line) => line.split(', ') as [string, string]));
  };

  before(async () => {
    if (!ETCDCTL_INSTALLED) return;
    cluster = await startEtcdCluster();
    client = new Etcd3({ hosts: cluster.etcdEndpoints.map((e) => `http://${e}`), dialTimeout: 5000 });
    const value = 'x'.repeat(1024);
    for (let i = 0; i < KEYS_WRITTEN; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) => (client as Etcd3).put(`bulk/${i + j}`).value(value)),
      );
    }
  });

  after(async () => {
    client?.close();
    await cluster?.destroy();
  });

  it('endpoint status: each member’s id, version, database size, one leader, term and indexes, no errors', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    const leader = await (cluster as TestCluster).leader();
    const lines = (await etcdctl.ok('endpoint', 'status')).split('\n').filter(Boolean);
    assert.equal(lines.length, 3);
    for (const member of members()) {
      const line = lines.find((l) => l.startsWith(`${member.etcd}, `));
      const pattern = new RegExp(
        `^${member.etcd}, ${memberIdOf(member.name).toString(16)}, ${ETCD_VERSION_REPORTED.replace('+', '\\+')}, [\\d.]+ [kM]B, ${member === leader}, false, \\d+, \\d+, \\d+, $`,
      );
      assert.match(line ?? '', pattern);
    }
    const statuses = JSON.parse(await etcdctl.ok('endpoint', 'status', '-w', 'json')) as JsonEndpointStatus[];
    for (const { Status } of statuses) {
      assert.equal(Status.leader, memberIdOf(leader.name));
      assert.ok(Status.dbSize >= KEYS_WRITTEN * 1024, `dbSize ${Status.dbSize} holds the keys written`);
      assert.ok(Status.raftTerm >= 1);
      assert.ok(Status.raftAppliedIndex <= Status.raftIndex, 'applied never passes committed');
      assert.ok(Status.raftAppliedIndex > KEYS_WRITTEN);
    }
  });

  it('endpoint health: every member commits a read', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    // etcdctl 3.4 prints each verdict on stderr.
    const health = await etcdctl.run(['endpoint', 'health']);
    assert.equal(health.code, 0, health.stderr);
    const healthy = health.stdout + health.stderr;
    for (const member of members()) assert.match(healthy, new RegExp(`${member.etcd} is healthy`));
  });

  it('endpoint hashkv: equal on every member at a revision, another after a write, the past unchanged', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    const first = await writeEverywhere('hash/k', 'one');
    const atFirst = await hashes(first);
    assert.equal(atFirst.size, 3);
    assert.equal(new Set(atFirst.values()).size, 1, `every member agrees: ${[...atFirst.values()]}`);
    const second = await writeEverywhere('hash/k', 'two');
    const atSecond = await hashes(second);
    assert.equal(new Set(atSecond.values()).size, 1);
    assert.notEqual([...atSecond.values()][0], [...atFirst.values()][0], 'a write changes the hash');
    assert.deepEqual(await hashes(first), atFirst, 'a later write does not change the hash of the past');

    // As JSON: the same number, and the compaction point once there is one.
    const hashKv = async (revision: number) => {
      const json = await etcdctl.ok('endpoint', 'hashkv', `--rev=${revision}`, '-w', 'json');
      return (JSON.parse(json) as { HashKV: { hash: number; compact_revision?: number } }[]).map(
        (e) => e.HashKV,
      );
    };
    for (const answer of await hashKv(second)) {
      assert.equal(String(answer.hash), [...atSecond.values()][0]);
      assert.equal(answer.compact_revision, -1, 'never compacted: -1, as etcd');
    }
    await etcdctl.ok('compaction', String(second));
    for (const answer of await hashKv(second)) {
      assert.equal(
        String(answer.hash),
        [...atSecond.values()][0],
        'compaction leaves the state at its revision',
      );
      assert.equal(answer.compact_revision, second);
    }
    const gone = await etcdctl.run(['endpoint', 'hashkv', `--rev=${first}`]);
    assert.match(gone.stderr, /etcdserver: mvcc: required revision has been compacted/);
  });

  it('alarm list and disarm: nothing raised; raising one by request is refused as unimplemented', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    assert.equal(await etcdctl.ok('alarm', 'list'), '');
    assert.equal(await etcdctl.ok('alarm', 'disarm'), '');
    const activate = (client as Etcd3).maintenance.alarm({
      action: 'Activate' as keyof typeof AlarmAction,
      memberID: String(memberIdOf('m1')),
      alarm: 'Nospace' as keyof typeof AlarmType,
    });
    await assert.rejects(activate, /Tessera members raise their alarms themselves/);
  });

  it('defrag: finishes on every member (LMDB reuses freed pages without one)', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    const lines = (await etcdctl.ok('defrag')).split('\n').filter(Boolean).sort();
    assert.deepEqual(
      lines,
      members()
        .map((m) => `Finished defragmenting etcd member[${m.etcd}]`)
        .sort(),
    );
  });

  it('snapshot save: the state image, zero-padded to 512-byte blocks, then its SHA-256', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    const folder = mkdtempSync(join(tmpdir(), 'tessera-snapshot-test-'));
    try {
      const path = join(folder, 'snapshot.db');
      const saved = await etcdctl.run(['snapshot', 'save', path], {
        endpoints: [members()[0]?.etcd as string],
      });
      assert.equal(saved.code, 0, saved.stderr);
      assert.equal(saved.stdout, `Snapshot saved at ${path}\n`);
      const file = readFileSync(path);
      assert.equal(file.length % SNAPSHOT_BLOCK_BYTES, 32);
      const body = file.subarray(0, file.length - 32);
      assert.deepEqual(file.subarray(file.length - 32), createHash('sha256').update(body).digest());
      const records = decodeMultiple(body);
      const head = records[0] as { applied: number; members: [number, { name: string }][] };
      assert.ok(head.applied > KEYS_WRITTEN);
      assert.deepEqual(head.members.map(([, info]) => info.name).sort(), ['m1', 'm2', 'm3']);
      const end = records.findIndex((record) => Array.isArray(record) && record[0] === 'end');
      assert.ok(end > 0, 'the image ends with its end record');
      assert.ok(
        records.slice(end + 1).every((record) => record === 0),
        'only zero padding follows it',
      );
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('snapshot through the etcd3 client: 32 KiB chunks counting down remaining_bytes, then the digest', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    const stream = await (client as Etcd3).maintenance.snapshot();
    const chunks = await new Promise<ISnapshotResponse[]>((resolve, reject) => {
      const got: ISnapshotResponse[] = [];
      stream.on('data', (chunk) => got.push(chunk));
      stream.on('end', () => resolve(got));
      stream.on('error', reject);
    });
    assert.ok(chunks.length > KEYS_WRITTEN / 32, `${chunks.length} chunks`);
    const image = chunks.slice(0, -1);
    const digest = chunks.at(-1) as ISnapshotResponse;
    const total = image.reduce((sum, chunk) => sum + chunk.blob.length, 0);
    let remaining = total;
    for (const chunk of image) {
      assert.ok(chunk.blob.length <= SNAPSHOT_CHUNK_BYTES);
      remaining -= chunk.blob.length;
      assert.equal(String(chunk.remaining_bytes), String(remaining));
      assert.equal(
        chunk.header.revision,
        image[0]?.header.revision,
        'every chunk tells the image’s revision',
      );
    }
    assert.equal(String(digest.remaining_bytes), '0');
    const hash = createHash('sha256');
    for (const chunk of image) hash.update(chunk.blob);
    assert.deepEqual(Buffer.from(digest.blob), hash.digest());
  });

  it('auth: status off; enable, user and role calls refused as etcd does with auth off; disable succeeds', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    const status = await (client as Etcd3).auth.authStatus();
    assert.equal(status.enabled, false);
    for (const args of [
      ['auth', 'enable'],
      ['user', 'add', 'alice:secret'],
      ['role', 'list'],
      ['user', 'list'],
    ]) {
      const refused = await etcdctl.run(args);
      assert.notEqual(refused.code, 0, args.join(' '));
      assert.match(refused.stderr, /Error: etcdserver: authentication is not enabled/, args.join(' '));
    }
    assert.equal(await etcdctl.ok('auth', 'disable'), 'Authentication Disabled\n');
    const withPassword = new Etcd3({
      hosts: [`http://${members()[0]?.etcd}`],
      auth: { username: 'alice', password: 'secret' },
      dialTimeout: 5000,
    });
    try {
      await assert.rejects(withPassword.get('k').string(), /authentication is not enabled/);
    } finally {
      withPassword.close();
    }
  });
});
