/**
 * `npm run bench -- kv`: a 3-member Tessera cluster and a 3-member etcd
 * cluster (Debian's `etcd-server`, installed when missing and this runs as
 * root) on loopback, both with fsync on, driven by the same workloads in
 * the same run: puts from 1 and 256 clients, linearizable and serializable
 * gets from 256, a watch fan-out, and lease keep-alives from 256.
 *
 * Each workload runs in a load-generator process of its own
 * (`kv-load.ts`: Tessera through `tessera/client`, etcd through `etcd3`),
 * which reports its own CPU time per operation; the servers' CPU time per
 * operation (all three members, from /proc) is printed beside it. The
 * disk's fdatasync latency, measured in the same directory and run, is the
 * floor of one durable write.
 *
 * `BENCH_MEASURE_MS` (default 5000) sets the measured time of each workload.
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePortBlock, TestCluster } from '../test/helpers/cluster.ts';
import type { LoadResult, LoadSpec, Workload } from './kv-load.ts';
import { printJsonLine, printTable, type Row, round } from './report.ts';
import { rawFdatasyncLoop } from './storage.ts';

const MEASURE_MS = Number(process.env['BENCH_MEASURE_MS'] ?? 5000);
const WARMUP_MS = 1000;
const KEYS = 10_000;
const VALUE_BYTES = 256;
const WATCHERS = 64;
/** Tessera members tick like etcd's defaults: 100 ms heartbeat, 1 s election timeout. */
const TESSERA_FLAGS = ['--tick-ms', '100', '--election-ticks', '10'];

type System = LoadSpec['system'];

interface Step {
  readonly name: string;
  readonly workload: Workload;
  readonly concurrency: number;
}

const STEPS: readonly Step[] = [
  { name: 'put, 1 client', workload: 'put', concurrency: 1 },
  { name: 'put, 256 clients', workload: 'put', concurrency: 256 },
  { name: 'fill', workload: 'fill', concurrency: 64 },
  { name: 'get linearizable, 256', workload: 'getLinearizable', concurrency: 256 },
  { name: 'get serializable, 256', workload: 'getSerializable', concurrency: 256 },
  { name: `watch fan-out, ${WATCHERS} watchers`, workload: 'watchFanOut', concurrency: 16 },
  { name: 'lease keep-alive, 256', workload: 'leaseKeepAlive', concurrency: 256 },
];

/** Installs Debian's etcd-server when `etcd` is missing (root only); throws when it cannot. */
function ensureEtcd(): void {
  const found = (): boolean => spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0;
  if (found()) return;
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
  if (!found()) throw new Error('etcd-server installed, but `etcd` is not on the PATH');
}

/** A 3-member etcd cluster on loopback. */
class EtcdCluster {
  readonly endpoints: string[];
  readonly #children: ChildProcess[] = [];
  readonly #root: string;

  private constructor(root: string, endpoints: string[]) {
    this.#root = root;
    this.endpoints = endpoints;
  }

  static async start(): Promise<EtcdCluster> {
    const root = mkdtempSync(join(tmpdir(), 'tessera-bench-etcd-'));
    const base = await freePortBlock([0, 1, 10, 11, 20, 21]);
    const members = [0, 1, 2].map((i) => ({
      name: `e${i + 1}`,
      client: `127.0.0.1:${base + 10 * i}`,
      peer: `127.0.0.1:${base + 10 * i + 1}`,
    }));
    const cluster = new EtcdCluster(
      root,
      members.map((m) => m.client),
    );
    const initial = members.map((m) => `${m.name}=http://${m.peer}`).join(',');
    for (const member of members) {
      const child = spawn(
        'etcd',
        [
          `--name=${member.name}`,
          `--data-dir=${join(root, member.name)}`,
          `--listen-client-urls=http://${member.client}`,
          `--advertise-client-urls=http://${member.client}`,
          `--listen-peer-urls=http://${member.peer}`,
          `--initial-advertise-peer-urls=http://${member.peer}`,
          `--initial-cluster=${initial}`,
          '--initial-cluster-token=tessera-bench',
          '--initial-cluster-state=new',
          '--logger=zap',
          '--log-level=error',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      const logs: string[] = [];
      createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
        if (logs.length < 200) logs.push(line);
      });
      child.once('exit', (code, signal) => {
        if (!cluster.#stopping)
          console.error(`etcd ${member.name} exited (${signal ?? code}):\n${logs.join('\n')}`);
      });
      cluster.#children.push(child);
    }
    await cluster.#waitHealthy();
    return cluster;
  }

  #stopping = false;

  get pids(): number[] {
    return this.#children.map((child) => child.pid ?? 0);
  }

  async #waitHealthy(): Promise<void> {
    const deadline = Date.now() + 30_000;
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
    throw new Error('The etcd cluster did not become healthy in 30 s');
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      this.#children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(this.#root, { recursive: true, force: true });
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

/** Runs one workload in a load-generator process; returns its result and the servers' CPU per operation. */
async function runLoad(
  spec: LoadSpec,
  serverPids: readonly number[],
): Promise<LoadResult & { serverCpuUsPerOp: number }> {
  const serverCpuBefore = cpuMicros(serverPids);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('./kv-load.ts', import.meta.url).pathname, JSON.stringify(spec)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const serverCpu = cpuMicros(serverPids) - serverCpuBefore;
  const match = /^result=(.*)$/m.exec(output);
  if (code !== 0 || match === null) {
    throw new Error(`The ${spec.system} ${spec.workload} load generator failed (exit ${code}):\n${output}`);
  }
  const result = JSON.parse(match[1] as string) as LoadResult;
  // Server CPU over the whole load process (warm-up included), per measured-or-warm-up operation.
  const warmShare = (spec.warmupMs + spec.measureMs) / spec.measureMs;
  return { ...result, serverCpuUsPerOp: serverCpu / Math.max(1, result.operations * warmShare) };
}

function fixed(value: number | undefined): number {
  return value === undefined || !Number.isFinite(value) ? Number.NaN : round(value);
}

export async function benchKv(): Promise<void> {
  ensureEtcd();
  const floorDir = mkdtempSync(join(tmpdir(), 'tessera-bench-disk-'));
  const floor = await rawFdatasyncLoop(floorDir, 2000).finally(() =>
    rmSync(floorDir, { recursive: true, force: true }),
  );

  const tessera = await TestCluster.create(3, TESSERA_FLAGS);
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

  const rows: Row[] = [];
  const results: Record<string, Record<string, unknown>> = {};
  try {
    await tessera.startAll();
    await tessera.waitForLeader();
    etcd = await EtcdCluster.start();
    const clusters: Record<System, { endpoints: string[]; pids: number[] }> = {
      tessera: { endpoints: tessera.endpoints, pids: tessera.members.map((m) => m.process?.pid ?? 0) },
      etcd: { endpoints: etcd.endpoints, pids: etcd.pids },
    };
    for (const step of STEPS) {
      const measuredBySystem: Partial<Record<System, LoadResult & { serverCpuUsPerOp: number }>> = {};
      for (const system of ['tessera', 'etcd'] as const) {
        const spec: LoadSpec = {
          system,
          endpoints: clusters[system].endpoints,
          workload: step.workload,
          concurrency: step.concurrency,
          warmupMs: WARMUP_MS,
          measureMs: MEASURE_MS,
          keys: KEYS,
          valueBytes: VALUE_BYTES,
          watchers: WATCHERS,
        };
        const result = await runLoad(spec, clusters[system].pids);
        measuredBySystem[system] = result;
        if (step.workload === 'fill') continue;
        rows.push({
          workload: step.name,
          system,
          'ops/s': result.opsPerSecond,
          p50Ms: fixed(result.p50Ms),
          p99Ms: fixed(result.p99Ms),
          'events/s': result.eventsPerSecond ?? '',
          deliveryP50Ms: result.deliveryP50Ms === undefined ? '' : fixed(result.deliveryP50Ms),
          deliveryP99Ms: result.deliveryP99Ms === undefined ? '' : fixed(result.deliveryP99Ms),
          clientCpuUsPerOp: fixed(result.cpuUsPerOp),
          serverCpuUsPerOp: fixed(result.serverCpuUsPerOp),
          errors: result.errors,
        });
      }
      if (step.workload === 'fill') continue;
      const t = measuredBySystem.tessera as LoadResult;
      const e = measuredBySystem.etcd as LoadResult;
      const ratio = round(t.opsPerSecond / e.opsPerSecond);
      const eventRatio =
        t.eventsPerSecond === undefined || e.eventsPerSecond === undefined
          ? undefined
          : round(t.eventsPerSecond / e.eventsPerSecond);
      rows.push({ workload: step.name, system: 'ratio', 'ops/s': ratio, 'events/s': eventRatio ?? '' });
      results[`${step.workload}_c${step.concurrency}`] = {
        tessera: summary(measuredBySystem.tessera),
        etcd: summary(measuredBySystem.etcd),
        ratio,
        ...(eventRatio === undefined ? {} : { eventRatio }),
      };
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }

  printTable(
    `KV store, 3 members each, loopback, fsync on, ${VALUE_BYTES} B values, ${MEASURE_MS} ms per workload (ratio = Tessera / etcd)`,
    rows,
  );
  const single = (results['put_c1']?.['tessera'] as { p50Ms: number } | undefined)?.p50Ms ?? Number.NaN;
  const targets = {
    put256AtLeastEtcd: ((results['put_c256']?.['ratio'] as number | undefined) ?? 0) >= 1,
    singlePutP50OverFdatasyncP50: round(single / floor.p50Ms),
  };
  printTable('Disk floor and targets', [
    { measure: 'fdatasync p50 (ms), 100 B appends', value: round(floor.p50Ms) },
    { measure: 'fdatasync p99 (ms)', value: round(floor.p99Ms) },
    {
      measure: 'Tessera put p50, 1 client / fdatasync p50 (target <= 2)',
      value: targets.singlePutP50OverFdatasyncP50,
    },
    {
      measure: 'Tessera put 256 clients / etcd (target >= 1)',
      value: (results['put_c256']?.['ratio'] as number) ?? '',
    },
  ]);
  printJsonLine({
    bench: 'kv',
    measureMs: MEASURE_MS,
    valueBytes: VALUE_BYTES,
    fdatasyncP50Ms: round(floor.p50Ms),
    fdatasyncP99Ms: round(floor.p99Ms),
    results,
    targets,
  });
}

function summary(result: (LoadResult & { serverCpuUsPerOp: number }) | undefined): Record<string, number> {
  if (result === undefined) return {};
  const entries: Record<string, number> = {
    opsPerSecond: Math.round(result.opsPerSecond),
    p50Ms: fixed(result.p50Ms),
    p99Ms: fixed(result.p99Ms),
    clientCpuUsPerOp: fixed(result.cpuUsPerOp),
    serverCpuUsPerOp: fixed(result.serverCpuUsPerOp),
    errors: result.errors,
  };
  if (result.eventsPerSecond !== undefined) {
    entries['eventsPerSecond'] = Math.round(result.eventsPerSecond);
    entries['deliveryP50Ms'] = fixed(result.deliveryP50Ms);
    entries['deliveryP99Ms'] = fixed(result.deliveryP99Ms);
    entries['clientCpuUsPerEvent'] = fixed(result.cpuUsPerEvent);
  }
  return entries;
}
