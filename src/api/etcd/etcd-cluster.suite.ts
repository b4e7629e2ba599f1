/**
 * What the etcd front door's tests share: a started 3-member cluster of
 * real `tessera start` processes serving etcd's API, clients of the
 * `etcd3` npm package pointed at one member, and whether `etcdctl` (etcd's
 * own command, v3 API) is installed. Not part of the build (`*.suite.ts`).
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import { Etcd3 } from 'etcd3';
import { TestCluster, type TestMember } from '../../../test/helpers/cluster.ts';

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
