/**
 * Storage benchmark: the WAL's group commit. 1, 16 and 256 proposers each
 * append one 100-byte entry and await `sync()`, in a loop, for a fixed
 * time; the table shows appends/s and fdatasyncs/s beside a raw loop of
 * 100-byte write + fdatasync on a preallocated file in the same directory
 * and run (what one proposer could at best reach), and fio's fdatasync
 * write test when fio is installed (or installable: root only).
 *
 * Group commit is working when 256 proposers reach many times one
 * proposer's throughput (target ≥ 50×) at about the same fdatasyncs/s.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingLogger } from '../src/base/logger.ts';
import { EntryType } from '../src/raft/types.ts';
import { zeroFill } from '../src/storage/files.ts';
import { WAL_SEGMENT_BYTES_DEFAULT } from '../src/storage/wal.ts';
import { WalStores } from '../src/storage/wal-stores.ts';
import { percentile, printJsonLine, printTable, type Row, round } from './report.ts';

const ENTRY_BYTES = 100;
const MEASURE_MS = Number(process.env['BENCH_MEASURE_MS'] ?? 3000);
const PROPOSERS = [1, 16, 256];
/** Entries kept in memory before the bench compacts its log (it measures writes, not memory). */
const LIVE_ENTRIES_MAX = 100_000;

interface Measured {
  appendsPerSecond: number;
  fdatasyncsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

function summarize(operations: number, fdatasyncs: number, elapsedMs: number, latencies: number[]): Measured {
  const sorted = Float64Array.from(latencies).sort();
  return {
    appendsPerSecond: operations / (elapsedMs / 1000),
    fdatasyncsPerSecond: fdatasyncs / (elapsedMs / 1000),
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
  };
}

/** A 100-byte write then fdatasync, in a loop for `durationMs`, into a file preallocated like a WAL segment. */
export async function rawFdatasyncLoop(dir: string, durationMs = MEASURE_MS): Promise<Measured> {
  const handle = await open(join(dir, 'raw.bin'), 'w+');
  try {
    await zeroFill(handle, 0, WAL_SEGMENT_BYTES_DEFAULT);
    await handle.datasync();
    const record = Buffer.alloc(ENTRY_BYTES, 0x61);
    const latencies: number[] = [];
    const start = performance.now();
    let position = 0;
    while (performance.now() - start < durationMs) {
      const begin = performance.now();
      await handle.write(record, 0, record.length, position);
      await handle.datasync();
      latencies.push(performance.now() - begin);
      position = (position + record.length) % (WAL_SEGMENT_BYTES_DEFAULT - record.length);
    }
    return summarize(latencies.length, latencies.length, performance.now() - start, latencies);
  } finally {
    await handle.close();
  }
}

async function walRun(dir: string, proposers: number): Promise<Measured> {
  const stores = await WalStores.open(join(dir, `wal-${proposers}`), { logger: new RecordingLogger() });
  const data = new Uint8Array(ENTRY_BYTES).fill(0x61);
  const latencies: number[] = [];
  const before = stores.wal.stats.fdatasyncs;
  const start = performance.now();
  const proposer = async (): Promise<void> => {
    while (performance.now() - start < MEASURE_MS) {
      const begin = performance.now();
      const { log } = stores;
      log.append([{ index: log.lastIndex() + 1, term: 1, type: EntryType.normal, data }]);
      if (log.lastIndex() - log.firstIndex() > LIVE_ENTRIES_MAX) log.compact(log.lastIndex() - 1000);
      await log.sync();
      latencies.push(performance.now() - begin);
    }
  };
  await Promise.all(Array.from({ length: proposers }, proposer));
  const elapsed = performance.now() - start;
  const measured = summarize(latencies.length, stores.wal.stats.fdatasyncs - before, elapsed, latencies);
  await stores.close();
  return measured;
}

/** fio's fdatasync-per-write test in `dir`; a reason string when fio is not available. */
function fioRun(dir: string): { iops: number; syncP50Ms: number | null } | string {
  if (spawnSync('fio', ['--version']).status !== 0) {
    if (process.getuid?.() !== 0) return 'fio not installed (and not root to apt-get install fio)';
    console.error('installing fio from Debian for the side-by-side run...');
    const install = spawnSync('sh', [
      '-c',
      'apt-get install -y -qq fio >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq fio >/dev/null 2>&1)',
    ]);
    if (install.status !== 0 || spawnSync('fio', ['--version']).status !== 0)
      return 'fio not available: apt-get install fio failed';
  }
  const run = spawnSync(
    'fio',
    [
      '--name=wal',
      `--directory=${dir}`,
      '--rw=write',
      `--bs=${ENTRY_BYTES}`,
      '--size=64m',
      '--ioengine=sync',
      '--fdatasync=1',
      `--runtime=${Math.ceil(MEASURE_MS / 1000)}`,
      '--time_based',
      '--output-format=json',
    ],
    { encoding: 'utf8' },
  );
  if (run.status !== 0) return `fio failed: ${run.stderr.trim().split('\n')[0]}`;
  const job = dig(JSON.parse(run.stdout), 'jobs', '0');
  const p50 = dig(job, 'sync', 'lat_ns', 'percentile', '50.000000');
  return {
    iops: Number(dig(job, 'write', 'iops') ?? 0),
    syncP50Ms: typeof p50 === 'number' ? p50 / 1e6 : null,
  };
}

/** The field at `keys` of parsed JSON, or undefined. */
function dig(value: unknown, ...keys: string[]): unknown {
  let at = value;
  for (const key of keys)
    at = typeof at === 'object' && at !== null ? (at as Record<string, unknown>)[key] : undefined;
  return at;
}

/** Runs the storage benchmark: prints its table, the ratios, and one JSON line. */
export async function benchStorage(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-bench-storage-'));
  try {
    const raw = await rawFdatasyncLoop(dir);
    const wal: Record<number, Measured> = {};
    for (const proposers of PROPOSERS) wal[proposers] = await walRun(dir, proposers);
    const fio = fioRun(dir);
    const row = (system: string, proposers: number | string, measured: Measured): Row => ({
      system,
      proposers,
      'appends/s': measured.appendsPerSecond,
      'fdatasyncs/s': measured.fdatasyncsPerSecond,
      'appends/fdatasync': round(measured.appendsPerSecond / measured.fdatasyncsPerSecond),
      'p50 ms': measured.p50Ms,
      'p99 ms': measured.p99Ms,
    });
    const rows = [
      row('raw write+fdatasync', 1, raw),
      ...PROPOSERS.map((n) => row('tessera WAL', n, wal[n] as Measured)),
    ];
    if (typeof fio === 'string') console.error(`fio side skipped: ${fio}`);
    else {
      rows.push({
        system: 'fio --fdatasync=1',
        proposers: 1,
        'appends/s': fio.iops,
        'fdatasyncs/s': fio.iops,
        'appends/fdatasync': 1,
        'p50 ms': fio.syncP50Ms ?? 'n/a',
        'p99 ms': 'n/a',
      });
    }
    const single = (wal[1] as Measured).appendsPerSecond;
    const ratio = (wal[256] as Measured).appendsPerSecond / single;
    printTable(`WAL group commit: ${ENTRY_BYTES}-byte entries, ${MEASURE_MS} ms per run, ${tmpdir()}`, rows);
    console.log(`\n256-proposer / 1-proposer throughput: ${round(ratio)}× (target ≥ 50×)`);
    console.log(`1-proposer WAL / raw fdatasync loop: ${round(single / raw.appendsPerSecond)}×`);
    const plain = (measured: Measured) => ({
      appendsPerSecond: Math.round(measured.appendsPerSecond),
      fdatasyncsPerSecond: Math.round(measured.fdatasyncsPerSecond),
      p50Ms: round(measured.p50Ms),
      p99Ms: round(measured.p99Ms),
    });
    printJsonLine({
      bench: 'storage',
      entryBytes: ENTRY_BYTES,
      measureMs: MEASURE_MS,
      rawFdatasync: plain(raw),
      wal: Object.fromEntries(PROPOSERS.map((n) => [`proposers${n}`, plain(wal[n] as Measured)])),
      ratio256To1: round(ratio),
      ratioWal1ToRaw: round(single / raw.appendsPerSecond),
      fio: typeof fio === 'string' ? null : { iops: Math.round(fio.iops), syncP50Ms: fio.syncP50Ms },
      ...(typeof fio === 'string' ? { fioSkipped: fio } : {}),
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
