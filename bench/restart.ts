/**
 * `npm run bench -- restart`: how long a member takes from process start to
 * serving, with a large state (default 1 GiB: 1 Mi keys of 1 KiB) against
 * the same member with an empty state, in the same run; then how long a new
 * member takes to catch up on that state by snapshot, and the peak memory
 * (RSS) of every process, against the state's size.
 *
 * The large state is built the way a member builds it (WAL appends, LMDB
 * applies, then a snapshot and compaction), directly through the stores
 * rather than over the network, so building it takes a minute, not an hour.
 *
 * Set `TESSERA_RESTART_BYTES` to change the state size.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { RecordingLogger } from '../src/base/logger.ts';
import { memberAddCommand, statusCommand } from '../src/cli/client-commands.ts';
import { MEMBER_NODE_FLAGS, startArgs } from '../src/cli/dev.ts';
import { openDiskStores } from '../src/cli/start.ts';
import { bootstrapStores } from '../src/raft/stores.ts';
import { type Entry, EntryType } from '../src/raft/types.ts';
import type { NodeStatus } from '../src/server/api.ts';
import { encodeMemberInfo, memberIdOf } from '../src/server/member.ts';
import { encodeKvEntry, LmdbState } from '../src/server/state.ts';
import { printTable, round } from './report.ts';

const BIN = new URL('../bin/tessera.js', import.meta.url).pathname;
const VALUE_BYTES = 1024;
const BATCH = 2000;

/** Builds a single-member data directory holding `bytes` of state; returns the entry count. */
async function buildState(dir: string, bytes: number): Promise<number> {
  const logger = new RecordingLogger();
  const stores = await openDiskStores(join(dir, 'raft'), { logger });
  const state = LmdbState.open(join(dir, 'state'));
  const id = memberIdOf('r1');
  const contexts = new Map([
    [id, encodeMemberInfo({ name: 'r1', peer: '127.0.0.1:23801', client: '', http: '' })],
  ]);
  await bootstrapStores(stores, { voters: [id], learners: [] }, contexts);
  await state.apply(stores.log.entries(1, stores.log.lastIndex() + 1, Number.MAX_SAFE_INTEGER));
  const value = new TextEncoder().encode('x'.repeat(VALUE_BYTES));
  const count = Math.ceil(bytes / VALUE_BYTES);
  let index = stores.log.lastIndex();
  for (let done = 0; done < count; done += BATCH) {
    const batch: Entry[] = [];
    for (let i = done; i < Math.min(count, done + BATCH); i++) {
      const data = encodeKvEntry({
        clientId: 1,
        requestId: i,
        command: { type: 'put', request: { key: new TextEncoder().encode(`key-${i}`), value } },
      });
      batch.push({ term: 1, index: ++index, type: EntryType.normal, data });
    }
    stores.log.append(batch);
    stores.stable.setHardState({ term: 1, vote: id, commit: index });
    await Promise.all([stores.log.sync(), stores.stable.sync()]);
    await state.apply(batch);
  }
  await state.snapshotInto(stores.snapshots, () => 1);
  stores.log.compact(index);
  await stores.log.sync();
  await stores.close();
  await state.close();
  return count;
}

interface BenchMember {
  readonly name: string;
  readonly peer: string;
  readonly client: string;
  readonly http: string;
}

const R1: BenchMember = {
  name: 'r1',
  peer: '127.0.0.1:23801',
  client: '127.0.0.1:23791',
  http: '127.0.0.1:23811',
};
const R2: BenchMember = {
  name: 'r2',
  peer: '127.0.0.1:23802',
  client: '127.0.0.1:23792',
  http: '127.0.0.1:23812',
};

/** A memory figure of process `pid` from /proc/PID/status (`VmHWM`, `RssAnon`...), in bytes; 0 where /proc has no answer. */
function statusBytes(pid: number, field: string): number {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

/**
 * Peak resident memory of process `pid` so far (Linux's VmHWM), in bytes.
 * It counts the state's pages LMDB has mapped, which the page cache holds
 * and can write back and drop; `RssAnon` is the process's own memory.
 */
function peakRssBytes(pid: number): number {
  return statusBytes(pid, 'VmHWM');
}

/** Resident anonymous memory of process `pid` now (heap, stacks, buffers; not mapped files), in bytes. */
function anonRssBytes(pid: number): number {
  return statusBytes(pid, 'RssAnon');
}

/** Spawns `tessera start` for `member` on `dir`; resolves with the process once it prints its ready line. */
async function startMember(
  dir: string,
  member: BenchMember,
  options: { initialCluster: string; existing?: boolean },
): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      ...MEMBER_NODE_FLAGS,
      BIN,
      ...startArgs(member, {
        data: dir,
        initialCluster: options.initialCluster,
        existing: options.existing === true,
        logLevel: process.env['BENCH_LOG_LEVEL'] ?? 'warn',
      }),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        if (line.includes('"ready":true')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`tessera start ${member.name} exited ${code}`)));
    });
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** Milliseconds from spawning `tessera start` on `dir` to its ready line, and the member's peak RSS and anonymous RSS then. */
async function timeStart(dir: string): Promise<{ ms: number; rss: number; anon: number }> {
  const started = performance.now();
  const child = await startMember(dir, R1, { initialCluster: `r1=${R1.peer}` });
  try {
    const pid = child.pid ?? 0;
    return { ms: performance.now() - started, rss: peakRssBytes(pid), anon: anonRssBytes(pid) };
  } finally {
    await stop(child);
  }
}

/**
 * Starts the member on `dir`, adds an empty learner, and times until the
 * learner has applied everything (by snapshot); peak RSS of both.
 */
async function timeCatchUp(
  dir: string,
  joinerDir: string,
): Promise<{
  ms: number;
  leaderRss: number;
  joinerRss: number;
  leaderAnon: number;
  joinerAnon: number;
  snapshotBytes: number;
  chunksSent: number;
}> {
  const leader = await startMember(dir, R1, { initialCluster: `r1=${R1.peer}` });
  let joiner: ChildProcess | undefined;
  try {
    const target = (await statusCommand([R1.client])).members[0]?.applied ?? 0;
    await memberAddCommand([R1.client], { ...R2, voter: false });
    const started = performance.now();
    joiner = await startMember(joinerDir, R2, { initialCluster: `r2=${R2.peer}`, existing: true });
    const deadline = Date.now() + 30 * 60_000;
    // Anonymous memory has no peak in /proc: sampled at every poll.
    let leaderAnon = 0;
    let joinerAnon = 0;
    for (;;) {
      leaderAnon = Math.max(leaderAnon, anonRssBytes(leader.pid ?? 0));
      joinerAnon = Math.max(joinerAnon, anonRssBytes(joiner.pid ?? 0));
      const status = await fetch(`http://${R2.http}/v1/status`).then((r) => r.json() as Promise<NodeStatus>);
      if (status.applied >= target) break;
      if (Date.now() > deadline)
        throw new Error(`r2 did not catch up in 30 min (applied ${status.applied} of ${target})`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const ms = performance.now() - started;
    const metrics = await fetch(`http://${R1.http}/metrics`).then((r) => r.text());
    const chunksSent = Number(/tessera_snapshot_chunks_sent_total (\d+)/.exec(metrics)?.[1] ?? 0);
    const snapshotBytes = readdirSync(join(joinerDir, 'raft', 'snap'))
      .filter((file) => file.endsWith('.snap'))
      .reduce((sum, file) => sum + statSync(join(joinerDir, 'raft', 'snap', file)).size, 0);
    return {
      ms,
      leaderRss: peakRssBytes(leader.pid ?? 0),
      joinerRss: peakRssBytes(joiner.pid ?? 0),
      leaderAnon,
      joinerAnon,
      snapshotBytes,
      chunksSent,
    };
  } finally {
    if (joiner !== undefined) await stop(joiner);
    await stop(leader);
  }
}

const MiB = 1024 ** 2;

export async function benchRestart(): Promise<void> {
  const bytes = Number(process.env['TESSERA_RESTART_BYTES'] ?? 1024 ** 3);
  const root = mkdtempSync(join(tmpdir(), 'tessera-restart-'));
  try {
    const empty = join(root, 'empty');
    await buildState(empty, 0);
    const large = join(root, 'large');
    const buildStarted = performance.now();
    const keys = await buildState(large, bytes);
    const buildSeconds = (performance.now() - buildStarted) / 1000;
    const best = <T extends { ms: number }>(a: T, b: T): T => (a.ms <= b.ms ? a : b);
    const emptyRun = best(await timeStart(empty), await timeStart(empty));
    const largeRun = best(await timeStart(large), await timeStart(large));
    const catchUp = await timeCatchUp(large, join(root, 'joiner'));
    const row = (run: string, stateKeys: number, ms: number, rss: number, anon: number) => ({
      run,
      keys: stateKeys,
      'state MiB': Math.round((stateKeys === 0 ? 0 : bytes) / MiB),
      ms: round(ms),
      'peak RSS MiB': round(rss / MiB),
      'anon RSS MiB': round(anon / MiB),
    });
    printTable('restart: process start to serving (best of 2), and a new member catching up by snapshot', [
      row('restart, empty state', 0, emptyRun.ms, emptyRun.rss, emptyRun.anon),
      row('restart, large state', keys, largeRun.ms, largeRun.rss, largeRun.anon),
      row('learner catch-up: sender', keys, catchUp.ms, catchUp.leaderRss, catchUp.leaderAnon),
      row('learner catch-up: receiver', keys, catchUp.ms, catchUp.joinerRss, catchUp.joinerAnon),
    ]);
    console.log(
      'peak RSS counts the state pages LMDB mapped (page cache, written back and dropped as the kernel needs); ' +
        "anon RSS is the process's own memory: at the ready line for a restart, the largest sampled every 100 ms for a catch-up",
    );
    console.log(
      `restart large / empty: ${(largeRun.ms / emptyRun.ms).toFixed(2)}× (built in ${buildSeconds.toFixed(1)} s); ` +
        `snapshot of ${round(catchUp.snapshotBytes / MiB)} MiB sent at ${round(catchUp.snapshotBytes / MiB / (catchUp.ms / 1000))} MiB/s; ` +
        `receiver peak RSS / snapshot size: ${(catchUp.joinerRss / Math.max(1, catchUp.snapshotBytes)).toFixed(2)}, ` +
        `anon RSS / snapshot size: ${(catchUp.joinerAnon / Math.max(1, catchUp.snapshotBytes)).toFixed(2)}; ` +
        `${catchUp.chunksSent} chunks sent for ${Math.ceil(catchUp.snapshotBytes / MiB)} MiB`,
    );
    console.log(
      JSON.stringify({
        bench: 'restart',
        stateBytes: bytes,
        keys,
        emptyMs: round(emptyRun.ms),
        largeMs: round(largeRun.ms),
        ratio: round(largeRun.ms / emptyRun.ms),
        emptyPeakRssBytes: emptyRun.rss,
        largePeakRssBytes: largeRun.rss,
        catchUpMs: round(catchUp.ms),
        snapshotBytes: catchUp.snapshotBytes,
        senderPeakRssBytes: catchUp.leaderRss,
        receiverPeakRssBytes: catchUp.joinerRss,
        emptyAnonRssBytes: emptyRun.anon,
        largeAnonRssBytes: largeRun.anon,
        senderPeakAnonRssBytes: catchUp.leaderAnon,
        receiverPeakAnonRssBytes: catchUp.joinerAnon,
        snapshotChunksSent: catchUp.chunksSent,
        buildSeconds: round(buildSeconds),
      }),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
