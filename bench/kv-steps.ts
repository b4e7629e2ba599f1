/**
 * The KV workloads that `npm run bench -- kv` and `etcd` share: puts from 1
 * and 256 clients (of 256 B values, and of 1 KiB as `etcdctl check perf`
 * writes), puts to one hot key from 64 (every put grows that key's
 * history: its cost must not grow with it), linearizable and serializable gets from 256, a watch
 * fan-out and lease keep-alives, each run against several systems (a
 * cluster and the client driving it, see {@link KvSystem}) in a
 * load-generator process of its own (`kv-load.ts`), with ratios between
 * them; the table rows and the JSON results both benchmarks print.
 *
 * @module
 */
import {
  type ClusterHandle,
  type ClusterName,
  loadSummary,
  MEASURE_MS,
  type MeasuredLoad,
  runLoadProcess,
  WARMUP_MS,
} from './clusters.ts';
import type { KvSystem, LoadResult, LoadSpec, Workload } from './kv-load.ts';
import { fixed, type Row, round } from './report.ts';

/** Keys written and read: `bench/0` ... `bench/9999`. */
const KEYS = 10_000;
/** Bytes of every value written. */
export const VALUE_BYTES = 256;
/** Watchers of the watch fan-out, each on the whole prefix written. */
const WATCHERS = 64;

/** One workload at one width; its results are keyed `<workload>_c<concurrency>`. */
export interface KvStep {
  readonly name: string;
  readonly workload: Workload;
  readonly concurrency: number;
  /** Keys written and read (default {@link KEYS}); a step on one key is keyed `<workload>_c<concurrency>_hotKey`. */
  readonly keys?: number;
  /** Bytes of every value written (default {@link VALUE_BYTES}); a step with its own is keyed with a `_<n>B` suffix. */
  readonly valueBytes?: number;
  /** Run but not reported: a step that prepares the systems for the measured ones. */
  readonly unmeasured?: boolean;
}

/**
 * Every KV workload, in the order run. Two steps are not reported: the
 * warm-up, and `fill`, which writes every key once so that the gets find
 * values.
 *
 * The warm-up puts from 256 clients against every system before anything
 * is measured, so that every figure is of a server in its steady state, as
 * a server in production is. A Node member needs it: V8 optimizes the
 * request paths after some thousands of calls. Measured on a fresh cluster,
 * single-client etcd3 puts through the etcd door ran at 518-581/s in the
 * first run and 671-731/s from the third on; after one 256-client run,
 * the first single-client run was already at 681-714/s. Without the
 * warm-up, the first figure measured, single-client puts, was of a cold
 * member. etcd (Go, compiled ahead of time) gets the same warm-up.
 */
export const KV_STEPS: readonly KvStep[] = [
  { name: 'warm-up', workload: 'put', concurrency: 256, unmeasured: true },
  { name: 'put, 1 client', workload: 'put', concurrency: 1 },
  { name: 'put, 256 clients', workload: 'put', concurrency: 256 },
  { name: 'put 1 KiB values, 256 clients', workload: 'put', concurrency: 256, valueBytes: 1024 },
  { name: 'put one hot key, 64 clients', workload: 'put', concurrency: 64, keys: 1 },
  { name: 'fill', workload: 'fill', concurrency: 64, unmeasured: true },
  { name: 'get linearizable, 256', workload: 'getLinearizable', concurrency: 256 },
  { name: 'get serializable, 256', workload: 'getSerializable', concurrency: 256 },
  { name: `watch fan-out, ${WATCHERS} watchers`, workload: 'watchFanOut', concurrency: 16 },
  { name: 'lease keep-alive, 256', workload: 'leaseKeepAlive', concurrency: 256 },
];

/** The cluster each system runs on, and whether it is driven through that cluster's etcd API. */
const SYSTEM_CLUSTERS: Record<KvSystem, { cluster: ClusterName; etcdApi: boolean }> = {
  tessera: { cluster: 'tessera', etcdApi: false },
  etcd: { cluster: 'etcd', etcdApi: true },
  'tessera-etcd3': { cluster: 'tessera', etcdApi: true },
};

/** A ratio `numerator / denominator` of throughput (`key`) and of watch events delivered (`eventKey`). */
export interface KvRatio {
  readonly key: string;
  readonly eventKey: string;
  readonly numerator: KvSystem;
  readonly denominator: KvSystem;
}

/** What {@link runKvSteps} runs. */
export interface KvRun {
  readonly steps: readonly KvStep[];
  /** Each step runs against these, in this order. */
  readonly systems: readonly KvSystem[];
  readonly ratios: readonly KvRatio[];
}

/** Table rows (a row per system and ratio per step) and results keyed by step, then system or ratio. */
export interface KvRunResult {
  readonly rows: Row[];
  readonly results: Record<string, Record<string, unknown>>;
}

/**
 * Runs every step against every system, one load-generator process each.
 *
 * @throws {Error} when a load generator fails, or a system driven through
 *   an etcd API has no etcd endpoints (see `withClusters`' `tesseraEtcdApi`).
 */
export async function runKvSteps(
  clusters: Record<ClusterName, ClusterHandle>,
  run: KvRun,
): Promise<KvRunResult> {
  const rows: Row[] = [];
  const results: Record<string, Record<string, unknown>> = {};
  for (const step of run.steps) {
    const measuredBySystem: Partial<Record<KvSystem, StepResult>> = {};
    for (const system of run.systems) {
      const result = await runKvStep(clusters, step, system);
      measuredBySystem[system] = result;
      if (step.unmeasured !== true) rows.push(kvRow(step.name, system, result));
    }
    if (step.unmeasured === true) continue;
    const entry: Record<string, unknown> = {};
    for (const system of run.systems) entry[system] = kvSummary(measuredBySystem[system]);
    for (const ratio of run.ratios) {
      const numerator = measuredBySystem[ratio.numerator] as LoadResult;
      const denominator = measuredBySystem[ratio.denominator] as LoadResult;
      const opsRatio = round(numerator.opsPerSecond / denominator.opsPerSecond);
      const eventRatio =
        numerator.eventsPerSecond === undefined || denominator.eventsPerSecond === undefined
          ? undefined
          : round(numerator.eventsPerSecond / denominator.eventsPerSecond);
      entry[ratio.key] = opsRatio;
      if (eventRatio !== undefined) entry[ratio.eventKey] = eventRatio;
      rows.push({ workload: step.name, system: ratio.key, 'ops/s': opsRatio, 'events/s': eventRatio ?? '' });
    }
    const suffix = `${step.keys === 1 ? '_hotKey' : ''}${step.valueBytes === undefined ? '' : `_${step.valueBytes}B`}`;
    results[`${step.workload}_c${step.concurrency}${suffix}`] = entry;
  }
  return { rows, results };
}

/** What the `snapshots` column of a KV table says, printed under it. */
export const SNAPSHOTS_COLUMN_NOTE =
  'snapshots: snapshots the Tessera members took during the step (each writes a copy of the whole state, ' +
  "history included, 0.1-0.3 s of CPU for 300,000 versions: a step that holds one pays for it; etcd's " +
  'snapshots write no state and are not counted)';

/** A step's result, with the snapshots the members took during it where they are counted. */
type StepResult = MeasuredLoad<LoadResult> & { snapshotsTaken?: number };

/** Runs one step against one system in a load-generator process; returns its result and the servers' CPU. */
async function runKvStep(
  clusters: Record<ClusterName, ClusterHandle>,
  step: KvStep,
  system: KvSystem,
): Promise<StepResult> {
  const { cluster, etcdApi } = SYSTEM_CLUSTERS[system];
  const endpoints = etcdApi ? clusters[cluster].etcdEndpoints : clusters[cluster].endpoints;
  if (endpoints.length === 0) {
    throw new Error(`Cannot run ${system}: the ${cluster} cluster serves no etcd API (tesseraEtcdApi)`);
  }
  const spec: LoadSpec = {
    system,
    endpoints,
    workload: step.workload,
    concurrency: step.concurrency,
    warmupMs: WARMUP_MS,
    measureMs: MEASURE_MS,
    keys: step.keys ?? KEYS,
    valueBytes: step.valueBytes ?? VALUE_BYTES,
    watchers: WATCHERS,
  };
  const counted = clusters[cluster].snapshotsTaken;
  const before = await counted?.();
  const result = await runLoadProcess<LoadResult>(new URL('./kv-load.ts', import.meta.url), {
    spec,
    serverPids: clusters[cluster].pids,
    what: `${system} ${step.workload}`,
  });
  if (counted === undefined || before === undefined) return result;
  return { ...result, snapshotsTaken: (await counted()) - before };
}

function kvRow(workload: string, system: KvSystem, result: StepResult): Row {
  return {
    workload,
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
    snapshots: result.snapshotsTaken ?? '',
  };
}

/** A measured load's figures for the JSON line, with the watch figures when it has them. */
function kvSummary(result: StepResult | undefined): Record<string, number> {
  if (result === undefined) return {};
  const entries = loadSummary(result);
  if (result.snapshotsTaken !== undefined) entries['snapshotsTaken'] = result.snapshotsTaken;
  if (result.eventsPerSecond !== undefined) {
    entries['eventsPerSecond'] = Math.round(result.eventsPerSecond);
    entries['deliveryP50Ms'] = fixed(result.deliveryP50Ms);
    entries['deliveryP99Ms'] = fixed(result.deliveryP99Ms);
    entries['clientCpuUsPerEvent'] = fixed(result.cpuUsPerEvent);
  }
  return entries;
}
