/**
 * `npm run bench -- kv`: a 3-member Tessera cluster and a 3-member etcd
 * cluster (Debian's `etcd-server`, installed when missing and this runs as
 * root) on loopback, both with fsync on, driven by the same workloads in
 * the same run: puts from 1 and 256 clients, puts to one hot key from 64,
 * linearizable and serializable
 * gets from 256, a watch fan-out, and lease keep-alives from 256.
 *
 * Each workload runs in a load-generator process of its own
 * (`kv-load.ts`: Tessera through `tessera/client`, etcd through `etcd3`),
 * which reports its own CPU time per operation; the servers' CPU time per
 * operation (all three members, from /proc) is printed beside it. The
 * disk's fdatasync latency, measured in the same directory and run, is the
 * floor of one durable write; three bare processes replicating a write
 * (`replication-floor.ts`: the hops and the syncs, no consensus) are the
 * floor of one replicated durable write, which a single-client put pays.
 *
 * `BENCH_MEASURE_MS` (default 5000) sets the measured time of each workload.
 *
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MEASURE_MS, withClusters } from './clusters.ts';
import { KV_STEPS, runKvSteps, SNAPSHOTS_COLUMN_NOTE, VALUE_BYTES } from './kv-steps.ts';
import { type FloorResult, replicationFloor } from './replication-floor.ts';
import { printJsonLine, printTable, round } from './report.ts';
import { rawFdatasyncLoop } from './storage.ts';

export async function benchKv(): Promise<void> {
  const floorDir = mkdtempSync(join(tmpdir(), 'tessera-bench-disk-'));
  let floor: Awaited<ReturnType<typeof rawFdatasyncLoop>>;
  let replicated: FloorResult;
  try {
    floor = await rawFdatasyncLoop(floorDir, 2000);
    replicated = await replicationFloor(floorDir, 2000);
  } finally {
    rmSync(floorDir, { recursive: true, force: true });
  }

  const { rows, results } = await withClusters((clusters) =>
    runKvSteps(clusters, {
      steps: KV_STEPS,
      systems: ['tessera', 'etcd'],
      ratios: [{ key: 'ratio', eventKey: 'eventRatio', numerator: 'tessera', denominator: 'etcd' }],
    }),
  );

  printTable(
    `KV store, 3 members each, loopback, fsync on, ${VALUE_BYTES} B values (unless the workload says), ${MEASURE_MS} ms per workload (ratio = Tessera / etcd)`,
    rows,
  );
  console.log(SNAPSHOTS_COLUMN_NOTE);
  const single = (results['put_c1']?.['tessera'] as { p50Ms: number } | undefined)?.p50Ms ?? Number.NaN;
  const targets = {
    put256AtLeastEtcd: ((results['put_c256']?.['ratio'] as number | undefined) ?? 0) >= 1,
    singlePutP50OverFdatasyncP50: round(single / floor.p50Ms),
    replicationFloorP50OverFdatasyncP50: round(replicated.p50Ms / floor.p50Ms),
  };
  printTable('Disk floor and targets', [
    { measure: 'fdatasync p50 (ms), 100 B appends', value: round(floor.p50Ms) },
    { measure: 'fdatasync p99 (ms)', value: round(floor.p99Ms) },
    {
      measure: 'replicated write p50 (ms): 3 bare processes, leader + 1 of 2 followers synced',
      value: round(replicated.p50Ms),
    },
    {
      measure: 'replicated write p50 / fdatasync p50 (the floor of the next line)',
      value: targets.replicationFloorP50OverFdatasyncP50,
    },
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
    replicationFloorP50Ms: round(replicated.p50Ms),
    replicationFloorP99Ms: round(replicated.p99Ms),
    results,
    targets,
  });
}
