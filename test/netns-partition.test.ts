/**
 * A real network partition: three members, each in a network namespace this
 * test creates (veth pairs on a bridge of its own), the leader cut off from
 * the other two by blackhole routes. A new leader must arise on the majority
 * side, the cut-off member must refuse writes, and after healing all three
 * must converge. Needs root and `ip netns`; skipped, with the reason
 * printed, where namespaces cannot be created.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { isProcessAlive } from '../src/base/process.ts';
import { getCommand, putCommand } from '../src/cli/client-commands.ts';
import type { NodeStatus } from '../src/server/api.ts';
import { TEST_ELECTION_TICKS, TEST_TICK_MS } from './helpers/cluster.ts';

const BIN = new URL('../bin/tessera.js', import.meta.url).pathname;
const tag = process.pid % 10_000;
const subnet = `10.213.${tag % 250}`;
const bridge = `tb${tag}`;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

function namespacesUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  try {
    ip('netns', 'add', `tsrprobe${tag}`);
    ip('netns', 'del', `tsrprobe${tag}`);
    return undefined;
  } catch (error) {
    return `cannot create a network namespace: ${(error as Error).message.split('\n')[0]}`;
  }
}

interface NsMember {
  readonly name: string;
  readonly ns: string;
  readonly address: string;
  readonly client: string;
  readonly peer: string;
  readonly http: string;
  pid: number;
}

async function status(member: NsMember): Promise<NodeStatus | undefined> {
  try {
    const response = await fetch(`http://${member.http}/v1/status`, { signal: AbortSignal.timeout(500) });
    return response.ok ? ((await response.json()) as NodeStatus) : undefined;
  } catch {
    return undefined;
  }
}

async function agreedLeader(members: NsMember[], notName?: string): Promise<NodeStatus> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const statuses = await Promise.all(members.map(status));
    const first = statuses[0];
    if (
      first !== undefined &&
      first.leaderId !== 0 &&
      first.leaderName !== notName &&
      statuses.every((s) => s?.leaderId === first.leaderId)
    ) {
      return first;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no agreed leader among ${members.map((m) => m.name).join(', ')}`);
}

const skip = namespacesUnavailable();
if (skip !== undefined) console.log(`# netns partition test skipped: ${skip}`);

describe('a network partition between namespaces', { timeout: 120_000, skip }, () => {
  it('the cut-off leader is replaced, refuses writes, and the three converge after healing', async () => {
    const data = mkdtempSync(join(tmpdir(), 'tessera-netns-'));
    const members: NsMember[] = [1, 2, 3].map((i) => ({
      name: `p${i}`,
      ns: `tsr${tag}-${i}`,
      address: `${subnet}.${i}`,
      client: `${subnet}.${i}:2379`,
      peer: `${subnet}.${i}:2380`,
      http: `${subnet}.${i}:2381`,
      pid: 0,
    }));
    const blackholes: [string, string][] = [];
    try {
      ip('link', 'add', bridge, 'type', 'bridge');
      ip('addr', 'add', `${subnet}.254/24`, 'dev', bridge);
      ip('link', 'set', bridge, 'up');
      for (const [i, m] of members.entries()) {
        const outside = `tv${tag}${i}`;
        const inside = `tp${tag}${i}`;
        ip('netns', 'add', m.ns);
        ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside);
        ip('link', 'set', inside, 'netns', m.ns);
        ip('link', 'set', outside, 'master', bridge);
        ip('link', 'set', outside, 'up');
        ip('netns', 'exec', m.ns, 'ip', 'addr', 'add', `${m.address}/24`, 'dev', inside);
        ip('netns', 'exec', m.ns, 'ip', 'link', 'set', inside, 'up');
        ip('netns', 'exec', m.ns, 'ip', 'link', 'set', 'lo', 'up');
      }
      const initialCluster = members.map((m) => `${m.name}=${m.peer}`).join(',');
      await Promise.all(
        members.map(
          (m) =>
            new Promise<void>((resolve, reject) => {
              const child = spawn(
                'ip',
                [
                  'netns',
                  'exec',
                  m.ns,
                  process.execPath,
                  BIN,
                  'start',
                  '--name',
                  m.name,
                  '--data',
                  join(data, m.name),
                  '--listen-peer',
                  m.peer,
                  '--listen-client',
                  m.client,
                  '--listen-http',
                  m.http,
                  '--initial-cluster',
                  initialCluster,
                  '--tick-ms',
                  String(TEST_TICK_MS),
                  '--election-ticks',
                  String(TEST_ELECTION_TICKS),
                  '--log-level',
                  'warn',
                ],
                { stdio: ['ignore', 'pipe', 'inherit'] },
              );
              // `ip netns exec` execs the command: this pid is the member's.
              m.pid = child.pid ?? 0;
              const timer = setTimeout(() => reject(new Error(`${m.name} not ready`)), 20_000);
              createInterface({ input: child.stdout }).on('line', (line) => {
                if (line.includes('"ready":true')) {
                  clearTimeout(timer);
                  resolve();
                }
              });
              child.once('exit', (code) => reject(new Error(`${m.name} exited ${code}`)));
            }),
        ),
      );
      const first = await agreedLeader(members);
      const leader = members.find((m) => m.name === first.leaderName) as NsMember;
      const majority = members.filter((m) => m !== leader);
      await putCommand([leader.client], 'k', 'before');

      // Cut the leader off from both others, both ways; the test still reaches everyone over the bridge.
      for (const other of majority) {
        blackholes.push([leader.ns, other.address], [other.ns, leader.address]);
      }
      for (const [ns, target] of blackholes)
        ip('netns', 'exec', ns, 'ip', 'route', 'add', 'blackhole', `${target}/32`);

      const next = await agreedLeader(majority, leader.name);
      assert.notEqual(next.leaderName, leader.name);
      await putCommand(
        majority.map((m) => m.client),
        'k',
        'during',
      );
      await assert.rejects(
        putCommand([leader.client], 'k', 'minority'),
        'the cut-off member must refuse writes',
      );
      const stale = await getCommand([leader.client], 'k', false).catch((error: Error) => error);
      if (!(stale instanceof Error))
        assert.equal(stale.value, 'during', 'a stale linearizable read on the minority side');

      for (const [ns, target] of blackholes.splice(0)) {
        ip('netns', 'exec', ns, 'ip', 'route', 'del', 'blackhole', `${target}/32`);
      }
      await agreedLeader(members);
      const deadline = Date.now() + 15_000;
      for (;;) {
        const statuses = await Promise.all(members.map(status));
        const commit = Math.max(...statuses.map((s) => s?.commit ?? 0));
        const applied = statuses.map((s) => s?.applied);
        if (applied.every((a) => a === commit)) break;
        if (Date.now() > deadline) throw new Error(`no convergence after healing: ${applied}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      for (const m of members) assert.equal((await getCommand([m.client], 'k', true)).value, 'during');
    } finally {
      for (const m of members) {
        try {
          if (m.pid > 0) process.kill(m.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      // Wait for the members to be gone, so the namespaces (and their veth ends) go with them.
      const gone = Date.now() + 5000;
      while (Date.now() < gone && members.some((m) => m.pid > 0 && isProcessAlive(m.pid))) {
        await new Promise((r) => setTimeout(r, 20));
      }
      for (const [i, m] of members.entries()) {
        for (const args of [
          ['netns', 'del', m.ns],
          ['link', 'del', `tv${tag}${i}`],
        ]) {
          try {
            ip(...args);
          } catch {
            // never created, or already gone with its namespace
          }
        }
      }
      try {
        ip('link', 'del', bridge);
      } catch {
        // never created
      }
      rmSync(data, { recursive: true, force: true });
    }
  });
});
