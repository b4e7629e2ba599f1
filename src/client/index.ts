/**
 * The Tessera TypeScript client (`tessera/client`): a connection to a
 * cluster that finds the leader, keeps one connection per member, fails
 * over when a member goes away, and retries what is safe to retry.
 *
 * - {@link connect} → {@link Client}, with `client.kv` (get, range, put,
 *   delete, txn, compact) and `client.cluster` (status, members).
 * - Keys and values are bytes; pass strings (UTF-8) or `Uint8Array`s, and
 *   decode results with {@link text}.
 * - Every call takes `{ timeoutMs, signal }`: a deadline for the whole
 *   call, retries included, and an `AbortSignal`.
 * - Reads are retried on another member after any failure on the way.
 *   Writes are retried only when the error proves they did not take effect
 *   (`UNAVAILABLE`, `NOT_LEADER`, `PROPOSAL_DROPPED`); when a write was
 *   sent and its answer lost, it rejects with {@link OutcomeUnknownError}.
 *
 * @example
 * ```ts
 * import { compare, connect, op, OutcomeUnknownError, text } from 'tessera/client';
 *
 * const client = await connect({ endpoints: ['127.0.0.1:2379', '127.0.0.1:2479'] });
 * try {
 *   await client.kv.put('jobs/1', 'queued');
 *   const { kvs } = await client.kv.range({ prefix: 'jobs/' });
 *   for (const kv of kvs) console.log(text(kv.key), text(kv.value));
 *   const { succeeded } = await client.kv.txn({
 *     compare: [compare.value('jobs/1', 'equal', 'queued')],
 *     success: [op.put('jobs/1', 'running')],
 *   });
 * } catch (error) {
 *   if (error instanceof OutcomeUnknownError) {
 *     // The write may or may not have happened: read before deciding.
 *   }
 *   throw error;
 * } finally {
 *   client.close();
 * }
 * ```
 *
 * @module
 */
export {
  CancelledError,
  CompactedError,
  ConnectionLostError,
  DeadlineExceededError,
  type ErrorCode,
  FencedError,
  InvalidArgumentError,
  LimitExceededError,
  NoSpaceError,
  NotLeaderError,
  OutcomeUnknownError,
  ProposalDroppedError,
  RemoteError,
  TesseraError,
  TooLargeError,
  UnavailableError,
} from '../base/errors.ts';
export type {
  CompactionResponse,
  Compare,
  CompareResult,
  DeleteRangeResponse,
  Event,
  Fence,
  KeyValue,
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseRevokeResponse,
  PutResponse,
  RangeResponse,
  RequestOp,
  ResponseOp,
  SortOrder,
  SortTarget,
  TxnRequest,
  TxnResponse,
  WatchFilter,
} from '../kv/types.ts';
export type { LeaseTimeToLiveResponse, MemberStatus, NodeStatus } from '../server/api.ts';
export { type Bytes, text, toBytes } from './bytes.ts';
export { RECONNECT_BACKOFF_DEFAULT, RETRY_BACKOFF_DEFAULT } from './caller.ts';
export { Client, type ConnectOptions, connect } from './client.ts';
export { ClusterClient, type StatusOptions } from './cluster-client.ts';
export {
  type DeleteOptions,
  type GetOptions,
  KvClient,
  type PutOptions,
  type ReadOptions,
} from './kv-client.ts';
export {
  type GrantOptions,
  KEEP_ALIVE_INTERVAL_MIN_MS,
  type KeepAlive,
  type KeepAliveOptions,
  LeaseClient,
} from './lease-client.ts';
export { REQUEST_TIMEOUT_MS_DEFAULT, type RequestOptions } from './request-options.ts';
export type {
  DeleteFields,
  DeleteInput,
  FenceInput,
  KeySpan,
  PutFields,
  RangeFields,
  RangeInput,
} from './requests.ts';
export { type CompareTarget, compare, op } from './txn-ops.ts';
export type { WatchBatch, WatchOptions } from './watch-client.ts';
