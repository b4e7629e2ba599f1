/**
 * The floor of one replicated durable write on this machine, for
 * `npm run bench -- kv`: three processes on loopback and nothing else. A
 * client sends 100 bytes to a leader; the leader sends them to two
 * followers and writes and fdatasyncs them itself (a preallocated file, as
 * a WAL segment is); each follower writes, fdatasyncs and acknowledges; the
 * leader answers once its own sync and one follower's acknowledgement are
 * in. No consensus, no state machine, no encoding: what is left is the
 * hops (client → leader → follower → leader → client) and the syncs, so a
 * member's single-client put cannot be faster than this on the same disk
 * and cores.
 *
 * Run as a script (`node --import tsx bench/replication-floor.ts <role>`)
 * for the leader and follower processes; {@link replicationFloor} starts
 * them and is the client.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fdatasync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zeroFill } from '../src/storage/files.ts';
import { percentile } from './report.ts';

/** Bytes of each write. */
const RECORD_BYTES = 100;
/** Bytes preallocated in each process's file. */
const FILE_BYTES = 16 * 1024 * 1024;
/** Round trips before the measured ones. */
const WARMUP_WRITES = 500;

/** What {@link replicationFloor} measured. */
export interface FloorResult {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly opsPerSecond: number;
}

/** Calls `onLine` with each newline-terminated line `socket` receives. */
function onLines(socket: Socket, onLine: (line: string) => void): void {
  socket.setNoDelay(true);
  let buffered = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
      onLine(buffered.slice(0, end));
      buffered = buffered.slice(end + 1);
    }
  });
}

/** A durable append: write at the next offset of a preallocated file, then fdatasync. */
async function appender(path: string): Promise<(done: () => void) => void> {
  // Closed when the process is killed (replicationFloor stops it by PID).
  const handle = await open(path, 'w+');
  await zeroFill(handle, 0, FILE_BYTES);
  await handle.datasync();
  const record = Buffer.alloc(RECORD_BYTES, 0x61);
  let position = 0;
  return (done) => {
    // Written synchronously, as the WAL writes; synced on libuv's pool, as the WAL syncs.
    writeSync(handle.fd, record, 0, RECORD_BYTES, position);
    position = (position + RECORD_BYTES) % (FILE_BYTES - RECORD_BYTES);
    fdatasync(handle.fd, (error) => {
      if (error !== null) throw error;
      done();
    });
  };
}

/** Listens on loopback and reports the port to the parent. */
function serve(onConnection: (socket: Socket) => void): void {
  const server = createServer(onConnection);
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.(typeof address === 'object' && address !== null ? address.port : 0);
  });
}

async function runFollower(dir: string): Promise<void> {
  const append = await appender(join(dir, `follower-${process.pid}`));
  serve((socket) => onLines(socket, (id) => append(() => socket.write(`${id}\n`))));
}

async function runLeader(dir: string, followerPorts: readonly number[]): Promise<void> {
  const append = await appender(join(dir, 'leader'));
  const followers = followerPorts.map((port) => createConnection(port, '127.0.0.1'));
  const pending = new Map<string, { client: Socket; synced: boolean; acks: number }>();
  const answerIfDone = (id: string): void => {
    const write = pending.get(id);
    if (write === undefined || !write.synced || write.acks < 1) return;
    pending.delete(id);
    write.client.write(`${id}\n`);
  };
  for (const follower of followers) {
    onLines(follower, (id) => {
      const write = pending.get(id);
      if (write === undefined) return;
      write.acks++;
      answerIfDone(id);
    });
  }
  serve((client) =>
    onLines(client, (id) => {
      pending.set(id, { client, synced: false, acks: 0 });
      for (const follower of followers) follower.write(`${id}\n`);
      append(() => {
        const write = pending.get(id);
        if (write === undefined) return;
        write.synced = true;
        answerIfDone(id);
      });
    }),
  );
}

/** Starts this script as `role` and resolves with the port it listens on. */
function start(role: string, args: string[], children: ChildProcess[]): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), role, ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('message', (port) => resolve(Number(port)));
    child.once('exit', (code) => reject(new Error(`The floor's ${role} exited (${code}) before listening`)));
  });
}

/**
 * Measures single-client replicated writes for `durationMs`, the three
 * processes' files in `dir` (on the disk under test). The processes are
 * stopped by PID however it ends.
 */
export async function replicationFloor(dir: string, durationMs: number): Promise<FloorResult> {
  const children: ChildProcess[] = [];
  try {
    const followers = await Promise.all([
      start('follower', [dir], children),
      start('follower', [dir], children),
    ]);
    const leader = await start('leader', [dir, JSON.stringify(followers)], children);
    const socket = createConnection(leader, '127.0.0.1');
    let answered: (() => void) | undefined;
    onLines(socket, () => answered?.());
    let next = 0;
    const roundTrip = (): Promise<void> =>
      new Promise((resolve) => {
        answered = resolve;
        socket.write(`${next++}\n`);
      });
    for (let i = 0; i < WARMUP_WRITES; i++) await roundTrip();
    const latencies: number[] = [];
    const begin = performance.now();
    while (performance.now() - begin < durationMs) {
      const sent = performance.now();
      await roundTrip();
      latencies.push(performance.now() - sent);
    }
    const elapsed = performance.now() - begin;
    socket.destroy();
    const sorted = Float64Array.from(latencies).sort();
    return {
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      opsPerSecond: latencies.length / (elapsed / 1000),
    };
  } finally {
    for (const child of children)
      if (child.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [role, dir, followerPorts] = process.argv.slice(2);
  if (role === 'follower' && dir !== undefined) await runFollower(dir);
  else if (role === 'leader' && dir !== undefined && followerPorts !== undefined) {
    await runLeader(dir, JSON.parse(followerPorts) as number[]);
  } else throw new Error(`Unknown role ${role}: this script is started by replicationFloor()`);
}
