/**
 * Locks and elections across real processes on a 3-member cluster of
 * `tessera start` processes: contenders are `test/fixtures/lock-worker.ts`
 * processes (the recipes) and `tessera lock` / `tessera elect` (the CLI),
 * paused with SIGSTOP and killed with SIGKILL by PID.
 *
 * Mutual exclusion is checked from what the holders record, not from
 * timing: each critical section appends `start`/`end` lines stamped with
 * the monotonic clock every process on the machine shares, and a counter
 * file is read, then written one higher, inside it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RecordingLogger } from '../src/base/logger.ts';
import { EXIT_CODE_SESSION_LOST, exitCodeOf } from '../src/cli/coord-commands.ts';
import { type Client, connect, text } from '../src/client/index.ts';
import { Election } from '../src/coord/election.ts';
import type { LockWorkerOptions } from './fixtures/lock-worker.ts';
import { TestCluster } from './helpers/cluster.ts';

const BIN = new URL('../bin/tessera.js', import.meta.url).pathname;
const WORKER = new URL('./fixtures/lock-worker.ts', import.meta.url).pathname;
/** The session TTL of the contenders, in seconds: the cluster's minimum with the test tick settings (counting workers get one more, for a loaded machine). */
const TTL_SECONDS = 2;
/** How long a lock may take to move on from a dead holder before the test fails: generous, not a latency claim. */
const HANDOVER_MS_MAX = TTL_SECONDS * 4_000;

let cluster: TestCluster;
let client: Client;
let scratch: string;
const processes = new Set<Spawned>();

/** A spawned process: its stdout lines, its stderr, and its exit. */
class Spawned {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];

  constructor(args: string[]) {
    this.child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    processes.add(this);
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    this.child.stderr?.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 100_000) this.stderr += chunk.toString();
    });
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      this.lines.push(line);
      for (const waiter of this.#waiters.filter((w) => w.match(line))) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    });
  }

  get pid(): number {
    const pid = this.child.pid;
    assert.ok(pid !== undefined, 'the process has a pid');
    return pid;
  }

  /** The JSON objects printed so far. */
  get objects(): Record<string, unknown>[] {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /** The first stdout line, printed or to come, that `match` accepts. */
  line(match: (line: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`pid ${this.child.pid}: no ${what} in ${timeoutMs} ms; stderr:\n${this.stderr}`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** The first printed JSON object with `event`. */
  async event(event: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const line = await this.line((l) => l.includes(`"event":"${event}"`), timeoutMs, `${event} line`);
    return JSON.parse(line) as Record<string, unknown>;
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  signal(signal: NodeJS.Signals): void {
    process.kill(this.pid, signal);
  }

  /** Its exit code (128 + N when signal N killed it), within `timeoutMs`. */
  async exitCode(timeoutMs: number): Promise<number> {
    const timeout = new AbortController();
    try {
      const exit = await Promise.race([
        this.exited,
        sleep(timeoutMs, undefined, { signal: timeout.signal }).then(() => {
          throw new Error(`pid ${this.child.pid} did not exit in ${timeoutMs} ms; stderr:\n${this.stderr}`);
        }),
      ]);
      return exitCodeOf(exit.code, exit.signal);
    } finally {
      timeout.abort();
    }
  }
}

function worker(options: LockWorkerOptions): Spawned {
  return new Spawned(['--import', 'tsx', WORKER, JSON.stringify(options)]);
}

/** Runs `tessera COMMAND ARGS...` against the cluster (the endpoints go before ARGS, which may hold `-- CMD`). */
function tessera(command: string, ...args: string[]): Spawned {
  return new Spawned([BIN, command, '--endpoints', cluster.endpoints.join(','), ...args]);
}

async function keysUnder(prefix: string): Promise<string[]> {
  const { kvs } = await client.kv.range({ prefix });
  return kvs.map((kv) => text(kv.key));
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Not ${what} within ${timeoutMs} ms`);
    await sleep(25);
  }
}

interface Section {
  readonly token: number;
  readonly pid: number;
  readonly start: bigint;
  /** Undefined when the holder lost its session before writing (it wrote nothing). */
  readonly end: bigint | undefined;
}

/** The critical sections of the logs: `start` lines, each closed by the next `end` or `abort` line of its process. */
function sectionsOf(logFiles: string[]): Section[] {
  const sections: Section[] = [];
  for (const file of logFiles) {
    let open: { token: number; pid: number; start: bigint } | undefined;
    for (const line of readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '')) {
      const [kind, token, pid, time] = line.split(' ');
      const at = BigInt(time ?? '');
      if (kind === 'start') {
        assert.equal(open, undefined, `${file}: a start before the previous section ended`);
        open = { token: Number(token), pid: Number(pid), start: at };
      } else {
        assert.ok(open !== undefined && open.token === Number(token), `${file}: ${line} closes no section`);
        sections.push({ ...open, end: kind === 'end' ? at : undefined });
        open = undefined;
      }
    }
    assert.equal(open, undefined, `${file}: a section never ended`);
  }
  return sections.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

/**
 * Mutual exclusion from the records: sorted by start, each section that
 * wrote began after the previous one that wrote ended, and the tokens grow
 * in grant order. Returns how many sections wrote.
 */
function assertExclusive(sections: Section[]): number {
  let previousEnd = -1n;
  let previousToken = 0;
  let wrote = 0;
  for (const section of sections) {
    assert.ok(
      section.token > previousToken,
      `token ${section.token} (pid ${section.pid}) granted after token ${previousToken}`,
    );
    previousToken = section.token;
    if (section.end === undefined) continue;
    assert.ok(
      section.start > previousEnd,
      `section of token ${section.token} (pid ${section.pid}) began before the previous one ended`,
    );
    previousEnd = section.end;
    wrote++;
  }
  return wrote;
}

/** Runs `workers` counting workers of `iterations` each on lock `name`; `during` runs while they do. */
async function countUnderLock(
  name: string,
  workers: number,
  iterations: number,
  during: (counterFile: string) => Promise<void> = async () => {},
): Promise<string> {
  const counterFile = join(scratch, `${name}.counter`);
  writeFileSync(counterFile, '0');
  const logFiles = Array.from({ length: workers }, (_, i) => join(scratch, `${name}.${i}.log`));
  for (const file of logFiles) writeFileSync(file, '');
  const spawned = logFiles.map((logFile) =>
    worker({
      mode: 'count',
      endpoints: cluster.endpoints,
      name,
      ttl: TTL_SECONDS + 1,
      iterations,
      counterFile,
      logFile,
    }),
  );
  await during(counterFile);
  let failures = 0;
  let aborted = 0;
  for (const contender of spawned) {
    assert.equal(await contender.exitCode(60_000), 0, `worker ${contender.pid} failed:\n${contender.stderr}`);
    const done = await contender.event('done', 0);
    assert.equal(done['sections'], iterations);
    failures += done['failures'] as number;
    aborted += done['aborted'] as number;
  }
  const wrote = assertExclusive(sectionsOf(logFiles));
  assert.equal(wrote, workers * iterations);
  assert.equal(Number(readFileSync(counterFile, 'utf8')), workers * iterations);
  assert.deepEqual(await keysUnder(`${name}/`), []);
  return `${workers * iterations} sections; ${failures} failed attempts retried, ${aborted} sections abandoned with their session`;
}

describe('locks and elections across processes', { timeout: 150_000 }, () => {
  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'tessera-coord-'));
    cluster = await TestCluster.create(3);
    await cluster.startAll();
    await cluster.leader();
    client = await connect({
      endpoints: cluster.endpoints,
      timeoutMs: 10_000,
      logger: new RecordingLogger(),
    });
  });

  after(async () => {
    for (const spawned of processes) {
      if (spawned.child.exitCode !== null || spawned.child.signalCode !== null) continue;
      spawned.child.kill('SIGCONT');
      spawned.child.kill('SIGKILL');
      await spawned.exited;
    }
    client?.close();
    await cluster?.destroy();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('8 processes × 50 critical sections: the counter ends at 400, no two sections overlap, tokens grow', {
    timeout: 80_000,
  }, async (t) => {
    t.diagnostic(await countUnderLock('counter', 8, 50));
  });

  it('tessera lock: holds and prints key and token; -- CMD waits, runs with the lock env, passes its exit code, releases', {
    timeout: 40_000,
  }, async () => {
    const holder = tessera('lock', 'cli', '--ttl', String(TTL_SECONDS), '--json');
    const held = JSON.parse(await holder.line(() => true, 15_000, 'grant line')) as {
      key: string;
      token: number;
      lease: string;
    };
    assert.equal(held.key, `cli/${held.lease}`);
    assert.equal((await client.kv.get(held.key))?.createRevision, held.token);
    await client.kv.put('cli-data', 'by holder', { fence: { lock: 'cli', token: held.token } });

    const print =
      'const e = process.env; console.log(JSON.stringify({ name: e.TESSERA_LOCK_NAME, key: e.TESSERA_LOCK_KEY, token: e.TESSERA_LOCK_TOKEN })); process.exit(7)';
    const runner = tessera('lock', 'cli', '--ttl', String(TTL_SECONDS), '--', process.execPath, '-e', print);
    await waitFor(async () => (await keysUnder('cli/')).length === 2, 15_000, 'queued behind the holder');
    assert.deepEqual(runner.lines, [], 'the command does not run while the lock is held');

    holder.signal('SIGINT');
    assert.equal(await holder.exitCode(10_000), 0);
    assert.equal(await runner.exitCode(15_000), 7);
    const env = JSON.parse(runner.lines[0] ?? '') as { name: string; key: string; token: string };
    assert.equal(env.name, 'cli');
    assert.match(env.key, /^cli\/[0-9a-f]+$/);
    assert.ok(Number(env.token) > held.token, `token ${env.token} after ${held.token}`);
    assert.deepEqual(await keysUnder('cli/'), []);
    for (const key of [held.key, env.key]) {
      const lease = Number.parseInt(key.slice('cli/'.length), 16);
      assert.equal((await client.lease.timeToLive(lease)).ttl, -1, `lease of ${key} revoked`);
    }
  });

  it('tessera lock -- CMD: when the session is lost, CMD gets SIGTERM and tessera exits 75; bad usage exits 2', {
    timeout: 40_000,
  }, async () => {
    const program =
      "process.on('SIGTERM', () => { console.log('SIGTERM'); process.exit(0); }); console.log(process.env.TESSERA_LOCK_KEY); setInterval(() => {}, 1000)";
    const runner = tessera(
      'lock',
      'lost',
      '--ttl',
      String(TTL_SECONDS),
      '--',
      process.execPath,
      '-e',
      program,
    );
    const key = await runner.line((l) => l.startsWith('lost/'), 15_000, 'lock key');
    await client.lease.revoke(Number.parseInt(key.slice('lost/'.length), 16));
    assert.equal(await runner.exitCode(15_000), EXIT_CODE_SESSION_LOST);
    assert.ok(runner.lines.includes('SIGTERM'), `the command was stopped: ${runner.lines.join('|')}`);
    assert.match(runner.stderr, /lock lost\/[0-9a-f]+ is no longer held: the session was lost/);

    const bad = tessera('lock', 'lost', '--ttl', '0', '--', process.execPath, '-e', 'process.exit(0)');
    assert.equal(await bad.exitCode(15_000), 2);
    assert.match(bad.stderr, /--ttl must be a whole number of seconds >= 1, got "0"/);
    assert.deepEqual(await keysUnder('lost/'), []);
  });

  it('a holder paused with SIGSTOP past its TTL loses the lock; resumed, its fenced write is refused with FENCED', {
    timeout: 40_000,
  }, async () => {
    const hold = { mode: 'hold', endpoints: cluster.endpoints, name: 'paused', ttl: TTL_SECONDS } as const;
    const first = worker(hold);
    const firstToken = (await first.event('locked', 15_000))['token'] as number;
    first.signal('SIGSTOP');
    const second = worker(hold);
    const secondToken = (await second.event('locked', 15_000 + HANDOVER_MS_MAX))['token'] as number;
    assert.ok(secondToken > firstToken);
    second.send('write paused-data second');
    assert.equal((await second.event('wrote', 10_000))['value'], 'second');

    first.signal('SIGCONT');
    first.send('write paused-data first');
    const refused = await first.event('refused', 10_000);
    assert.equal(refused['code'], 'FENCED');
    assert.deepEqual(refused['details'], { token: firstToken, holderToken: secondToken });
    assert.equal(text((await client.kv.get('paused-data'))?.value ?? new Uint8Array()), 'second');
    second.send('release');
    first.send('release');
    assert.equal(await second.exitCode(10_000), 0);
    assert.equal(await first.exitCode(10_000), 0);
  });

  it('a holder killed with SIGKILL: its lease expires and the waiter is granted the lock', {
    timeout: 40_000,
  }, async () => {
    const hold = { mode: 'hold', endpoints: cluster.endpoints, name: 'killed', ttl: TTL_SECONDS } as const;
    const first = worker(hold);
    const locked = await first.event('locked', 15_000);
    const second = worker(hold);
    await waitFor(async () => (await keysUnder('killed/')).length === 2, 15_000, 'queued behind the holder');
    const killedAt = Date.now();
    first.signal('SIGKILL');
    const granted = await second.event('locked', HANDOVER_MS_MAX);
    const handoverMs = Date.now() - killedAt;
    assert.ok(handoverMs < HANDOVER_MS_MAX, `granted ${handoverMs} ms after the kill`);
    assert.ok((granted['token'] as number) > (locked['token'] as number));
    assert.equal((await client.lease.timeToLive(locked['lease'] as number)).ttl, -1);
    second.send('release');
    assert.equal(await second.exitCode(10_000), 0);
  });

  it('election: the leader process killed, exactly one successor (the next in line); every observer saw each change in order', {
    timeout: 60_000,
  }, async () => {
    const candidates: Spawned[] = [];
    for (const [index, proposal] of ['c1', 'c2', 'c3'].entries()) {
      candidates.push(tessera('elect', 'election', proposal, '--ttl', String(TTL_SECONDS), '--json'));
      // One at a time, so the queue order, and so the successor, is known.
      await waitFor(
        async () => (await keysUnder('election/')).length === index + 1,
        15_000,
        `${proposal} queued`,
      );
    }
    const [first, second, third] = candidates as [Spawned, Spawned, Spawned];
    const observer = tessera('elect', 'election', '--listen', '--json');
    const isLeader = (value: string) => (line: string) =>
      (JSON.parse(line) as { value: string }).value === value;
    await observer.line(isLeader('c1'), 15_000, 'c1 leading');

    const killedAt = Date.now();
    first.signal('SIGKILL');
    await observer.line(isLeader('c2'), HANDOVER_MS_MAX, 'c2 leading');
    const successionMs = Date.now() - killedAt;
    assert.ok(successionMs < HANDOVER_MS_MAX, `succeeded ${successionMs} ms after the kill`);
    for (const candidate of [second, third]) await candidate.line(isLeader('c2'), 10_000, 'c2 leading');
    // Quiet for a TTL: no second change follows the succession.
    await sleep(TTL_SECONDS * 1_000);
    assert.equal(text((await Election.leader(client, 'election')).value), 'c2');
    for (const watcher of [observer, second, third]) {
      const seen = watcher.objects as { value: string; revision: number; key: string; lease: string }[];
      assert.deepEqual(
        seen.map((leader) => leader.value),
        ['c1', 'c2'],
      );
      assert.ok((seen[1]?.revision ?? 0) > (seen[0]?.revision ?? 0), 'create revisions grow');
      for (const leader of seen) assert.equal(leader.key, `election/${leader.lease}`);
    }

    // Interrupted, the leader resigns and the observer stops (exit 0); the waiting candidate gives up (128 + SIGINT).
    for (const [watcher, code] of [
      [observer, 0],
      [third, 130],
      [second, 0],
    ] as const) {
      watcher.signal('SIGINT');
      assert.equal(await watcher.exitCode(10_000), code);
    }
    assert.deepEqual(await keysUnder('election/'), []);
  });

  it('the Raft leader killed while locks are held and waited on: still exclusive, the counter still exact', {
    timeout: 80_000,
  }, async (t) => {
    const summary = await countUnderLock('failover', 4, 30, async (counterFile) => {
      await waitFor(async () => Number(readFileSync(counterFile, 'utf8')) >= 10, 40_000, 'at 10');
      await cluster.kill(await cluster.leader());
      const atKill = Number(readFileSync(counterFile, 'utf8'));
      assert.ok(atKill < 120, `the leader died mid-run (at ${atKill} of 120)`);
    });
    t.diagnostic(summary);
  });
});
