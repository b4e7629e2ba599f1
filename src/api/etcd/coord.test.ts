/**
 * `v3lockpb.Lock` and `v3electionpb.Election` on a 3-member cluster of
 * `tessera start` processes. Neither etcdctl nor the etcd3 client calls
 * these services (both run the recipes client-side, over KV, Lease and
 * Watch), so they are called here as etcd's Go stubs call them: a gRPC
 * client built from the same protocol definitions. etcdctl's own `lock`
 * and `elect` run against the cluster too, as users run them. Skipped,
 * saying so, where etcdctl is not installed (the cluster is shared).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { type Client, type ClientReadableStream, type ServiceError, status } from '@grpc/grpc-js';
import type { TestCluster } from '../../../test/helpers/cluster.ts';
import {
  call,
  ETCDCTL_ENV,
  ETCDCTL_INSTALLED,
  ETCDCTL_MISSING,
  serviceClient,
  startEtcdCluster,
  stubOf,
} from './etcd-cluster.suite.ts';
import { etcdctlRunner } from './etcdctl-runner.suite.ts';

/** A LeaderKey as decoded (ints as decimal strings, bytes as Buffers). */
interface LeaderKey {
  readonly name: Buffer;
  readonly key: Buffer;
  readonly rev: string;
  readonly lease: string;
}

/** Whether `promise` is still pending after `ms`. */
async function pendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const pending = Symbol('pending');
  const timer = new Promise((resolve) => setTimeout(() => resolve(pending), ms));
  return (
    (await Promise.race([
      promise.then(
        () => 'settled',
        () => 'settled',
      ),
      timer,
    ])) === pending
  );
}

/** Rejects with the gRPC error of `promise`, or fails when it resolves. */
async function grpcError(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  assert.fail('expected the call to fail');
}

describe('lockService and electionService', { timeout: 180_000 }, () => {
  let cluster: TestCluster | undefined;
  const clients: Client[] = [];
  const etcdctl = etcdctlRunner(() => cluster?.etcdEndpoints ?? []);
  /** A client of `service` on member `index`'s etcd port. */
  const client = (service: string, index = 0): Client => {
    const made = serviceClient(service, (cluster as TestCluster).members[index]?.etcd as string);
    clients.push(made);
    return made;
  };
  /** A 60-second lease (long enough for a test; nobody keeps it alive). */
  const grant = async (): Promise<string> =>
    (await call<{ ID: string }>(client('etcdserverpb.Lease'), 'LeaseGrant', { TTL: 60 })).ID;
  const leaseHex = (id: string) => BigInt(id).toString(16);

  before(async () => {
    if (!ETCDCTL_INSTALLED) return;
    cluster = await startEtcdCluster();
  });

  after(async () => {
    for (const made of clients) made.close();
    await cluster?.destroy();
  });

  it('Lock: the first caller holds NAME/<lease hex>; a second waits until Unlock, then holds its own', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    const [first, second] = [await grant(), await grant()];
    const lock = client('v3lockpb.Lock');
    const held = await call<{ key: Buffer; header: { revision: string } }>(lock, 'Lock', {
      name: Buffer.from('job'),
      lease: first,
    });
    assert.equal(held.key.toString(), `job/${leaseHex(first)}`);
    assert.ok(Number(held.header.revision) > 1, 'the header is at least the lock key’s revision');
    // The second caller, on another member, waits while the first holds the lock.
    const next = call<{ key: Buffer }>(client('v3lockpb.Lock', 1), 'Lock', {
      name: Buffer.from('job'),
      lease: second,
    });
    assert.ok(await pendingAfter(next, 500), 'the second Lock waits');
    await call(lock, 'Unlock', { key: held.key });
    assert.equal((await next).key.toString(), `job/${leaseHex(second)}`);
    const noLease = await grpcError(call(lock, 'Lock', { name: Buffer.from('job'), lease: 0 }));
    assert.equal(noLease.code, status.INVALID_ARGUMENT);
  });

  it('Election: campaign, leader, proclaim, observe; a second candidate leads once the first resigns', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    const [first, second] = [await grant(), await grant()];
    const election = client('v3electionpb.Election');
    const name = Buffer.from('svc');
    const { leader } = await call<{ leader: LeaderKey }>(election, 'Campaign', {
      name,
      lease: first,
      value: Buffer.from('a'),
    });
    assert.equal(leader.name.toString(), 'svc');
    assert.equal(leader.key.toString(), `svc/${leaseHex(first)}`);
    assert.equal(leader.lease, first);
    const leaderValue = async () =>
      (await call<{ kv: { value: Buffer } }>(election, 'Leader', { name })).kv.value.toString();
    assert.equal(await leaderValue(), 'a');

    const observe = stubOf<(request: object) => ClientReadableStream<{ kv: { value: Buffer } }>>(
      election,
      'Observe',
    )({ name });
    const seen: string[] = [];
    const waiters: (() => void)[] = [];
    let failed: ServiceError | undefined;
    observe.on('error', (error: ServiceError) => {
      if (error.code !== status.CANCELLED) failed = error;
    });
    observe.on('data', (response: { kv: { value: Buffer } }) => {
      seen.push(response.kv.value.toString());
      for (const wake of waiters.splice(0)) wake();
    });
    /** Resolves once the stream has shown `count` leaders; fails the test after 10 s. */
    const observed = async (count: number) => {
      const deadline = Date.now() + 10_000;
      while (seen.length < count) {
        assert.equal(failed, undefined);
        assert.ok(Date.now() < deadline, `Observe showed ${JSON.stringify(seen)}, not ${count} leaders`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
    };
    // The stream starts with the current leader: once it is shown, the stream sees every change after it.
    await observed(1);

    await call(election, 'Proclaim', { leader, value: Buffer.from('b') });
    assert.equal(await leaderValue(), 'b');
    const campaign = call<{ leader: LeaderKey }>(client('v3electionpb.Election', 2), 'Campaign', {
      name,
      lease: second,
      value: Buffer.from('c'),
    });
    assert.ok(await pendingAfter(campaign, 500), 'the second candidate waits');
    await call(election, 'Resign', { leader });
    assert.equal((await campaign).leader.key.toString(), `svc/${leaseHex(second)}`);
    await observed(3);
    assert.deepEqual(seen, ['a', 'b', 'c']);
    observe.cancel();

    const stale = await grpcError(call(election, 'Proclaim', { leader, value: Buffer.from('late') }));
    assert.deepEqual([stale.code, stale.details], [status.UNKNOWN, 'election: not leader']);
    const nobody = await grpcError(call(election, 'Leader', { name: Buffer.from('nobody') }));
    assert.deepEqual([nobody.code, nobody.details], [status.UNKNOWN, 'election: no leader']);
  });

  it('etcdctl lock NAME -- CMD runs the command while holding the lock, with ETCD_LOCK_KEY set', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    const run = await etcdctl.run(['lock', 'tool', '--', 'sh', '-c', 'echo "held $ETCD_LOCK_KEY"']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^held tool\/[0-9a-f]+\n$/);
  });

  it('etcdctl elect NAME VALUE campaigns and prints the leader; elect -l NAME shows it', async (t) => {
    if (!ETCDCTL_INSTALLED) return t.skip(ETCDCTL_MISSING);
    const endpoints = (cluster as TestCluster).etcdEndpoints.join(',');
    const etcdctlProcess = (args: string[]) =>
      spawn('etcdctl', ['--endpoints', endpoints, ...args], {
        env: ETCDCTL_ENV,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    const printed = (child: ReturnType<typeof etcdctlProcess>, pattern: RegExp) =>
      new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`no ${pattern} within 15 s: ${out}`)), 15_000);
        child.stdout?.on('data', (data: Buffer) => {
          out += data.toString();
          if (pattern.test(out)) {
            clearTimeout(timer);
            resolve(out);
          }
        });
      });
    const campaigner = etcdctlProcess(['elect', 'chief', 'hello']);
    const listeners: ReturnType<typeof etcdctlProcess>[] = [];
    try {
      assert.match(await printed(campaigner, /\n.*hello\n/), /^chief\/[0-9a-f]+\nhello\n$/);
      // Started once there is a leader: its first answer is a read (waiting for a first candidate would watch).
      const listener = etcdctlProcess(['elect', '-l', 'chief']);
      listeners.push(listener);
      assert.match(await printed(listener, /hello\n/), /^chief\/[0-9a-f]+\nhello\n/);
    } finally {
      campaigner.kill('SIGINT');
      for (const listener of listeners) listener.kill('SIGKILL');
    }
  });
});
