/**
 * `npm run bench -- etcd`: Tessera through etcd's v3 gRPC API against etcd
 * itself, with etcd's own clients. A 3-member Tessera cluster whose members
 * also serve etcd's API (`--listen-etcd`) and a 3-member etcd cluster
 * (Debian's `etcd-server`), both on loopback with fsync on, started side by
 * side as in `kv` (see `clusters.ts`):
 *
 * 1. the `etcd3` npm client, the same code against both (`kv-load.ts`):
 *    sequential puts, 256 puts in flight, 256 linearizable and 256
 *    serializable gets in flight, a watch fan-out, and lease keep-alives
 *    from 256 (at each cluster's leader, see `kv-load.ts`); each figure with the
 *    load generator's CPU time per operation and the servers' beside it.
 *    Tessera's own client (`tessera`) runs the same workloads for
 *    reference: the difference is what the etcd front door costs;
 * 2. then `etcdctl check perf` for each load asked for, against etcd's
 *    endpoints and then Tessera's etcd endpoints (see `check-perf.ts`). It
 *    runs last because it leaves each cluster's history hundreds of
 *    megabytes larger (it deletes its keys but does not compact), which
 *    would weigh on the figures of part 1.
 *
 * Environment: `BENCH_MEASURE_MS` (default 5000) sets the measured time of
 * each `etcd3` workload; `BENCH_CHECK_PERF_LOADS` (default `m,l`) chooses
 * the check's loads (`s`, `m`, `l`, `xl`; 60 s each, per cluster);
 * `BENCH_CHECK_PERF=0` skips the check.
 *
 * Targets (issue 7): `check perf --load=l` passes against Tessera, and
 * every `etcd3`-driven figure of Tessera is at least etcd's.
 *
 * @module
 */
import { CHECK_PERF_LOADS, type CheckPerfLoad, type CheckPerfResult, runCheckPerf } from './check-perf.ts';
import { type ClusterHandle, type ClusterName, MEASURE_MS, withClusters } from './clusters.ts';
import { KV_STEPS, type KvRun, runKvSteps, SNAPSHOTS_COLUMN_NOTE, VALUE_BYTES } from './kv-steps.ts';
import { fixed, printJsonLine, printTable, type Row, round } from './report.ts';

/** The issue's `etcd3` workloads, and lease keep-alives: every KV workload but the hot key. */
const ETCD3_RUN: KvRun = {
  steps: KV_STEPS.filter((step) => step.keys === undefined),
  systems: ['etcd', 'tessera-etcd3', 'tessera'],
  ratios: [
    { key: 'ratio', eventKey: 'eventRatio', numerator: 'tessera-etcd3', denominator: 'etcd' },
    {
      key: 'ratioVsTesseraClient',
      eventKey: 'eventRatioVsTesseraClient',
      numerator: 'tessera-etcd3',
      denominator: 'tessera',
    },
  ],
};

/** Figures of a workload's summary where more is better; the others listed are latencies, where less is. */
const HIGHER_IS_BETTER = ['opsPerSecond', 'eventsPerSecond'] as const;
const LOWER_IS_BETTER = ['p50Ms', 'p99Ms', 'deliveryP50Ms', 'deliveryP99Ms'] as const;

/** The clusters `check perf` runs against, in this order. */
const CHECK_PERF_CLUSTERS: readonly ClusterName[] = ['etcd', 'tessera'];

/**
 * The check's loads from `BENCH_CHECK_PERF` and `BENCH_CHECK_PERF_LOADS`.
 *
 * @throws {RangeError} when a load named is not one of etcdctl's.
 */
function checkPerfLoads(): CheckPerfLoad[] {
  if (process.env['BENCH_CHECK_PERF'] === '0') return [];
  const names = (process.env['BENCH_CHECK_PERF_LOADS'] ?? 'm,l').split(',').map((name) => name.trim());
  return names
    .filter((name) => name !== '')
    .map((name) => {
      if (!Object.hasOwn(CHECK_PERF_LOADS, name)) {
        throw new RangeError(
          `Cannot run check perf: BENCH_CHECK_PERF_LOADS names load ${JSON.stringify(name)}, not one of ${Object.keys(CHECK_PERF_LOADS).join(', ')}`,
        );
      }
      return name as CheckPerfLoad;
    });
}

/** Runs `check perf` for every load against both clusters' etcd endpoints; returns the rows and results. */
async function runCheckPerfs(
  clusters: Record<ClusterName, ClusterHandle>,
  loads: readonly CheckPerfLoad[],
): Promise<{ rows: Row[]; results: Record<string, Record<string, unknown>> }> {
  const rows: Row[] = [];
  const results: Record<string, Record<string, unknown>> = {};
  for (const load of loads) {
    const { writesPerSecond, clients } = CHECK_PERF_LOADS[load];
    const name = `--load=${load} (${writesPerSecond}/s, ${clients} clients)`;
    const byCluster: Partial<Record<ClusterName, CheckPerfResult>> = {};
    for (const cluster of CHECK_PERF_CLUSTERS) {
      console.error(`check perf --load=${load} against ${cluster} (about 60 s)...`);
      // A prefix per load, so that keys a failed check left behind do not stop the next.
      const result = await runCheckPerf(clusters[cluster].etcdEndpoints, {
        load,
        prefix: `/etcdctl-check-perf/${load}/`,
      });
      byCluster[cluster] = result;
      rows.push({
        load: name,
        system: cluster,
        verdict: result.verdict,
        'writes/s': result.writesPerSecond,
        slowestMs: fixed(result.slowestMs),
        stddevMs: fixed(result.stddevMs),
        errors: result.errors,
        note: result.message.slice(0, 80),
      });
    }
    const tessera = byCluster.tessera as CheckPerfResult;
    const etcd = byCluster.etcd as CheckPerfResult;
    const ratio = fixed(tessera.writesPerSecond / etcd.writesPerSecond);
    rows.push({ load: name, system: 'ratio', 'writes/s': ratio });
    results[load] = {
      targetWritesPerSecond: writesPerSecond,
      clients,
      etcd: checkPerfSummary(etcd),
      tessera: checkPerfSummary(tessera),
      ratio,
    };
  }
  return { rows, results };
}

/** A check's result for the JSON line, its latencies rounded. */
function checkPerfSummary(result: CheckPerfResult): Record<string, unknown> {
  return { ...result, slowestMs: fixed(result.slowestMs), stddevMs: fixed(result.stddevMs) };
}

/** Per `etcd3` workload, the figures where Tessera's etcd API did worse than etcd (workloads with none left out). */
function figuresBelowEtcd(results: Record<string, Record<string, unknown>>): Record<string, string[]> {
  const below: Record<string, string[]> = {};
  for (const [workload, entry] of Object.entries(results)) {
    const tessera = entry['tessera-etcd3'] as Record<string, number>;
    const etcd = entry['etcd'] as Record<string, number>;
    const worse = (figure: string, sign: 1 | -1): boolean => {
      const [t, e] = [tessera[figure], etcd[figure]];
      if (t === undefined || e === undefined || !Number.isFinite(t) || !Number.isFinite(e)) return false;
      return sign * (t - e) < 0;
    };
    const figures = [
      ...HIGHER_IS_BETTER.filter((figure) => worse(figure, 1)),
      ...LOWER_IS_BETTER.filter((figure) => worse(figure, -1)),
    ];
    if (figures.length > 0) below[workload] = figures;
  }
  return below;
}

/** Runs the `etcd3` workloads, then `check perf`, and prints the tables and the JSON line. */
export async function benchEtcd(): Promise<void> {
  const loads = checkPerfLoads();
  const { etcd3, checkPerf } = await withClusters(
    async (clusters) => ({
      etcd3: await runKvSteps(clusters, ETCD3_RUN),
      checkPerf: await runCheckPerfs(clusters, loads),
    }),
    { tesseraEtcdApi: true },
  );

  printTable(
    `etcd3 client, 3 members each, loopback, fsync on, ${VALUE_BYTES} B values (unless the workload says), ${MEASURE_MS} ms per workload ` +
      '(ratio = Tessera through etcd3 / etcd through etcd3; CPU µs per operation)',
    etcd3.rows,
  );
  console.log(
    [
      '',
      "etcd: etcd through the etcd3 package. tessera-etcd3: Tessera's etcd v3 gRPC API (--listen-etcd) through",
      '  the same etcd3 code. tessera: Tessera through tessera/client, for reference',
      '  (ratioVsTesseraClient = tessera-etcd3 / tessera: what the etcd front door costs).',
      SNAPSHOTS_COLUMN_NOTE,
    ].join('\n'),
  );
  printTable(
    'etcdctl check perf, 60 s per load: 1 KiB values, 256 B keys, fixed rate; passes above 90 % of the ' +
      'rate with the slowest request <= 500 ms, stddev <= 100 ms and no errors (ratio = Tessera / etcd)',
    checkPerf.rows,
  );
  const below = figuresBelowEtcd(etcd3.results);
  const largeOnTessera = (checkPerf.results['l']?.['tessera'] as CheckPerfResult | undefined)?.verdict;
  const workloads = Object.keys(etcd3.results);
  const targets = {
    checkPerfLargePassOnTessera: largeOnTessera === undefined ? null : largeOnTessera === 'PASS',
    etcd3AtLeastEtcd: Object.keys(below).length === 0,
    etcd3MinimumRatio: minimumRatio(etcd3.results),
    etcd3FiguresBelowEtcd: below,
  };
  printTable('Targets', [
    { target: 'check perf --load=l against Tessera (target PASS)', value: largeOnTessera ?? 'not run' },
    {
      target: "etcd3 workloads where every Tessera figure is at least etcd's (target all)",
      value: `${workloads.length - Object.keys(below).length} of ${workloads.length}`,
    },
    {
      target: 'smallest etcd3 throughput ratio Tessera / etcd (target >= 1)',
      value: targets.etcd3MinimumRatio,
    },
    ...Object.entries(below).map(([workload, figures]) => ({
      target: `  below etcd: ${workload}`,
      value: figures.join(' '),
    })),
  ]);
  printJsonLine({
    bench: 'etcd',
    measureMs: MEASURE_MS,
    valueBytes: VALUE_BYTES,
    checkPerf: checkPerf.results,
    results: etcd3.results,
    targets,
  });
}

/** The smallest Tessera / etcd throughput ratio over the `etcd3` workloads (events for the watch). */
function minimumRatio(results: Record<string, Record<string, unknown>>): number {
  const ratios = Object.values(results).flatMap((entry) =>
    [entry['ratio'], entry['eventRatio']].filter((value): value is number => typeof value === 'number'),
  );
  return round(Math.min(...ratios));
}
