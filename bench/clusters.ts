/**
 * What the cluster benchmarks (`kv`, `coord`, `etcd`) share: a 3-member
 * Tessera cluster (serving etcd's v3 gRPC API too when asked) and a 3-member
 * etcd cluster (Debian's `etcd-server`, installed when missing and this runs
 * as root) on loopback, both with fsync on,
 * started side by side and stopped by PID however the run ends; and the
 * load-generator processes that drive them, each reporting its own CPU time
 * per operation beside the servers' (all three members, from /proc).
 *
 * `BENCH_MEASURE_MS` (default 5000) sets the measured time of each workload.
 *
 * @module
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { TestCluster } from '../test/helpers/cluster.ts';
import { EtcdCluster, etcdInstalled } from '../test/helpers/etcd-server.ts';
import type { LoopResult } from './load-loop.ts';
import { fixed } from './report.ts';

/** Measured time of each workload, in milliseconds. */
export const MEASURE_MS = Number(process.env['BENCH_MEASURE_MS'] ?? 5000);
/** Time each workload runs before it is measured, in milliseconds. */
export const WARMUP_MS = 1000;
/** Tessera members tick like etcd's defaults: 100 ms heartbeat, 1 s election timeout. */
const TESSERA_FLAGS = ['--tick-ms', '100', '--election-ticks', '10'];

/** The two clusters every run starts. */
export type ClusterName = 'tessera' | 'etcd';

/** A running cluster as the workloads see it. */
export interface ClusterHandle {
  /** Client addresses `host:port` of every member. */
  readonly endpoints: string[];
  /**
   * Addresses `host:port` of etcd's v3 gRPC API on every member: etcd's
   * client addresses; Tessera's `--listen-etcd` addresses when
   * {@link withClusters} was asked for them, else none.
   */
  readonly etcdEndpoints: string[];
  /** The members' process ids (for their CPU time). */
  readonly pids: number[];
  /**
   * Snapshots the members have taken so far (Tessera's, from their
   * metrics; etcd's cost little and are not counted): a step during which
   * members snapshot pays for writing their whole state.
   */
  readonly snapshotsTaken?: () => Promise<number>;
}

/** Snapshots taken so far by the members serving `/metrics` at `httpAddresses`. */
async function snapshotsTaken(httpAddresses: readonly string[]): Promise<number> {
  let total = 0;
  for (const address of httpAddresses) {
    const text = await (await fetch(`http://${address}/metrics`)).text();
    const match = /^tessera_snapshots_total\{kind="created"\} (\d+)$/m.exec(text);
    total += Number(match?.[1] ?? 0);
  }
  return total;
}

/** Installs Debian's etcd-server when `etcd` is missing (root only); throws when it cannot. */
function ensureEtcd(): void {
  if (etcdInstalled()) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      'etcd is not installed and this is not root: install etcd-server (apt-get install etcd-server)',
    );
  }
  console.error('Installing etcd-server with apt-get...');
  const install = (): boolean =>
    spawnSync('apt-get', ['install', '-y', 'etcd-server'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    }).status === 0;
  if (!install()) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit' });
    if (!install()) throw new Error('Cannot install etcd-server with apt-get');
  }
  // The package enables a system service; the bench runs its own members only.
  spawnSync('sh', ['-c', 'systemctl stop etcd 2>/dev/null || pkill -x etcd'], { stdio: 'ignore' });
  if (!etcdInstalled()) throw new Error('etcd-server installed, but `etcd` is not on the PATH');
}

/**
 * Starts both clusters, runs `body` with them, and stops them (by PID, data
 * removed) when it settles or on SIGINT/SIGTERM.
 *
 * @param options.tesseraEtcdApi makes every Tessera member serve etcd's v3
 *   gRPC API too (`--listen-etcd`, the handle's `etcdEndpoints`).
 * @throws {Error} when etcd is missing and cannot be installed, or a cluster does not start.
 */
export async function withClusters<T>(
  body: (clusters: Record<ClusterName, ClusterHandle>) => Promise<T>,
  options: { readonly tesseraEtcdApi?: boolean } = {},
): Promise<T> {
  ensureEtcd();
  const tessera = await TestCluster.create(3, TESSERA_FLAGS, { etcd: options.tesseraEtcdApi === true });
  let etcd: EtcdCluster | undefined;
  const cleanup = async (): Promise<void> => {
    await tessera.destroy();
    await etcd?.stop();
  };
  const onSignal = (): void => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await tessera.startAll();
    await tessera.waitForLeader();
    etcd = await EtcdCluster.start();
    return await body({
      tessera: {
        endpoints: tessera.endpoints,
        etcdEndpoints: tessera.etcdEndpoints,
        pids: tessera.members.map((m) => m.process?.pid ?? 0),
        snapshotsTaken: () => snapshotsTaken(tessera.members.map((m) => m.http)),
      },
      etcd: { endpoints: etcd.endpoints, etcdEndpoints: etcd.endpoints, pids: etcd.pids },
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

/** The unit of /proc's CPU times. */
const CLOCK_TICKS_PER_SECOND =
  Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** CPU time (user + system, µs) the processes used so far, from /proc. */
function cpuMicros(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      // Fields after the command name (which may hold spaces): utime is the 14th field, stime the 15th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // A member that exited used no more.
    }
  }
  return (ticks / CLOCK_TICKS_PER_SECOND) * 1e6;
}

/** A load generator's result with the servers' CPU time per operation (µs) beside it. */
export type MeasuredLoad<Result extends LoopResult = LoopResult> = Result & { serverCpuUsPerOp: number };

/** A measured load's figures for the JSON line: throughput, latency, CPU time per operation, errors. */
export function loadSummary(result: MeasuredLoad): Record<string, number> {
  return {
    opsPerSecond: Math.round(result.opsPerSecond),
    p50Ms: fixed(result.p50Ms),
    p99Ms: fixed(result.p99Ms),
    clientCpuUsPerOp: fixed(result.cpuUsPerOp),
    serverCpuUsPerOp: fixed(result.serverCpuUsPerOp),
    errors: result.errors,
  };
}

/** What {@link runLoadProcess} needs of a load generator's spec. */
export interface TimedSpec {
  readonly warmupMs: number;
  readonly measureMs: number;
}

/**
 * Runs a load generator (`node --import tsx <script> '<spec JSON>'`, which
 * prints `result=<JSON>`, a {@link LoopResult} or more); returns its result and
 * the servers' CPU time per operation.
 *
 * @param options.what names the run in the error thrown when the generator fails.
 * @throws {Error} when the generator exits non-zero or prints no result.
 */
export async function runLoadProcess<Result extends LoopResult>(
  script: URL,
  options: { spec: TimedSpec; serverPids: readonly number[]; what: string },
): Promise<MeasuredLoad<Result>> {
  const { spec, serverPids } = options;
  const serverCpuBefore = cpuMicros(serverPids);
  const child = spawn(process.execPath, ['--import', 'tsx', script.pathname, JSON.stringify(spec)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const serverCpu = cpuMicros(serverPids) - serverCpuBefore;
  const match = /^result=(.*)$/m.exec(output);
  if (code !== 0 || match === null) {
    throw new Error(`The ${options.what} load generator failed (exit ${code}):\n${output}`);
  }
  const result = JSON.parse(match[1] as string) as Result;
  // Server CPU over the whole load process (warm-up included), per measured-or-warm-up operation.
  const warmShare = (spec.warmupMs + spec.measureMs) / spec.measureMs;
  return { ...result, serverCpuUsPerOp: serverCpu / Math.max(1, result.operations * warmShare) };
}
