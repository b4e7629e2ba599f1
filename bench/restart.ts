/**
 * `npm run bench -- restart`: how long a member takes from process start to
 * serving, with a large state (default 1 GiB: 1 Mi keys of 1 KiB) against
 * the same member with an empty state, in the same run.
 *
 * The large state is built the way a member builds it (WAL appends, LMDB
 * applies, then a snapshot and compaction), directly through the stores
 * rather than over the network, so building it takes a minute, not an hour.
 *
 * Set `TESSERA_RESTART_BYTES` to change the state size.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { RecordingLogger } from '../src/base/logger.ts';
import { openDiskStores } from '../src/cli/start.ts';
import { bootstrapStores } from '../src/raft/stores.ts';
import { type Entry, EntryType } from '../src/raft/types.ts';
import { encodeMemberInfo, memberIdOf } from '../src/server/member.ts';
import { LmdbState } from '../src/server/state.ts';
import { encodeRequest } from '../src/sim/kv-machine.ts';
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
  const value = 'x'.repeat(VALUE_BYTES);
  const count = Math.ceil(bytes / VALUE_BYTES);
  let index = stores.log.lastIndex();
  for (let done = 0; done < count; done += BATCH) {
    const batch: Entry[] = [];
    for (let i = done; i < Math.min(count, done + BATCH); i++) {
      const data = encodeRequest({
        clientId: 1,
        requestId: i,
        command: { op: 'put', key: `key-${i}`, value },
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

/** Milliseconds from spawning `tessera start` on `dir` to its ready line. */
async function timeStart(dir: string): Promise<number> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      BIN,
      'start',
      '--name',
      'r1',
      '--data',
      dir,
      '--listen-peer',
      '127.0.0.1:23801',
      '--listen-client',
      '127.0.0.1:23791',
      '--listen-http',
      '127.0.0.1:23811',
      '--initial-cluster',
      'r1=127.0.0.1:23801',
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (line.includes('"ready":true')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`tessera start exited ${code}`)));
    });
    return performance.now() - started;
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

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
    const emptyMs = Math.min(await timeStart(empty), await timeStart(empty));
    const largeMs = Math.min(await timeStart(large), await timeStart(large));
    printTable('restart: process start to serving (best of 2)', [
      { state: 'empty', keys: 0, MiB: 0, 'ms to ready': round(emptyMs) },
      { state: 'large', keys, MiB: Math.round(bytes / 1024 ** 2), 'ms to ready': round(largeMs) },
    ]);
    console.log(`large / empty: ${(largeMs / emptyMs).toFixed(2)}× (built in ${buildSeconds.toFixed(1)} s)`);
    console.log(
      JSON.stringify({
        bench: 'restart',
        stateBytes: bytes,
        keys,
        emptyMs: round(emptyMs),
        largeMs: round(largeMs),
        ratio: round(largeMs / emptyMs),
        buildSeconds: round(buildSeconds),
      }),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
