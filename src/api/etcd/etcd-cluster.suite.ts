/**
 * What the etcd front door's tests share: a started 3-member cluster of
 * real `tessera start` processes serving etcd's API, clients of the
 * `etcd3` npm package pointed at one member, raw gRPC clients of one
 * service (no retries: what a call answers is what the test sees), and whether `etcdctl` (etcd's
 * own command, v3 API) is installed. Not part of the build (`*.suite.ts`).
 *
 * @module
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  type Client,
  credentials,
  type GrpcObject,
  loadPackageDefinition,
  type ServiceClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import { TestCluster, type TestMember } from '../../../test/helpers/cluster.ts';
import { etcdPackageDefinition } from './proto.ts';

/** The environment etcdctl runs in: the v3 API (etcdctl 3.4 defaults to it, older ones do not). */
export const ETCDCTL_ENV: NodeJS.ProcessEnv = { ...process.env, ETCDCTL_API: '3' };

/** Whether `etcdctl` can be run (Debian: `etcd-client`); tests without it skip, saying so. */
export const ETCDCTL_INSTALLED = spawnSync('etcdctl', ['version'], { env: ETCDCTL_ENV }).error === undefined;

/** The reason tests that need etcdctl give when it is missing. */
export const ETCDCTL_MISSING = 'etcdctl not installed (Debian: apt-get install etcd-client)';

/**
 * Creates and starts a 3-member cluster whose members serve etcd's v3 API
 * (`member.etcd`), and waits for a leader. Destroy it with `destroy()`.
 *
 * @example
 * ```ts
 * before(async () => { cluster = await startEtcdCluster(); });
 * after(() => cluster?.destroy());
 * ```
 */
export async function startEtcdCluster(): Promise<TestCluster> {
  const cluster = await TestCluster.create(3, [], { etcd: true });
  try {
    await cluster.startAll();
    await cluster.waitForLeader();
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
  return cluster;
}

/** An `etcd3` client of one member's etcd port (so the test knows which member answers). */
export function etcd3ClientOf(member: TestMember): Etcd3 {
  return new Etcd3({ hosts: [`http://${member.etcd}`], dialTimeout: 5000 });
}

/** A gRPC client of one etcd service at `address`. */
export function serviceClient(service: string, address: string): Client {
  const [pkg, name] = service.split('.') as [string, string];
  const definitions = loadPackageDefinition(etcdPackageDefinition());
  const Constructor = (definitions[pkg] as GrpcObject)[name] as ServiceClientConstructor;
  return new Constructor(address, credentials.createInsecure());
}

/** The stub of `method` on `client`, as grpc-js generates it from the definitions. */
export function stubOf<Stub>(client: Client, method: string): Stub {
  const stub = (client as unknown as Record<string, unknown>)[method];
  assert.equal(typeof stub, 'function', `the client has no ${method}`);
  return (stub as (...args: never[]) => unknown).bind(client) as Stub;
}

/** Calls unary `method` of `client`. */
export function call<Response>(client: Client, method: string, request: object): Promise<Response> {
  const stub = stubOf<
    (request: object, callback: (error: ServiceError | null, response: Response) => void) => void
  >(client, method);
  return new Promise((resolve, reject) => {
    stub(request, (error, response) => (error === null ? resolve(response) : reject(error)));
  });
}
