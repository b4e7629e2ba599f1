/**
 * Test harness for clusters of real member processes (`tessera start`):
 * free loopback ports, temp data directories, start/kill/pause by PID, and
 * cleanup that leaves no process behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MEMBER_NODE_FLAGS, startArgs } from '../../src/cli/dev.ts';
import type { NodeStatus } from '../../src/server/api.ts';

const BIN = new URL('../../bin/tessera.js', import.meta.url).pathname;

/** Tick length the tests run members at: elections in 200-400 ms. */
export const TEST_TICK_MS = 20;
export const TEST_ELECTION_TICKS = 10;

/**
 * Ports the tests listen on come from below Linux's ephemeral range
 * (32768-60999 by default). A port the kernel handed out with `listen(0)`
 * and then released can be taken again by any outgoing connection before the
 * member binds it (CI once lost a run to exactly that: EADDRINUSE); ports
 * below the range are never handed out that way.
 */
const PORT_RANGE_LOW = 20_000;
const PORT_RANGE_HIGH = 32_000;
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A base port such that `base + offset` is free for every offset, none of
 * them handed out before by this process.
 */
export async function freePortBlock(offsets: readonly number[]): Promise<number> {
  const span = Math.max(0, ...offsets) + 1;
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = PORT_RANGE_LOW + Math.floor(Math.random() * (PORT_RANGE_HIGH - PORT_RANGE_LOW - span));
    const ports = offsets.map((o) => base + o);
    if (ports.some((p) => handedOut.has(p))) continue;
    let free = true;
    for (const port of ports) if (!(await canListen(port))) free = false;
    if (!free) continue;
    for (const port of ports) handedOut.add(port);
    return base;
  }
  throw new Error(
    `no free block of ports ${offsets.join(',')} between ${PORT_RANGE_LOW} and ${PORT_RANGE_HIGH}`,
  );
}

/** A loopback port nobody listens on (right now). */
export function freePort(): Promise<number> {
  return freePortBlock([0]);
}

export interface TestMember {
  readonly name: string;
  readonly peer: string;
  readonly client: string;
  readonly http: string;
  /** etcd's v3 gRPC API, when the cluster was created with `etcd: true`. */
  readonly etcd: string | undefined;
  readonly data: string;
  process: ChildProcess | undefined;
  /** stderr lines (JSON logs), for diagnosis. */
  readonly logs: string[];
}

/** A cluster of member processes in a temp directory. */
export class TestCluster {
  readonly members: TestMember[] = [];
  readonly root: string;
  readonly #extraFlags: string[];
  readonly #etcd: boolean;

  private constructor(root: string, extraFlags: string[], etcd: boolean) {
    this.root = root;
    this.#extraFlags = extraFlags;
    this.#etcd = etcd;
  }

  /**
   * Creates (but does not start) `size` members; with `etcd`, each also
   * serves etcd's v3 gRPC API (`--listen-etcd`, the member's `etcd`).
   */
  static async create(
    size: number,
    extraFlags: string[] = [],
    options: { readonly etcd?: boolean } = {},
  ): Promise<TestCluster> {
    const cluster = new TestCluster(
      mkdtempSync(join(tmpdir(), 'tessera-cluster-')),
      extraFlags,
      options.etcd === true,
    );
    for (let i = 1; i <= size; i++) await cluster.define(`m${i}`);
    return cluster;
  }

  /** Defines one more member with fresh ports. */
  async define(name: string): Promise<TestMember> {
    const member: TestMember = {
      name,
      peer: `127.0.0.1:${await freePort()}`,
      client: `127.0.0.1:${await freePort()}`,
      http: `127.0.0.1:${await freePort()}`,
      etcd: this.#etcd ? `127.0.0.1:${await freePort()}` : undefined,
      data: join(this.root, name),
      process: undefined,
      logs: [],
    };
    this.members.push(member);
    return member;
  }

  member(name: string): TestMember {
    const member = this.members.find((m) => m.name === name);
    if (member === undefined) throw new RangeError(`No member ${name}`);
    return member;
  }

  get endpoints(): string[] {
    return this.members.map((m) => m.client);
  }

  /** The members' etcd gRPC addresses (empty unless created with `etcd: true`). */
  get etcdEndpoints(): string[] {
    return this.members.flatMap((m) => (m.etcd === undefined ? [] : [m.etcd]));
  }

  /** Starts a member process and resolves once it prints its ready line. */
  async start(
    member: TestMember,
    options: { founders?: TestMember[]; existing?: boolean; flags?: string[] } = {},
  ): Promise<void> {
    const founders = options.founders ?? this.members;
    const child = spawn(
      process.execPath,
      [
        ...MEMBER_NODE_FLAGS,
        BIN,
        ...startArgs(member, {
          data: member.data,
          initialCluster: founders.map((m) => `${m.name}=${m.peer}`).join(','),
          existing: options.existing === true,
          logLevel: 'info',
        }),
        '--tick-ms',
        String(TEST_TICK_MS),
        '--election-ticks',
        String(TEST_ELECTION_TICKS),
        ...this.#extraFlags,
        ...(options.flags ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    member.process = child;
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
      if (member.logs.length < 2000) member.logs.push(line);
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${member.name} not ready in 20 s:\n${member.logs.slice(-20).join('\n')}`)),
        20_000,
      );
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        if (line.includes('"ready":true')) {
          clearTimeout(timer);
          resolve();
        }
      });
      // 'close' comes after stderr is drained, so the member's last words are in its logs.
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(
            `${member.name} exited (${signal ?? code}) before ready:\n${member.logs.slice(-20).join('\n')}`,
          ),
        );
      });
    });
  }

  async startAll(): Promise<void> {
    await Promise.all(this.members.map((m) => this.start(m)));
  }

  /** SIGKILLs a member and waits for it to be gone. */
  async kill(member: TestMember): Promise<void> {
    const child = member.process;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
    member.process = undefined;
  }

  signal(member: TestMember, signal: 'SIGSTOP' | 'SIGCONT'): void {
    member.process?.kill(signal);
  }

  /** Status over HTTP, or undefined when the member does not answer. */
  async status(member: TestMember): Promise<NodeStatus | undefined> {
    try {
      const response = await fetch(`http://${member.http}/v1/status`, { signal: AbortSignal.timeout(500) });
      return response.ok ? ((await response.json()) as NodeStatus) : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Waits until every listed member (default: all running) agrees on one
   * leader, other than `accept` when a name is given, or one `accept`
   * approves when it is a function; returns its status.
   */
  async waitForLeader(
    members: TestMember[] = this.running(),
    timeoutMs = 15_000,
    accept?: string | ((leaderName: string | null) => boolean),
  ): Promise<NodeStatus> {
    const acceptable =
      typeof accept === 'function' ? accept : (leaderName: string | null) => leaderName !== accept;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const statuses = await Promise.all(members.map((m) => this.status(m)));
      const first = statuses[0];
      if (
        first !== undefined &&
        first.leaderId !== 0 &&
        acceptable(first.leaderName) &&
        statuses.every((s) => s?.leaderId === first.leaderId)
      ) {
        return statuses.find((s) => s?.role === 'leader') ?? first;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`No agreed leader among ${members.map((m) => m.name).join(', ')} within ${timeoutMs} ms`);
  }

  running(): TestMember[] {
    return this.members.filter((m) => m.process !== undefined);
  }

  /** The member that leads, by the leader's own status. */
  async leader(): Promise<TestMember> {
    const status = await this.waitForLeader();
    const leader = this.members.find((m) => m.name === status.leaderName);
    if (leader === undefined) throw new Error(`Leader ${status.leaderName} is not a known member`);
    return leader;
  }

  /** Kills every process (by PID) and removes the data. */
  async destroy(): Promise<void> {
    for (const member of this.members) {
      member.process?.kill('SIGCONT');
      await this.kill(member);
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}
