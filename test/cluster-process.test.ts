/**
 * Real member processes under real faults: SIGKILL of the leader and of
 * every member mid-load, a member catching up by snapshot, SIGSTOP of the
 * leader. Every write a client saw acknowledged must be on every member
 * afterwards.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  getCommand,
  memberAddCommand,
  memberChangeCommand,
  memberListCommand,
  moveLeaderCommand,
  putCommand,
} from '../src/cli/client-commands.ts';
import { EntryType } from '../src/raft/types.ts';
import { PeerService } from '../src/server/api.ts';
import { WAL_RECORD_BYTES_MAX_DEFAULT } from '../src/storage/wal-options.ts';
import {
  encodeWalRecord,
  isWalRecordAt,
  WAL_RECORD_HEADER_BYTES,
  WalRecordType,
} from '../src/storage/wal-record.ts';
import { RpcClient } from '../src/transport/rpc-client.ts';
import { TestCluster, type TestMember } from './helpers/cluster.ts';

const clusters: TestCluster[] = [];
after(async () => {
  for (const cluster of clusters) await cluster.destroy();
});

/**
 * Established TCP connections to one of `ports` on loopback, each counted
 * once (by its dialing end), from /proc/net/tcp.
 */
function establishedTo(ports: ReadonlySet<number>): number {
  let count = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const remote = fields[2];
    if (fields[3] !== '01' || remote === undefined) continue; // 01: ESTABLISHED
    if (ports.has(Number.parseInt(remote.split(':')[1] ?? '', 16))) count++;
  }
  return count;
}

async function cluster(size: number, flags: string[] = []): Promise<TestCluster> {
  const created = await TestCluster.create(size, flags);
  clusters.push(created);
  await created.startAll();
  await created.waitForLeader();
  return created;
}

/** Writers that put unique keys until stopped; returns what was acknowledged. */
function writeLoad(endpoints: () => string[], writers: number): { stop(): Promise<Map<string, string>> } {
  const acked = new Map<string, string>();
  let running = true;
  let sequence = 0;
  const loops = Array.from({ length: writers }, async (_, w) => {
    while (running) {
      const key = `w${w}-${sequence++}`;
      const value = `v${key}`;
      try {
        await putCommand(endpoints(), key, value);
        acked.set(key, value);
      } catch {
        // Refused or outcome unknown during the fault: not acknowledged, so not checked.
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return acked;
    },
  };
}

/** Waits until every member applied as far as the leader committed, then checks every acknowledged write on each. */
async function assertAllHave(testCluster: TestCluster, acked: Map<string, string>): Promise<void> {
  const leader = await testCluster.waitForLeader();
  const deadline = Date.now() + 15_000;
  for (const member of testCluster.members) {
    for (;;) {
      const status = await testCluster.status(member);
      if (status !== undefined && status.applied >= leader.commit) break;
      if (Date.now() > deadline)
        throw new Error(`${member.name} did not catch up to ${leader.commit}: ${JSON.stringify(status)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  for (const member of testCluster.members) {
    for (const [key, value] of acked) {
      const read = await getCommand([member.client], key, true);
      assert.equal(read.value, value, `${member.name} lost acknowledged write ${key}`);
    }
  }
}

describe('a cluster of member processes', { timeout: 120_000 }, () => {
  it('kill -9 of the leader under load: a new leader, and every acknowledged write on every member', async () => {
    const c = await cluster(3);
    const load = writeLoad(() => c.running().map((m) => m.client), 4);
    await new Promise((r) => setTimeout(r, 800));
    const leader = await c.leader();
    await c.kill(leader);
    const survivors = c.members.filter((m) => m !== leader);
    const next = await c.waitForLeader(survivors, 10_000, leader.name);
    assert.notEqual(next.leaderName, leader.name);
    await new Promise((r) => setTimeout(r, 800));
    const acked = await load.stop();
    assert.ok(acked.size > 20, `only ${acked.size} writes acknowledged`);
    await c.start(leader);
    await assertAllHave(c, acked);
  });

  it('kill -9 of every member mid-load, then restart: identical state, nothing acknowledged lost', async () => {
    const c = await cluster(3);
    const load = writeLoad(() => c.running().map((m) => m.client), 4);
    await new Promise((r) => setTimeout(r, 1000));
    await Promise.all(c.members.map((m) => c.kill(m)));
    const acked = await load.stop();
    assert.ok(acked.size > 20, `only ${acked.size} writes acknowledged`);
    await Promise.all(c.members.map((m) => c.start(m)));
    await assertAllHave(c, acked);
    const applied = await Promise.all(c.members.map(async (m) => (await c.status(m))?.applied));
    assert.equal(new Set(applied).size, 1, `members applied different indexes: ${applied}`);
  });

  it('members hold one connection per pair, and a follower forwards writes over it', async () => {
    const c = await cluster(3);
    const leader = await c.leader();
    const followers = c.members.filter((m) => m !== leader);
    // Writes through each follower are forwarded to the leader; reads confirm through it.
    for (const [i, follower] of followers.entries()) {
      await putCommand([follower.client], `via-${i}`, 'forwarded');
      assert.equal((await getCommand([follower.client], `via-${i}`, false)).value, 'forwarded');
    }
    const peerPorts = new Set(c.members.map((m) => Number(m.peer.split(':')[1])));
    const links = establishedTo(peerPorts);
    // Each pair that talks shares one connection: leader-follower pairs do, follower pairs need not.
    assert.ok(links >= 2 && links <= 3, `${links} connections between 3 members' peer ports`);
  });

  it('a member down while the log is compacted past it catches up by snapshot', async () => {
    const c = await cluster(3, ['--snapshot-entries', '40', '--snapshot-catchup-entries', '5']);
    const leader = await c.leader();
    const behind = c.members.find((m) => m !== leader) as TestMember;
    await c.kill(behind);
    const acked = new Map<string, string>();
    for (let i = 0; i < 150; i++) {
      await putCommand([leader.client], `s${i}`, `value-${i}`);
      acked.set(`s${i}`, `value-${i}`);
    }
    await c.start(behind);
    await assertAllHave(c, acked);
    const metrics = await (await fetch(`http://${behind.http}/metrics`)).text();
    const installed = /tessera_snapshots_total\{kind="installed"\} (\d+)/.exec(metrics);
    assert.ok(installed !== null && Number(installed[1]) >= 1, `no snapshot installed:\n${metrics}`);
  });

  it('SIGSTOP of the leader past the election timeout: a new leader; after SIGCONT the old one steps down and serves no stale read', async () => {
    const c = await cluster(3);
    const old = await c.leader();
    await putCommand([old.client], 'x', 'before');
    c.signal(old, 'SIGSTOP');
    try {
      const others = c.members.filter((m) => m !== old);
      const next = await c.waitForLeader(others, 10_000, old.name);
      assert.notEqual(next.leaderName, old.name);
      await putCommand(
        others.map((m) => m.client),
        'x',
        'after',
      );
    } finally {
      c.signal(old, 'SIGCONT');
    }
    // The first linearizable read at the old leader, right after it wakes, must see the new value (or fail).
    const read = await getCommand([old.client], 'x', false).catch((error: Error) => error);
    if (!(read instanceof Error)) assert.equal(read.value, 'after', 'a stale read from the deposed leader');
    await c.waitForLeader(c.members, 10_000, old.name);
    assert.equal((await c.status(old))?.role, 'follower');
  });
});

/** The WAL segments of a member, oldest first. */
function walSegments(member: TestMember): string[] {
  const dir = join(member.data, 'raft', 'wal');
  return readdirSync(dir)
    .filter((name) => name.startsWith('wal-') && name.endsWith('.log'))
    .sort()
    .map((name) => join(dir, name));
}

/** Offset just past the last whole record of a segment (segments are preallocated with zeros). */
function writtenEnd(bytes: Buffer): number {
  let offset = 0;
  while (isWalRecordAt(bytes, offset, WAL_RECORD_BYTES_MAX_DEFAULT)) {
    offset += WAL_RECORD_HEADER_BYTES + bytes.readUInt32BE(offset);
  }
  return offset;
}

describe('a member restarting from a damaged WAL', { timeout: 120_000 }, () => {
  it('cuts a torn last record and starts; refuses a flipped byte in the middle with a clear message', async () => {
    const c = await cluster(3);
    const leader = await c.leader();
    const victim = c.members.find((m) => m !== leader) as TestMember;
    for (let i = 0; i < 30; i++) await putCommand([leader.client], `t${i}`, `v${i}`);
    await c.kill(victim);

    // Torn tail: a record whose write was cut off by power loss (so its sync never returned): its first
    // half made it to the file after the last good record.
    const last = walSegments(victim).at(-1) as string;
    const bytes = readFileSync(last);
    const torn = encodeWalRecord({
      type: WalRecordType.entries,
      entries: [{ term: 1, index: 1_000_000, type: EntryType.normal, data: new Uint8Array(64).fill(7) }],
    });
    const end = writtenEnd(bytes);
    torn.copy(bytes, end, 0, Math.floor(torn.length / 2));
    writeFileSync(last, bytes);
    await c.start(victim);
    const acked = new Map(Array.from({ length: 30 }, (_, i) => [`t${i}`, `v${i}`] as [string, string]));
    await assertAllHave(c, acked);
    assert.ok(
      victim.logs.some((line) => /torn/i.test(line)),
      `the member logged no torn tail:\n${victim.logs.slice(-10).join('\n')}`,
    );

    // A flipped byte with good records after it is corruption, not a torn write: refuse to start.
    await c.kill(victim);
    const first = walSegments(victim)[0] as string;
    const damaged = readFileSync(first);
    const middle = Math.floor(writtenEnd(damaged) / 3);
    damaged[middle] = (damaged[middle] as number) ^ 0xff;
    writeFileSync(first, damaged);
    await assert.rejects(c.start(victim), (error: Error) => {
      assert.match(error.message, /CORRUPT/, error.message);
      assert.match(error.message, /wal-/, 'the message names the damaged file');
      return true;
    });
  });
});

describe('membership of a running cluster', { timeout: 120_000 }, () => {
  it('adds a member as a learner, which catches up; promotes it to voter; moves leadership to it; removes it', async () => {
    const c = await cluster(3);
    for (let i = 0; i < 20; i++) await putCommand(c.endpoints, `before${i}`, `v${i}`);
    const founders = [...c.members];
    const joiner = await c.define('m4');
    const { name, peer, client, http } = joiner;
    const added = await memberAddCommand(c.endpoints.slice(0, 3), { name, peer, client, http, voter: false });
    assert.equal(added.role, 'learner');
    await c.start(joiner, { founders: [joiner], existing: true });
    const acked = new Map(Array.from({ length: 20 }, (_, i) => [`before${i}`, `v${i}`] as [string, string]));
    await assertAllHave(c, acked);

    await memberChangeCommand(
      founders.map((m) => m.client),
      'promote',
      'm4',
    );
    const members = await memberListCommand([joiner.client]);
    assert.deepEqual(members.map((m) => `${m.name}:${m.role}`).sort(), [
      'm1:voter',
      'm2:voter',
      'm3:voter',
      'm4:voter',
    ]);
    assert.ok(
      members.every((m) => m.client !== '' && m.http !== ''),
      'every member published its addresses',
    );
    // Four voters need three: with one founder down, the other two and m4 still commit.
    await c.kill(founders[0] as TestMember);
    await putCommand(
      c.running().map((m) => m.client),
      'with-m4',
      'yes',
    );

    // Hand leadership to m4 (leadership transfer), then remove it: the leader steps down as it goes.
    await moveLeaderCommand(
      c.running().map((m) => m.client),
      'm4',
    );
    const moved = await c.waitForLeader(c.running(), 10_000, (leader) => leader === 'm4');
    assert.equal(moved.leaderName, 'm4');

    await memberChangeCommand(
      c.running().map((m) => m.client),
      'remove',
      'm4',
    );
    const after = await memberListCommand([founders[1]?.client as string]);
    assert.deepEqual(after.map((m) => m.name).sort(), ['m1', 'm2', 'm3']);
  });
});

describe('peer TLS', { timeout: 60_000 }, () => {
  it('members talk over mutual TLS; a peer without a certificate cannot send them Raft messages', async () => {
    const fixtures = new URL('./fixtures/tls/', import.meta.url).pathname;
    const c = await cluster(3, [
      '--peer-cert',
      join(fixtures, 'server.pem'),
      '--peer-key',
      join(fixtures, 'server-key.pem'),
      '--peer-ca',
      join(fixtures, 'ca.pem'),
    ]);
    await putCommand(c.endpoints, 'secure', 'yes');
    assert.equal((await getCommand([c.endpoints[2] as string], 'secure', false)).value, 'yes');

    const intruder = new RpcClient({ address: (c.members[0] as TestMember).peer });
    try {
      await assert.rejects(
        intruder
          .service(PeerService)
          .send({ from: 1, address: '127.0.0.1:1', messages: [] }, { timeoutMs: 2000 }),
      );
    } finally {
      intruder.close();
    }
  });
});

describe('a data directory', { timeout: 60_000 }, () => {
  it('serves one member process at a time: a second one on it is refused', async () => {
    const c = await cluster(1);
    const running = c.members[0] as TestMember;
    const second = await c.define('m1');
    Object.assign(second, { data: running.data });
    await assert.rejects(c.start(second, { founders: [second] }), (error: Error) => {
      assert.match(error.message, /Cannot use data directory .*: process \d+ is using it/);
      return true;
    });
    await putCommand([running.client], 'still', 'serving');
  });
});
