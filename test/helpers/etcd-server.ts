/**
 * Real etcd members (`etcd`, Debian's `etcd-server`) on loopback for the
 * tests and benchmarks that put Tessera beside etcd: a cluster with its data
 * in a temp directory, started with fsync on, and stopped by PID with its
 * data removed. Nothing here installs etcd: callers that need it check
 * {@link etcdInstalled} and skip, saying {@link ETCD_MISSING} (the
 * benchmarks install it themselves, `bench/clusters.ts`).
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePortBlock } from './cluster.ts';

/** How long the members may take to report healthy, in milliseconds. */
export const ETCD_HEALTHY_TIMEOUT_MS = 30_000;
/** stderr lines kept per member, printed when it exits unasked. */
const ETCD_LOG_LINES_MAX = 200;

/** The reason tests that need an etcd server give when it is missing. */
export const ETCD_MISSING = 'etcd not installed (Debian: apt-get install etcd-server)';

/** Whether the `etcd` server command can be run. */
export function etcdInstalled(): boolean {
  return spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** One member's addresses (`host:port`, no scheme). */
export interface EtcdMember {
  readonly name: string;
  readonly client: string;
  readonly peer: string;
}

/** Options of {@link EtcdCluster.start}. */
export interface EtcdClusterOptions {
  /** Members are named `${namePrefix}1`, `${namePrefix}2`, ...; default `e`. */
  readonly namePrefix?: string;
  /** Number of members; default 3. */
  readonly size?: number;
}

/**
 * A cluster of etcd members on loopback, each with a client and a peer port.
 *
 * @example
 * ```ts
 * const etcd = await EtcdCluster.start({ namePrefix: 'n' });
 * try {
 *   console.log(etcd.endpoints); // ['127.0.0.1:24100', '127.0.0.1:24110', '127.0.0.1:24120']
 * } finally {
 *   await etcd.stop();
 * }
 * ```
 */
export class EtcdCluster {
  /** Client addresses `host:port` of every member, in member order. */
  readonly endpoints: string[];
  readonly members: readonly EtcdMember[];
  readonly #children: ChildProcess[] = [];
  readonly #root: string;
  #stopping = false;

  private constructor(root: string, members: readonly EtcdMember[]) {
    this.#root = root;
    this.members = members;
    this.endpoints = members.map((m) => m.client);
  }

  /**
   * Starts the members and resolves once every one reports healthy.
   *
   * @throws {Error} when a member cannot start or the cluster is not healthy
   *   within {@link ETCD_HEALTHY_TIMEOUT_MS} (its processes are stopped first).
   */
  static async start(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    const size = options.size ?? 3;
    const namePrefix = options.namePrefix ?? 'e';
    const root = mkdtempSync(join(tmpdir(), 'tessera-etcd-'));
    const offsets = Array.from({ length: size }, (_, i) => [10 * i, 10 * i + 1]).flat();
    const base = await freePortBlock(offsets);
    const members = Array.from({ length: size }, (_, i) => ({
      name: `${namePrefix}${i + 1}`,
      client: `127.0.0.1:${base + 10 * i}`,
      peer: `127.0.0.1:${base + 10 * i + 1}`,
    }));
    const cluster = new EtcdCluster(root, members);
    const initial = members.map((m) => `${m.name}=http://${m.peer}`).join(',');
    try {
      for (const member of members) cluster.#spawn(member, initial);
      await cluster.#waitHealthy();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** The members' process ids. */
  get pids(): number[] {
    return this.#children.map((child) => child.pid ?? 0);
  }

  #spawn(member: EtcdMember, initialCluster: string): void {
    const child = spawn(
      'etcd',
      [
        `--name=${member.name}`,
        `--data-dir=${join(this.#root, member.name)}`,
        `--listen-client-urls=http://${member.client}`,
        `--advertise-client-urls=http://${member.client}`,
        `--listen-peer-urls=http://${member.peer}`,
        `--initial-advertise-peer-urls=http://${member.peer}`,
        `--initial-cluster=${initialCluster}`,
        '--initial-cluster-token=tessera-etcd',
        '--initial-cluster-state=new',
        '--logger=zap',
        '--log-level=error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const logs: string[] = [];
    child.once('error', (error) => logs.push(`cannot run etcd: ${error.message}`));
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
      if (logs.length < ETCD_LOG_LINES_MAX) logs.push(line);
    });
    child.once('exit', (code, signal) => {
      if (!this.#stopping)
        console.error(`etcd ${member.name} exited (${signal ?? code}):\n${logs.join('\n')}`);
    });
    this.#children.push(child);
  }

  async #waitHealthy(): Promise<void> {
    const deadline = Date.now() + ETCD_HEALTHY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const healthy = await Promise.all(
        this.endpoints.map((endpoint) =>
          fetch(`http://${endpoint}/health`, { signal: AbortSignal.timeout(500) })
            .then(async (response) => ((await response.json()) as { health?: string }).health === 'true')
            .catch(() => false),
        ),
      );
      if (healthy.every(Boolean)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`The etcd cluster did not become healthy in ${ETCD_HEALTHY_TIMEOUT_MS} ms`);
  }

  /** Kills every member (by PID) and removes the data. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      this.#children.map(
        (child) =>
          new Promise<void>((resolve) => {
            // A member that never spawned (no pid) or already exited has nothing to stop.
            if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null)
              return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(this.#root, { recursive: true, force: true });
  }
}
