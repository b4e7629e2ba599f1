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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  loadSummary,
  MEASURE_MS,
  type MeasuredLoad,
  runLoadProcess,
  WARMUP_MS,
  withClusters,
} from './clusters.ts';
import type { LoadResult, LoadSpec, Workload } from './kv-load.ts';
import { fixed, printJsonLine, printTable, type Row, round } from './report.ts';
import { rawFdatasyncLoop } from './storage.ts';

const KEYS = 10_000;
const VALUE_BYTES = 256;
const WATCHERS = 64;

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

/** Runs one workload in a load-generator process; returns its result and the servers' CPU per operation. */
function runLoad(spec: LoadSpec, serverPids: readonly number[]): Promise<MeasuredLoad<LoadResult>> {
  return runLoadProcess<LoadResult>(new URL('./kv-load.ts', import.meta.url), {
    spec,
    serverPids,
    what: `${spec.system} ${spec.workload}`,
  });
}

export async function benchKv(): Promise<void> {
  const floorDir = mkdtempSync(join(tmpdir(), 'tessera-bench-disk-'));
  const floor = await rawFdatasyncLoop(floorDir, 2000).finally(() =>
    rmSync(floorDir, { recursive: true, force: true }),
  );

  const rows: Row[] = [];
  const results: Record<string, Record<string, unknown>> = {};
  await withClusters(async (clusters) => {
    for (const step of STEPS) {
      const measuredBySystem: Partial<Record<LoadSpec['system'], MeasuredLoad<LoadResult>>> = {};
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
  });

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

function summary(result: MeasuredLoad<LoadResult> | undefined): Record<string, number> {
  if (result === undefined) return {};
  const entries = loadSummary(result);
  if (result.eventsPerSecond !== undefined) {
    entries['eventsPerSecond'] = Math.round(result.eventsPerSecond);
    entries['deliveryP50Ms'] = fixed(result.deliveryP50Ms);
    entries['deliveryP99Ms'] = fixed(result.deliveryP99Ms);
    entries['clientCpuUsPerEvent'] = fixed(result.cpuUsPerEvent);
  }
  return entries;
}
