/**
 * `etcdserverpb.Cluster` against `etcdctl` (etcd's own command, v3 API)
 * and the `etcd3` npm client, on a 3-member cluster of `tessera start`
 * processes: member list/add/promote/remove/update and move-leader print
 * what they print against etcd, and refusals carry etcd's texts. Skipped,
 * saying so, where etcdctl is not installed.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { freePort, type TestCluster, type TestMember } from '../../../test/helpers/cluster.ts';
import { memberIdOf } from '../../server/member.ts';
import { memberNameForPeer } from './cluster-service.ts';
import { ETCDCTL_INSTALLED, ETCDCTL_MISSING, startEtcdCluster } from './etcd-cluster.suite.ts';
import { etcdctlRunner } from './etcdctl-runner.suite.ts';
import { clusterIdOf } from './header.ts';

/** A member id as etcdctl prints it in lists. */
const hex = (name: string) => memberIdOf(name).toString(16);

/** What etcdctl prints after a membership change (`%16x`: ids padded to 16 columns). */
const changed = (name: string, what: string) =>
  `Member ${hex(name).padStart(16)} ${what} cluster ${BigInt(clusterIdOf(['m1', 'm2', 'm3']))
    .toString(16)
    .padStart(16)}\n`;

/** `etcdctl member list` as JSON prints a member (Go leaves out empty fields). */
interface JsonMember {
  readonly ID: number;
  readonly name?: string;
  readonly peerURLs?: string[];
  readonly clientURLs?: string[];
  readonly isLearner?: boolean;
}

/** Polls `check` every 100 ms until it holds, for up to `timeoutMs`. */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`${what}: not within ${timeoutMs} ms`);
}

describe('clusterService with etcdctl and the etcd3 client', { timeout: 180_000 }, () => {
  let cluster: TestCluster | undefined;
  // One member answers everything: a change it answered is applied there, so its next list shows it (etcd's
  // MemberList reads the member's own view). And a member that joins later has another cluster id in its
  // headers (see `clusterIdOf`).
  const etcdctl = etcdctlRunner(() => (cluster?.etcdEndpoints ?? []).slice(0, 1));
  const founders = () => (cluster?.etcdEndpoints ?? []).slice(0, 3);
  const member = (name: string): TestMember => (cluster as TestCluster).member(name);
  /** `member list` lines, sorted. */
  const memberLines = async () => (await etcdctl.ok('member', 'list')).split('\n').filter(Boolean).sort();

  before(async () => {
    if (!ETCDCTL_INSTALLED) return;
    cluster = await startEtcdCluster();
  });

  after(async () => {
    await cluster?.destroy();
  });

  it('member list: ids, names, peer URLs and every member’s etcd URL, as JSON and as lines', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    const m1 = member('m1');
    const run = await etcdctl.run(['member', 'list', '-w', 'json'], { endpoints: [m1.etcd as string] });
    assert.equal(run.code, 0, run.stderr);
    const listed = JSON.parse(run.stdout) as { header: { member_id: number }; members: JsonMember[] };
    assert.equal(listed.header.member_id, memberIdOf('m1'));
    assert.deepEqual(
      listed.members
        .map((m) => ({ ...m, clientURLs: m.clientURLs ?? [] }))
        .sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '')),
      ['m1', 'm2', 'm3'].map((name) => ({
        ID: memberIdOf(name),
        name,
        peerURLs: [`http://${member(name).peer}`],
        // Each member publishes its etcd address in the member directory.
        clientURLs: [`http://${member(name).etcd}`],
      })),
    );
    const lines = await etcdctl.run(['member', 'list'], { endpoints: [m1.etcd as string] });
    assert.deepEqual(
      lines.stdout.split('\n').filter(Boolean).sort(),
      ['m1', 'm2', 'm3']
        .map((name) => {
          return `${hex(name)}, started, ${name}, http://${member(name).peer}, http://${member(name).etcd}, false`;
        })
        .sort(),
    );
  });

  it('member list through the etcd3 client: the same members, ids as decimal strings', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    const client = new Etcd3({ hosts: [`http://${member('m2').etcd}`], dialTimeout: 5000 });
    try {
      const { members } = await client.cluster.memberList({});
      assert.deepEqual(
        members.map((m) => [m.name, m.ID, m.isLearner]).sort(),
        ['m1', 'm2', 'm3'].map((name) => [name, String(memberIdOf(name)), false]),
      );
    } finally {
      client.close();
    }
  });

  it('member update moves a follower’s peer address in the directory, refuses two URLs, and moves it back', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    // A follower other than m1, which answers: while the directory names another address for the moved
    // member, no one reaches it, so it could neither answer the update nor (as leader) commit anything.
    const leader = await (cluster as TestCluster).leader();
    const moved = (cluster as TestCluster).members.find((m) => m.name !== 'm1' && m !== leader) as TestMember;
    const update = async (address: string) =>
      etcdctl.ok('member', 'update', hex(moved.name), `--peer-urls=http://${address}`);
    const elsewhere = `127.0.0.1:${await freePort()}`;
    assert.equal(await update(elsewhere), changed(moved.name, 'updated in'));
    const listed = (peer: string) => `${hex(moved.name)}, started, ${moved.name}, http://${peer},`;
    assert.ok((await memberLines()).some((line) => line.startsWith(listed(elsewhere))));
    const two = await etcdctl.run([
      'member',
      'update',
      hex(moved.name),
      `--peer-urls=http://${elsewhere},http://${moved.peer}`,
    ]);
    assert.notEqual(two.code, 0);
    assert.match(two.stderr, /etcdserver: given member URLs are invalid/);
    await update(moved.peer);
    assert.ok((await memberLines()).some((line) => line.startsWith(listed(moved.peer))));
    // The leader reaches the member at its address again: a write made elsewhere shows up in its own state.
    await etcdctl.ok('put', 'after-update', 'yes');
    await eventually(`${moved.name} applies a write made after its address came back`, async () => {
      const read = await etcdctl.run(['get', 'after-update', '--consistency=s', '--print-value-only'], {
        endpoints: [moved.etcd as string],
      });
      return read.stdout === 'yes\n';
    });
  });

  it('move-leader hands leadership to a follower; an unknown target is a bad leader transferee', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    const running = cluster as TestCluster;
    const leader = await running.leader();
    const target = running.members.find((m) => m !== leader) as TestMember;
    // etcdctl sends MoveLeader to whichever endpoint leads: give it every member.
    const moved = await etcdctl.run(['move-leader', hex(target.name)], { endpoints: founders() });
    assert.equal(moved.code, 0, moved.stderr);
    assert.equal(moved.stdout, `Leadership transferred from ${hex(leader.name)} to ${hex(target.name)}\n`);
    // MoveLeader answers once the member asked follows the new leader; every member soon agrees.
    const status = await running.waitForLeader(running.running(), 10_000, (name) => name === target.name);
    assert.equal(status.leaderName, target.name);
    const bad = await etcdctl.run(['move-leader', '4d2'], { endpoints: founders() });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /etcdserver: bad leader transferee/);
  });

  it('member add --learner, start it under its derived name, promote, remove; etcd’s refusals', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    const running = cluster as TestCluster;
    const peer = `127.0.0.1:${await freePort()}`;
    const name = memberNameForPeer(peer);
    const added = await etcdctl.ok('member', 'add', 'any-name', `--peer-urls=http://${peer}`, '--learner');
    assert.ok(added.startsWith(changed(name, 'added to')), added);
    assert.ok((await memberLines()).includes(`${hex(name)}, unstarted, , http://${peer}, , true`));

    const taken = await etcdctl.run(['member', 'add', 'again', `--peer-urls=http://${peer}`]);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, /etcdserver: Peer URLs already exists/);
    const voter = await etcdctl.run(['member', 'promote', hex('m1')]);
    assert.match(voter.stderr, /etcdserver: can only promote a learner member/);

    const joiner: TestMember = {
      name,
      peer,
      client: `127.0.0.1:${await freePort()}`,
      http: `127.0.0.1:${await freePort()}`,
      etcd: `127.0.0.1:${await freePort()}`,
      data: join(running.root, name),
      process: undefined,
      logs: [],
    };
    running.members.push(joiner);
    await running.start(joiner, { founders: [joiner], existing: true });
    await eventually('the learner publishes itself', async () =>
      (await memberLines()).some((line) =>
        line.startsWith(`${hex(name)}, started, ${name}, http://${peer},`),
      ),
    );

    assert.equal(await etcdctl.ok('member', 'promote', hex(name)), changed(name, 'promoted in'));
    assert.ok(
      (await memberLines()).some(
        (line) => line.startsWith(`${hex(name)}, started, ${name},`) && line.endsWith(', false'),
      ),
    );

    assert.equal(await etcdctl.ok('member', 'remove', hex(name)), changed(name, 'removed from'));
    await running.kill(joiner);
    assert.deepEqual(
      (await memberLines()).map((line) => line.split(', ')[2]),
      ['m1', 'm2', 'm3'].sort((a, b) => hex(a).localeCompare(hex(b))),
    );
    const unknown = await etcdctl.run(['member', 'remove', hex(name)]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /etcdserver: member not found/);
  });
});
