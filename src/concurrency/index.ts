/**
 * Go-style concurrency for one Node isolate: channels, `select`, timers, the
 * `sync` primitives, `ErrGroup`, and a worker-thread pool for CPU-bound work.
 *
 * Every blocking call takes an `AbortSignal` and rejects with `CancelledError`
 * when it aborts, leaving no trace; every queue of blocked callers is bounded
 * (`waitersMax`) and rejects with `LimitExceededError` past its bound.
 *
 * @module
 */

export {
  CHANNEL_CAPACITY_MAX,
  CHANNEL_WAITERS_MAX_DEFAULT,
  Channel,
  type ChannelOptions,
  type RecvResult,
} from './channel.ts';
export { ErrGroup, type ErrGroupOptions, type ErrGroupTask } from './err-group.ts';
export { Mutex, type MutexOptions } from './mutex.ts';
export { Once } from './once.ts';
export { RWMutex, type RWMutexOptions } from './rw-mutex.ts';
export {
  type RecvCase,
  recvCase,
  SELECT_CASES_MAX,
  type SelectCase,
  type SelectDefaultResult,
  type SelectOptions,
  type SelectRecvResult,
  type SelectResult,
  type SelectSendResult,
  type SendCase,
  select,
  sendCase,
  trySelect,
} from './select.ts';
export { Semaphore, type SemaphoreOptions } from './semaphore.ts';
export { type AfterOptions, after, Ticker, type TickOptions, tick } from './timers.ts';
export { WaitGroup, type WaitGroupOptions } from './wait-group.ts';
export { WAITERS_MAX_DEFAULT, type WaitOptions } from './waiter.ts';
export {
  WORKER_POOL_IDLE_TIMEOUT_MS_DEFAULT,
  WORKER_POOL_QUEUE_MAX_DEFAULT,
  WorkerPool,
  type WorkerPoolOptions,
  type WorkerRunOptions,
  workerExecArgv,
} from './worker-pool.ts';
