/**
 * The load generator of `npm run bench -- coord`, in its own process so that
 * its CPU time can be measured apart from the servers':
 * `node --import tsx bench/coord-load.ts '<LockSpec JSON>'`. Opens
 * `concurrency` contenders for one lock name, each with a connection and a
 * session (lease) of its own, loops lock -> critical section -> unlock in
 * each, and prints one line, `result=<LockResult JSON>`.
 *
 * The critical section bumps a counter and yields the event loop once
 * before it leaves, so that a grant to another contender of this process
 * while a holder is inside would be seen: that is counted as an exclusion
 * violation (there must be none).
 *
 * @module
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Etcd3, EtcdLockFailedError } from 'etcd3';
import { connect } from '../src/client/index.ts';
// The modules themselves rather than the coord index: only these two are under test.
import { Mutex } from '../src/coord/mutex.ts';
import { Session } from '../src/coord/session.ts';
import { EtcdLockService, etcdLeaderEndpoint } from './etcd-lock-service.ts';
import { type LoopResult, type LoopSpec, measured, runLoadMain } from './load-loop.ts';

/**
 * The lock under test:
 * - `tessera`: `tessera/coord`'s `Mutex` on a `Session`, one per contender.
 * - `etcdLockService`: etcd's lock service (`v3lockpb.Lock`, server-side
 *   `concurrency.Mutex`) on one lease per contender, called at the leader.
 * - `etcd3Lock`: the `etcd3` package's `Lock` as shipped: a new lease per
 *   acquire, revoked on release; a try-lock, retried at once while held.
 */
export type LockSystem = 'tessera' | 'etcdLockService' | 'etcd3Lock';

/** What to run. */
export interface LockSpec extends LoopSpec {
  readonly system: LockSystem;
  /** Client addresses `host:port` of every member. */
  readonly endpoints: readonly string[];
  /** The latency recorded: of a whole lock + unlock `cycle`, or from calling lock to its `grant`. */
  readonly latency: 'cycle' | 'grant';
  readonly lockName: string;
  /** TTL of every session and lease, in seconds. */
  readonly ttlSeconds: number;
}

/** What it measured; operations are grants (each one lock + unlock). */
export interface LockResult extends LoopResult {
  /** Times a holder saw another holder inside the critical section (must be 0). */
  readonly exclusionViolations: number;
  /** Failed try-lock attempts per grant, warm-up included (`etcd3Lock` only; the others queue). */
  readonly retriesPerGrant: number;
}

/** One party contending for the lock. */
interface Contender {
  /** Resolves once granted, with the failed attempts before the grant. */
  lock(): Promise<number>;
  unlock(): Promise<void>;
  close(): Promise<void>;
}

async function tesseraContender(spec: LockSpec): Promise<Contender> {
  const client = await connect({ endpoints: spec.endpoints });
  const session = await Session.create(client, { ttl: spec.ttlSeconds });
  const mutex = new Mutex(session, spec.lockName);
  return {
    lock: async () => {
      await mutex.lock();
      return 0;
    },
    unlock: () => mutex.unlock(),
    close: async () => {
      await session.close();
      client.close();
    },
  };
}

function etcdClient(spec: LockSpec): Etcd3 {
  return new Etcd3({ hosts: spec.endpoints.map((endpoint) => `http://${endpoint}`) });
}

async function etcdLockServiceContender(spec: LockSpec, leader: string): Promise<Contender> {
  const client = etcdClient(spec);
  // etcd3's lease keeps itself alive every TTL / 3, as a Tessera session does.
  const lease = client.lease(spec.ttlSeconds);
  const leaseId = await lease.grant();
  const service = new EtcdLockService(leader);
  let key: Buffer | undefined;
  return {
    lock: async () => {
      key = await service.lock(spec.lockName, leaseId);
      return 0;
    },
    unlock: async () => {
      if (key !== undefined) await service.unlock(key);
      key = undefined;
    },
    close: async () => {
      await lease.revoke();
      service.close();
      client.close();
    },
  };
}

async function etcd3LockContender(spec: LockSpec): Promise<Contender> {
  const client = etcdClient(spec);
  let held: ReturnType<Etcd3['lock']> | undefined;
  return {
    lock: async () => {
      for (let retries = 0; ; retries++) {
        // A Lock object grants a fresh lease on every acquire; a failed one revokes it again.
        const lock = client.lock(spec.lockName).ttl(spec.ttlSeconds);
        try {
          held = await lock.acquire();
          return retries;
        } catch (error) {
          if (!(error instanceof EtcdLockFailedError)) throw error;
        }
      }
    },
    unlock: async () => {
      await held?.release();
      held = undefined;
    },
    close: async () => client.close(),
  };
}

async function openContenders(spec: LockSpec): Promise<Contender[]> {
  const leader = spec.system === 'etcdLockService' ? await etcdLeaderEndpoint(spec.endpoints) : '';
  const open = (): Promise<Contender> => {
    switch (spec.system) {
      case 'tessera':
        return tesseraContender(spec);
      case 'etcdLockService':
        return etcdLockServiceContender(spec, leader);
      case 'etcd3Lock':
        return etcd3LockContender(spec);
    }
  };
  return await Promise.all(Array.from({ length: spec.concurrency }, open));
}

async function run(spec: LockSpec): Promise<LockResult> {
  const contenders = await openContenders(spec);
  let inside = 0;
  let exclusionViolations = 0;
  let counter = 0;
  let retries = 0;
  const enter = (): void => {
    inside++;
    if (inside !== 1) exclusionViolations++;
  };
  const leave = (): void => {
    if (inside !== 1) exclusionViolations++;
    inside--;
  };
  try {
    const result = await measured(spec, async (worker) => {
      const contender = contenders[worker] as Contender;
      const begin = performance.now();
      retries += await contender.lock();
      const waitedMs = performance.now() - begin;
      enter();
      counter++;
      await nextTurn();
      leave();
      await contender.unlock();
      return spec.latency === 'grant' ? waitedMs : undefined;
    });
    return { ...result, exclusionViolations, retriesPerGrant: retries / Math.max(1, counter) };
  } finally {
    await Promise.all(contenders.map((contender) => contender.close()));
  }
}

await runLoadMain(run);
