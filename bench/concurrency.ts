/**
 * Concurrency benchmark: channel throughput (unbuffered and capacity 128;
 * one producer and one consumer, and 4×4; consumers awaiting `recv()` per
 * value, and consumers ranging with `for await`) and mutex lock/unlock, Tessera
 * against the npm packages a Node user would pick (async-channel,
 * async-mutex) and, where Go can be installed, the same program in Go.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Channel as AsyncChannel } from 'async-channel';
import { Mutex as AsyncMutex } from 'async-mutex';
import { Channel } from '../src/concurrency/channel.ts';
import { Mutex } from '../src/concurrency/mutex.ts';
import { printJsonLine, printTable, type Row, round } from './report.ts';

const TOTAL = Number(process.env['BENCH_CHANNEL_VALUES'] ?? 1_000_000);
const REPEATS = 3;

interface ChannelLike {
  send(value: number): Promise<void>;
  recv(): Promise<unknown>;
  close(): void;
  values(): AsyncIterable<number>;
}

const channelSystems: Record<string, (capacity: number) => ChannelLike> = {
  tessera: (capacity) => {
    const channel = new Channel<number>(capacity);
    return {
      send: (value) => channel.send(value),
      recv: () => channel.recv(),
      close: () => channel.close(),
      values: () => channel,
    };
  },
  'async-channel': (capacity) => {
    const channel = new AsyncChannel<number>(capacity);
    return {
      send: (value) => channel.push(value),
      recv: () => channel.get(),
      close: () => channel.close(),
      values: () => channel,
    };
  },
};

/** How consumers receive: a loop awaiting `recv()` per value, or `for await` until the channel closes. */
type ConsumerStyle = 'recv' | 'for-await';

async function channelRun(
  make: (capacity: number) => ChannelLike,
  capacity: number,
  pairs: number,
  style: ConsumerStyle,
): Promise<number> {
  const channel = make(capacity);
  const perTask = TOTAL / pairs;
  let received = 0;
  const start = performance.now();
  const producers = Array.from({ length: pairs }, async () => {
    for (let i = 0; i < perTask; i++) await channel.send(i);
  });
  const consumers = Array.from({ length: pairs }, async () => {
    if (style === 'recv') {
      for (let i = 0; i < perTask; i++) await channel.recv();
      received += perTask;
    } else {
      for await (const _value of channel.values()) received++;
    }
  });
  await Promise.all(producers);
  if (style === 'for-await') channel.close();
  await Promise.all(consumers);
  if (received !== TOTAL) throw new Error(`channel delivered ${received} of ${TOTAL} values`);
  return TOTAL / ((performance.now() - start) / 1000);
}

const mutexSystems: Record<string, () => { lock(): Promise<unknown>; unlock(): void }> = {
  tessera: () => {
    const mutex = new Mutex();
    return { lock: () => mutex.lock(), unlock: () => mutex.unlock() };
  },
  'async-mutex': () => {
    const mutex = new AsyncMutex();
    return { lock: () => mutex.acquire(), unlock: () => mutex.release() };
  },
};

async function mutexRun(
  make: () => { lock(): Promise<unknown>; unlock(): void },
  tasks: number,
): Promise<number> {
  const mutex = make();
  let counter = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: tasks }, async () => {
      for (let i = 0; i < TOTAL / tasks; i++) {
        await mutex.lock();
        counter++;
        mutex.unlock();
      }
    }),
  );
  if (counter !== TOTAL) throw new Error(`mutex lost increments: ${counter} of ${TOTAL}`);
  return TOTAL / ((performance.now() - start) / 1000);
}

/** Best of a few runs: the machine is shared, and the best run is the least disturbed. */
async function best(run: () => Promise<number>): Promise<number> {
  let top = 0;
  for (let i = 0; i < REPEATS; i++) top = Math.max(top, await run());
  return top;
}

/** Installs Go from Debian when missing (root only), builds the Go program and runs it; undefined with a reason otherwise. */
function goResults(): Record<string, number> | string {
  if (spawnSync('go', ['version']).status !== 0) {
    if (process.getuid?.() !== 0) return 'go not installed (and not root to apt-get install golang-go)';
    console.error('installing golang-go from Debian for the side-by-side run...');
    const install = spawnSync('sh', [
      '-c',
      'apt-get install -y -qq golang-go >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq golang-go >/dev/null 2>&1)',
    ]);
    if (install.status !== 0 || spawnSync('go', ['version']).status !== 0)
      return 'go not available: apt-get install golang-go failed';
  }
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-go-'));
  try {
    const binary = join(dir, 'channels');
    execFileSync('go', ['build', '-o', binary, new URL('./go/channels.go', import.meta.url).pathname], {
      env: { ...process.env, GOCACHE: join(dir, 'cache'), GOPATH: join(dir, 'gopath'), GO111MODULE: 'off' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const top: Record<string, number> = {};
    for (let i = 0; i < REPEATS; i++) {
      const run = JSON.parse(execFileSync(binary, [String(TOTAL)], { encoding: 'utf8' })) as Record<
        string,
        number
      >;
      for (const [key, value] of Object.entries(run)) top[key] = Math.max(top[key] ?? 0, value);
    }
    return top;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchConcurrency(): Promise<void> {
  const rows: Row[] = [];
  const result: Record<string, unknown> = { bench: 'concurrency', values: TOTAL };
  const go = goResults();
  if (typeof go === 'string') console.error(`Go side skipped: ${go}`);
  for (const style of ['recv', 'for-await'] as const) {
    for (const capacity of [0, 128]) {
      for (const pairs of [1, 4]) {
        const workload = `${pairs}x${pairs}_cap${capacity}`;
        const measured: Record<string, number> = {};
        for (const [system, make] of Object.entries(channelSystems)) {
          measured[system] = await best(() => channelRun(make, capacity, pairs, style));
        }
        // The Go program is the same in both styles: `for range ch` and `<-ch` cost the same there.
        const goOps = typeof go === 'string' ? undefined : go[workload];
        const ratio = (measured['tessera'] ?? 0) / (measured['async-channel'] ?? 1);
        rows.push({
          workload: `channel ${workload} ${style}`,
          tessera: measured['tessera'] ?? 0,
          npm: measured['async-channel'] ?? 0,
          go: goOps ?? 'n/a',
          'tessera/npm': round(ratio),
          'tessera/go': goOps === undefined ? 'n/a' : round((measured['tessera'] ?? 0) / goOps),
        });
        result[`channel_${workload}_${style}`] = {
          tessera: Math.round(measured['tessera'] ?? 0),
          asyncChannel: Math.round(measured['async-channel'] ?? 0),
          go: goOps === undefined ? null : Math.round(goOps),
          ratioVsNpm: round(ratio),
        };
      }
    }
  }
  const mutexMeasured: Record<string, number> = {};
  for (const [system, make] of Object.entries(mutexSystems))
    mutexMeasured[system] = await best(() => mutexRun(make, 4));
  const goMutex = typeof go === 'string' ? undefined : go['mutex_4tasks'];
  const mutexRatio = (mutexMeasured['tessera'] ?? 0) / (mutexMeasured['async-mutex'] ?? 1);
  rows.push({
    workload: 'mutex 4 tasks',
    tessera: mutexMeasured['tessera'] ?? 0,
    npm: mutexMeasured['async-mutex'] ?? 0,
    go: goMutex ?? 'n/a',
    'tessera/npm': round(mutexRatio),
    'tessera/go': goMutex === undefined ? 'n/a' : round((mutexMeasured['tessera'] ?? 0) / goMutex),
  });
  result['mutex_4tasks'] = {
    tessera: Math.round(mutexMeasured['tessera'] ?? 0),
    asyncMutex: Math.round(mutexMeasured['async-mutex'] ?? 0),
    go: goMutex === undefined ? null : Math.round(goMutex),
    ratioVsNpm: round(mutexRatio),
  };
  if (typeof go === 'string') result['goSkipped'] = go;
  printTable(
    `Operations/s, ${TOTAL.toLocaleString('en-US')} values each, best of ${REPEATS} (npm = async-channel / async-mutex)`,
    rows,
  );
  printJsonLine(result);
}
