/**
 * The two clusters the etcdctl comparison runs against, side by side: a
 * 3-member `tessera dev` (as a user starts it) and a 3-member real etcd
 * (`test/helpers/etcd-server.ts`), each seen as a {@link ComparedSide}: its
 * members' etcd-API and peer addresses, ids and cluster id (what the
 * normalizer turns into placeholders) and the variables the script
 * captured on it. Not part of the build (`*.suite.ts`).
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { memberNameForPeer } from '../../src/api/etcd/cluster-service.ts';
import { isProcessAlive } from '../../src/base/process.ts';
import type { DevMember } from '../../src/cli/dev.ts';
import { memberIdOf } from '../../src/server/member.ts';
import { freePortBlock } from '../helpers/cluster.ts';
import { EtcdCluster } from '../helpers/etcd-server.ts';
import { ETCDCTL_WAIT_MS, EtcdctlProcess } from './etcdctl-process.suite.ts';

const BIN = new URL('../../bin/tessera.js', import.meta.url).pathname;
/** How long `tessera dev` may take to print its JSON line (it waits for a leader itself). */
const DEV_READY_TIMEOUT_MS = 40_000;
/** How long `tessera dev` may take to stop its members on SIGINT before they are killed. */
const DEV_STOP_TIMEOUT_MS = 10_000;
/** stderr lines of `tessera dev` (its members' logs) kept for a failure message. */
const DEV_LOG_LINES_MAX = 200;

/** Ports searched for the learner's peer address (below Linux's ephemeral range, as the test helpers'). */
const LEARNER_PORT_LOW = 20_000;
const LEARNER_PORT_HIGH = 32_000;

/** Which cluster a side is. */
export type SideName = 'etcd' | 'tessera';

/** One member as the normalizer sees it. */
export interface SideMember {
  /** `n1`, `n2`, `n3` on both sides. */
  readonly name: string;
  /** etcd's v3 API address `host:port` (etcd's client port, Tessera's `--listen-etcd`). */
  readonly client: string;
  readonly peer: string;
  readonly id: bigint;
}

/** A cluster under comparison, with what the script captured on it. */
export interface ComparedSide {
  readonly name: SideName;
  readonly members: readonly SideMember[];
  readonly clusterId: bigint;
  /** A directory of this side's own for files (snapshots); removed with the side. */
  readonly scratch: string;
  /** Values captured by the script's steps (lease ids, member ids), by name. */
  readonly vars: Map<string, string>;
  /** When the cluster was up (`Date.now()`): etcd takes no reconfiguration in its first seconds. */
  readonly upSinceMs: number;
}

/** A started cluster: its side and how to stop it. */
export interface RunningSide {
  readonly side: ComparedSide;
  /** Stops every process of the cluster (by PID) and removes its data and scratch directory. */
  stop(): Promise<void>;
}

/**
 * Reads the cluster id and member ids with `etcdctl member list -w json`
 * (as text: they pass 2^53, so JSON numbers would round them).
 */
async function describeSide(
  name: SideName,
  addresses: readonly { name: string; client: string; peer: string }[],
): Promise<ComparedSide> {
  const listed = new EtcdctlProcess(
    ['member', 'list', '-w', 'json'],
    addresses.map((m) => m.client),
  );
  await listed.finish('exit', ETCDCTL_WAIT_MS);
  const clusterId = /"cluster_id":(\d+)/.exec(listed.stdout)?.[1];
  const ids = new Map([...listed.stdout.matchAll(/"ID":(\d+),"name":"([^"]+)"/g)].map((m) => [m[2], m[1]]));
  const members = addresses.map((member) => {
    const id = ids.get(member.name);
    if (id === undefined) throw new Error(`${name}: no member ${member.name} in ${listed.stdout}`);
    return { ...member, id: BigInt(id) };
  });
  if (clusterId === undefined) throw new Error(`${name}: no cluster id in ${listed.stdout}${listed.stderr}`);
  const scratch = mkdtempSync(join(tmpdir(), `tessera-etcdctl-${name}-`));
  const vars = new Map([['scratch', scratch]]);
  return { name, members, clusterId: BigInt(clusterId), scratch, vars, upSinceMs: Date.now() };
}

/** Starts a 3-member etcd cluster whose members are named `n1`..`n3`, like `tessera dev`'s. */
export async function startEtcdSide(): Promise<RunningSide> {
  const cluster = await EtcdCluster.start({ namePrefix: 'n' });
  try {
    const side = await describeSide('etcd', cluster.members);
    return {
      side,
      stop: async () => {
        await cluster.stop();
        rmSync(side.scratch, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/** Resolves with the first stdout line of `child`; rejects when it exits first or after `timeoutMs`. */
function firstLine(child: ChildProcess, timeoutMs: number, logs: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`tessera dev printed nothing in ${timeoutMs} ms:\n${logs.join('\n')}`)),
      timeoutMs,
    );
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`tessera dev exited (${signal ?? code}) before it was ready:\n${logs.join('\n')}`));
    });
  });
}

/** SIGINTs `tessera dev` (it stops its members), then SIGKILLs whatever of it is left, by PID. */
async function stopDev(child: ChildProcess, members: readonly DevMember[]): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGINT');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      exited,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, DEV_STOP_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    child.kill('SIGKILL');
  }
  for (const member of members)
    if (member.pid > 0 && isProcessAlive(member.pid)) process.kill(member.pid, 'SIGKILL');
}

/**
 * Starts `tessera dev --nodes 3 --json` (member i takes the ports base+10i:
 * client, +1 peer, +2 HTTP, +3 etcd gRPC) and resolves once it printed its
 * members, which it does once they agree on a leader.
 */
export async function startTesseraSide(): Promise<RunningSide> {
  const data = mkdtempSync(join(tmpdir(), 'tessera-etcdctl-dev-'));
  const basePort = await freePortBlock([0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]);
  const child = spawn(
    process.execPath,
    [BIN, 'dev', '--nodes', '3', '--data', data, '--base-port', String(basePort), '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logs: string[] = [];
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    if (logs.length < DEV_LOG_LINES_MAX) logs.push(line);
  });
  let members: DevMember[] = [];
  let side: ComparedSide | undefined;
  const stop = async (): Promise<void> => {
    await stopDev(child, members);
    rmSync(data, { recursive: true, force: true });
    if (side !== undefined) rmSync(side.scratch, { recursive: true, force: true });
  };
  try {
    members = (JSON.parse(await firstLine(child, DEV_READY_TIMEOUT_MS, logs)) as { nodes: DevMember[] })
      .nodes;
    side = await describeSide(
      'tessera',
      members.map((m) => ({ name: m.name, client: m.etcd, peer: m.peer })),
    );
    return { side, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Whether nothing listens on `port` of the loopback address now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A peer URL nobody serves, for the learner the script adds and never
 * starts, picked so that the id Tessera gives that learner (from its name,
 * `peer-127.0.0.1-PORT`) is below every founding member's: etcd lists
 * members in id order, so the listing after the add shows whether Tessera
 * does too, whatever the run.
 *
 * @throws {Error} when no port in the searched range qualifies.
 */
export async function learnerPeerUrl(tessera: ComparedSide): Promise<string> {
  // Tessera's member ids are 48-bit: exact as numbers.
  const lowest = Math.min(...tessera.members.map((member) => Number(member.id)));
  for (let port = LEARNER_PORT_LOW; port < LEARNER_PORT_HIGH; port++) {
    const id = memberIdOf(memberNameForPeer(`127.0.0.1:${port}`));
    if (id < lowest && (await portFree(port))) return `http://127.0.0.1:${port}`;
  }
  throw new Error(`No port in ${LEARNER_PORT_LOW}-${LEARNER_PORT_HIGH} gives a learner id below ${lowest}`);
}
