/**
 * Coordination recipes (`tessera/coord`) on the store's leases, revisions,
 * transactions and watches: sessions, mutexes with fencing tokens,
 * read-write mutexes, semaphores, barriers, elections and software
 * transactional memory (STM).
 *
 * @example
 * ```ts
 * import { connect } from 'tessera/client';
 * import { Mutex, Session } from 'tessera/coord';
 *
 * const client = await connect({ endpoints: ['127.0.0.1:2379'] });
 * const session = await Session.create(client, { ttl: 10 });
 * const mutex = new Mutex(session, 'reports');
 * const { fence } = await mutex.lock();
 * await client.kv.put('reports/latest', 'built', { fence }); // FencedError once the lock moved on
 * await mutex.unlock();
 * await session.close();
 * client.close();
 * ```
 *
 * @module
 */
export {
  ElectionNoLeaderError,
  ElectionNotLeaderError,
  FencedError,
  LimitExceededError,
  SessionExpiredError,
} from '../base/errors.ts';
export { Barrier, type BarrierWaitOptions, DOUBLE_BARRIER_COUNT_MAX, DoubleBarrier } from './barrier.ts';
export { Election, type Leader, type Leadership, type ObserveOptions } from './election.ts';
export { type LockGrant, type LockOptions, Mutex } from './mutex.ts';
export { type RWLockGrant, type RWLockMode, RWMutex } from './rw-mutex.ts';
export { type AcquireOptions, SEMAPHORE_PERMITS_MAX, Semaphore, type SemaphoreGrant } from './semaphore.ts';
export {
  SESSION_TTL_SECONDS_DEFAULT,
  Session,
  type SessionEnd,
  type SessionEndReason,
  type SessionOptions,
} from './session.ts';
export {
  runStm,
  STM_KEYS_MAX,
  STM_RETRIES_MAX_DEFAULT,
  type Stm,
  type StmIsolation,
  type StmOptions,
  type StmResult,
} from './stm.ts';
