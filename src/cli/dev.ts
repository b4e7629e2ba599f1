/**
 * `tessera dev` (and `npm start`): a local cluster of member processes on
 * 127.0.0.1, each a `tessera start`, printed once a leader is elected and
 * stopped together on Ctrl-C.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { NodeStatus } from '../server/api.ts';

/** Options of {@link runDev}. */
export interface DevOptions {
  readonly nodes: number;
  readonly data: string;
  readonly basePort: number;
  readonly json: boolean;
  /** Log level of the members (their logs go to this process's stderr). */
  readonly logLevel: string;
}

/** One member's endpoints. */
export interface DevMember {
  readonly name: string;
  readonly client: string;
  readonly peer: string;
  readonly http: string;
  /** etcd's v3 gRPC API (for etcdctl and etcd clients). */
  readonly etcd: string;
  pid: number;
}

/** How long `tessera dev` waits for its members to elect a leader. */
export const DEV_READY_TIMEOUT_MS = 30_000;

/**
 * Node's flags for a member process:
 *
 * - `--max-semi-space-size=32`: V8's young generation at up to 32 MiB per
 *   semi-space (Node 20 default here: 16). A member allocates short-lived
 *   objects for every request and entry; a larger young generation lets
 *   more of them die there instead of being promoted and collected again
 *   by the old generation's slower marking. A/B, eight runs per side on
 *   fresh 3-member clusters: 256 etcd3 clients put 5,516/s against 5,101/s
 *   with 242 µs of server CPU per put against 272; 256 native clients
 *   12.9k/s against 12.4k/s. 64 MiB gave less (5,315/s). The price is up
 *   to 32 MiB more memory per member.
 * - `--initial-old-space-size=128`: no old-generation collection before
 *   128 MiB. A follower's live heap is small (~35 MiB), and V8 sets its next
 *   limit only a few MiB above what a collection leaves when collecting is
 *   cheap: under 256 clients putting 1 KiB values, each follower ran a full
 *   mark-compact every ~0.2 s (25-34 in 6 s, `--trace-gc`: "GC in old space
 *   requested", 34.9 -> 34.5 MB), and concurrent marking took ~16% of its
 *   CPU. With the floor: 2 in 6 s. Same-run A/B, 1 KiB values: 11.5-13.2k
 *   puts/s against 9.7-11.6k; 256 B values and etcd3 clients unchanged
 *   (within the runs' noise). The price is up to 128 MiB of old-generation
 *   garbage per member before it is collected.
 *
 * `tessera dev`, the process tests and the benchmarks start members with
 * them. A member started by hand takes the first through `NODE_OPTIONS`;
 * Node refuses the second there, so it goes on node's command line
 * (README, "Running members").
 */
export const MEMBER_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=32',
  '--initial-old-space-size=128',
];

/**
 * The `tessera start` arguments (after the script) for one member: its name,
 * data directory and addresses, the founding members (`name=peer,...`), and
 * whether it joins an existing cluster; `--listen-etcd` when the member has
 * an `etcd` address. Shared by `tessera dev`, the process tests and the
 * benchmarks.
 */
export function startArgs(
  member: {
    readonly name: string;
    readonly peer: string;
    readonly client: string;
    readonly http: string;
    readonly etcd?: string | undefined;
  },
  options: {
    readonly data: string;
    readonly initialCluster: string;
    readonly existing?: boolean;
    readonly logLevel: string;
  },
): string[] {
  return [
    'start',
    '--name',
    member.name,
    '--data',
    options.data,
    '--listen-peer',
    member.peer,
    '--listen-client',
    member.client,
    '--listen-http',
    member.http,
    ...(member.etcd === undefined ? [] : ['--listen-etcd', member.etcd]),
    '--initial-cluster',
    options.initialCluster,
    '--initial-cluster-state',
    options.existing === true ? 'existing' : 'new',
    '--log-level',
    options.logLevel,
  ];
}

/**
 * Ports of member `i` (0-based): client, peer, HTTP and etcd gRPC, 10 apart
 * per member (n1 gets 2379/2380/2381/2382).
 */
export function devMembers(nodes: number, basePort: number): DevMember[] {
  return Array.from({ length: nodes }, (_, i) => {
    const port = basePort + 10 * i;
    return {
      name: `n${i + 1}`,
      client: `127.0.0.1:${port}`,
      peer: `127.0.0.1:${port + 1}`,
      http: `127.0.0.1:${port + 2}`,
      etcd: `127.0.0.1:${port + 3}`,
      pid: 0,
    };
  });
}

async function fetchStatus(http: string): Promise<NodeStatus | undefined> {
  try {
    const response = await fetch(`http://${http}/v1/status`, { signal: AbortSignal.timeout(1000) });
    return response.ok ? ((await response.json()) as NodeStatus) : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves once every member reports the same leader; rejects after {@link DEV_READY_TIMEOUT_MS}. */
export async function waitForLeader(
  members: readonly DevMember[],
  timeoutMs = DEV_READY_TIMEOUT_MS,
): Promise<NodeStatus> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const statuses = await Promise.all(members.map((m) => fetchStatus(m.http)));
    const first = statuses[0];
    if (
      first !== undefined &&
      first.leaderId !== 0 &&
      statuses.every((s) => s !== undefined && s.leaderId === first.leaderId)
    ) {
      return first;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`No leader within ${timeoutMs} ms; see the members' logs above`);
}

/** Starts the members, waits for a leader, prints them, and stops them on SIGINT/SIGTERM. */
export async function runDev(options: DevOptions): Promise<void> {
  const members = devMembers(options.nodes, options.basePort);
  const initialCluster = members.map((m) => `${m.name}=${m.peer}`).join(',');
  const bin = process.argv[1] as string;
  const children: ChildProcess[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    const exits = children.map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
          child.once('exit', () => clearTimeout(kill));
          child.kill('SIGTERM');
        }),
    );
    await Promise.all(exits);
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  for (const member of members) {
    const child = spawn(
      process.execPath,
      [
        ...MEMBER_NODE_FLAGS,
        bin,
        ...startArgs(member, {
          data: resolve(options.data, member.name),
          initialCluster,
          logLevel: options.logLevel,
        }),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    member.pid = child.pid ?? 0;
    children.push(child);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', () => {});
    child.on('exit', (code, signal) => {
      if (!stopping) {
        console.error(
          `member ${member.name} (pid ${member.pid}) exited (${signal ?? code}); stopping the cluster`,
        );
        void stopAll(1);
      }
    });
  }
  let leader: NodeStatus;
  try {
    leader = await waitForLeader(members);
  } catch (error) {
    console.error((error as Error).message);
    await stopAll(1);
    return;
  }
  if (options.json) {
    console.log(
      JSON.stringify({
        nodes: members.map(({ name, client, peer, http, etcd, pid }) => ({
          name,
          client,
          peer,
          http,
          etcd,
          pid,
        })),
      }),
    );
  } else {
    console.log(
      `Tessera dev cluster: ${members.length} members, leader ${leader.leaderName ?? leader.leaderId}`,
    );
    for (const m of members)
      console.log(
        `  ${m.name}  client ${m.client}  peer ${m.peer}  http http://${m.http}  etcd ${m.etcd}  pid ${m.pid}`,
      );
    const endpoints = members.map((m) => m.client).join(',');
    console.log(`\nTry:  npx tessera put greeting hello --endpoints ${endpoints}`);
    console.log(`      npx tessera get greeting --endpoints ${endpoints}`);
    console.log(`      npx tessera status --endpoints ${endpoints}`);
    console.log(
      `      ETCDCTL_API=3 etcdctl --endpoints ${members.map((m) => m.etcd).join(',')} get greeting`,
    );
    console.log('Ctrl-C stops the cluster; data stays in', resolve(options.data));
  }
}
