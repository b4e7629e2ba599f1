/**
 * `npm run bench -- coord`: distributed locks on a 3-member Tessera cluster
 * and a 3-member etcd cluster (started as in `kv`, see `clusters.ts`), in
 * the same run:
 *
 * 1. uncontended: one client, one session, lock then unlock the same name
 *    in a loop (cycles/s, latency of a cycle);
 * 2. contended: 16 clients, each with its own connection and session, loop
 *    lock -> tiny critical section -> unlock on one name (hand-offs/s,
 *    latency from calling lock to the grant). The load generator checks
 *    that no two of them are ever inside at once.
 *
 * etcd is measured twice: through etcd's own lock service (server-side
 * `concurrency.Mutex` on one lease per client, as Tessera's `Mutex` on a
 * `Session`: the fair comparison), and through the `etcd3` package's
 * `Lock`, what a Node user would pick, which grants and revokes a lease per
 * acquire and, being a try-lock, is retried at once while held.
 *
 * Each workload runs in a load-generator process of its own
 * (`coord-load.ts`), which reports its own CPU time per grant; the servers'
 * CPU time per grant (all three members, from /proc) is printed beside it.
 *
 * `BENCH_MEASURE_MS` (default 5000) sets the measured time of each workload.
 *
 * @module
 */
import {
  type ClusterName,
  loadSummary,
  MEASURE_MS,
  type MeasuredLoad,
  runLoadProcess,
  WARMUP_MS,
  withClusters,
} from './clusters.ts';
import type { LockResult, LockSpec, LockSystem } from './coord-load.ts';
import { fixed, printJsonLine, printTable, type Row, round } from './report.ts';

/** TTL of every session and lease, in seconds (a lost client frees the lock within it). */
const TTL_SECONDS = 10;
const CONTENDERS = 16;

interface Step {
  readonly key: string;
  readonly name: string;
  readonly latency: LockSpec['latency'];
  readonly concurrency: number;
}

const STEPS: readonly Step[] = [
  { key: 'uncontended_c1', name: 'lock+unlock, 1 client', latency: 'cycle', concurrency: 1 },
  {
    key: `contended_c${CONTENDERS}`,
    name: `hand-off, ${CONTENDERS} clients`,
    latency: 'grant',
    concurrency: CONTENDERS,
  },
];

/** The locks measured, the cluster each runs on, and the name of Tessera's ratio to it. */
const SYSTEMS: ReadonlyArray<{ system: LockSystem; cluster: ClusterName; ratio?: string }> = [
  { system: 'tessera', cluster: 'tessera' },
  { system: 'etcdLockService', cluster: 'etcd', ratio: 'ratioVsEtcdLockService' },
  { system: 'etcd3Lock', cluster: 'etcd', ratio: 'ratioVsEtcd3Lock' },
];

type MeasuredLock = MeasuredLoad<LockResult>;

function summary(result: MeasuredLock): Record<string, number> {
  return {
    ...loadSummary(result),
    retriesPerGrant: fixed(result.retriesPerGrant),
    exclusionViolations: result.exclusionViolations,
  };
}

/** Runs the lock workloads against both clusters and prints the table and the JSON line. */
export async function benchCoord(): Promise<void> {
  const rows: Row[] = [];
  const results: Record<string, Record<string, unknown>> = {};
  await withClusters(async (clusters) => {
    for (const step of STEPS) {
      const measuredBySystem: Partial<Record<LockSystem, MeasuredLock>> = {};
      for (const { system, cluster } of SYSTEMS) {
        const spec: LockSpec = {
          system,
          endpoints: clusters[cluster].endpoints,
          latency: step.latency,
          lockName: `bench/lock/${step.key}`,
          ttlSeconds: TTL_SECONDS,
          concurrency: step.concurrency,
          warmupMs: WARMUP_MS,
          measureMs: MEASURE_MS,
        };
        const result = await runLoadProcess<LockResult>(new URL('./coord-load.ts', import.meta.url), {
          spec,
          serverPids: clusters[cluster].pids,
          what: `${system} ${step.key}`,
        });
        measuredBySystem[system] = result;
        rows.push({ workload: step.name, system, ...summary(result) });
      }
      const tessera = measuredBySystem.tessera as MeasuredLock;
      const entry: Record<string, unknown> = {};
      for (const { system, ratio } of SYSTEMS) {
        const result = measuredBySystem[system] as MeasuredLock;
        entry[system] = summary(result);
        if (ratio === undefined) continue;
        entry[ratio] = round(tessera.opsPerSecond / result.opsPerSecond);
        rows.push({ workload: step.name, system: ratio, opsPerSecond: entry[ratio] as number });
      }
      results[step.key] = entry;
    }
  });

  printTable(
    `Locks, 3 members each, loopback, fsync on, ${MEASURE_MS} ms per workload (ops = grants, each a lock+unlock; ` +
      'latency of a cycle uncontended, from lock() to grant contended; CPU µs per grant; ratio = Tessera / etcd)',
    rows,
  );
  console.log(
    [
      '',
      `tessera: Mutex on a Session (one lease per client, TTL ${TTL_SECONDS} s), calls to the leader.`,
      "etcdLockService: etcd's v3lock service (server-side concurrency.Mutex) on one etcd3 lease per client,",
      '  called at the leader: the same algorithm and session model as Tessera.',
      "etcd3Lock: etcd3's Lock as shipped: a new lease (grant + keep-alive stream) per acquire, revoked on",
      '  release; a try-lock (one key), retried at once while held, so contended grants are not FIFO;',
      '  etcd3 spreads its calls over the members (a follower forwards writes to the leader).',
    ].join('\n'),
  );
  printJsonLine({ bench: 'coord', measureMs: MEASURE_MS, ttlSeconds: TTL_SECONDS, results });
}
