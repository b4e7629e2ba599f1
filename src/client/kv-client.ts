/**
 * `client.kv`: the key-value store (etcd v3's KV API) through a
 * {@link Caller}, with text or bytes for keys and values.
 *
 * @module
 */
import type {
  CompactionResponse,
  DeleteRangeResponse,
  KeyValue,
  PutResponse,
  RangeResponse,
  RequestOp,
  TxnRequest,
  TxnResponse,
} from '../kv/types.ts';
import { KvService } from '../server/api.ts';
import type { Bytes } from './bytes.ts';
import type { Caller } from './caller.ts';
import type { RequestOptions } from './request-options.ts';
import {
  type DeleteFields,
  type DeleteInput,
  deleteRequest,
  type PutFields,
  putRequest,
  type RangeInput,
  rangeRequest,
} from './requests.ts';

/** Options of a read. */
export interface ReadOptions extends RequestOptions {
  /**
   * Answer from the asked member's own state, without confirming with the
   * leader that it is current: faster, and works without a leader, but may
   * miss the latest writes. Default false (linearizable).
   */
  readonly serializable?: boolean;
}

/** Options of {@link KvClient.get}. */
export interface GetOptions extends ReadOptions {
  /** Read the key as of this revision (0 or absent: the current one). */
  readonly revision?: number;
}

/** Options of {@link KvClient.put}: what the put asks, and the call's deadline and signal. */
export type PutOptions = PutFields & RequestOptions;

/** Options of {@link KvClient.delete}: what the delete asks, and the call's deadline and signal. */
export type DeleteOptions = DeleteFields & RequestOptions;

/** Nested transactions the client looks into before treating one as a read (deeper: a write). */
const TXN_DEPTH_INSPECTED_MAX = 16;

/**
 * Whether a transaction may change the store: any put, delete, or nested
 * transaction that does, in either branch. One that only reads is retried
 * like a read.
 */
export function txnMayWrite(request: TxnRequest, depth = 0): boolean {
  if (depth >= TXN_DEPTH_INSPECTED_MAX) return true;
  const writes = (op: RequestOp): boolean =>
    op.type === 'put' ||
    op.type === 'deleteRange' ||
    (op.type === 'txn' && txnMayWrite(op.request, depth + 1));
  return (request.success ?? []).some(writes) || (request.failure ?? []).some(writes);
}

/**
 * The key-value store. Keys and values are bytes; methods take a string
 * (sent as UTF-8) or a `Uint8Array`, and return bytes (`Uint8Array`; decode
 * text with `text(kv.value)`). Byte arrays in results belong to the caller.
 *
 * Errors every method may reject with, besides the store's own
 * (`InvalidArgumentError`, `CompactedError`, `TooLargeError`...):
 * - `OutcomeUnknownError` (writes only): the write was sent and then its
 *   answer was lost; it may or may not have taken effect.
 * - `DeadlineExceededError`: no member took the call in time. A write
 *   rejected this way did not take effect.
 * - `CancelledError`: the call's signal aborted, or the client was closed
 *   (a write cancelled after it was sent may still take effect).
 *
 * Any other error from a write means it did not take effect. Reads are
 * retried on another member whatever went wrong on the way; writes only
 * when the error proves they were not carried out.
 *
 * Created by `connect`; reach it as `client.kv`.
 */
export class KvClient {
  readonly #caller: Caller;

  /** @internal Use `connect(...).kv`. */
  constructor(caller: Caller) {
    this.#caller = caller;
  }

  /**
   * Reads one key.
   *
   * @returns the key's current version (or as of `options.revision`), or
   *   undefined when it does not exist.
   *
   * @example
   * ```ts
   * const kv = await client.kv.get('config/mode');
   * console.log(kv === undefined ? 'unset' : text(kv.value), kv?.modRevision);
   * ```
   */
  async get(key: Bytes, options: GetOptions = {}): Promise<KeyValue | undefined> {
    const input = options.revision === undefined ? { key } : { key, revision: options.revision };
    const response = await this.range(input, options);
    return response.kvs[0];
  }

  /**
   * Reads a key, a span of keys or a prefix, with the store's range fields
   * (`limit`, `revision`, `sortOrder`, `keysOnly`, `countOnly`, filters).
   * A reply may be cut by `limit` or the store's page limits: `more` says
   * so; read on from after the last key.
   *
   * @example
   * ```ts
   * const { kvs, more } = await client.kv.range({ prefix: 'jobs/', limit: 100 });
   * for (const kv of kvs) console.log(text(kv.key), text(kv.value));
   * const { count } = await client.kv.range({ prefix: 'jobs/', countOnly: true });
   * ```
   */
  range(input: RangeInput, options: ReadOptions = {}): Promise<RangeResponse> {
    const request = rangeRequest(input);
    const serializable = options.serializable === true;
    return this.#caller.call(
      'read',
      'read',
      (rpc, callOptions) => rpc.service(KvService).range({ request, serializable }, callOptions),
      options,
    );
  }

  /**
   * Writes a key.
   *
   * @returns the revision the put created, and the previous version when
   *   `prevKv` was asked and the key existed.
   *
   * @example
   * ```ts
   * const { revision } = await client.kv.put('config/mode', 'fast');
   * const { prevKv } = await client.kv.put('counter', '2', { prevKv: true, timeoutMs: 2000 });
   * await client.kv.put('session/a', 'alive', { lease: leaseId });
   * ```
   */
  put(key: Bytes, value: Bytes, options: PutOptions = {}): Promise<PutResponse> {
    const request = putRequest(key, value, options);
    return this.#caller.call(
      'write',
      'put',
      (rpc, callOptions) => rpc.service(KvService).put(request, callOptions),
      options,
    );
  }

  /**
   * Deletes a key, a span or every key under a prefix.
   *
   * @returns how many keys were deleted, the revision, and with `prevKv`
   *   the deleted keys.
   *
   * @example
   * ```ts
   * await client.kv.delete('config/mode');
   * const { deleted, prevKvs } = await client.kv.delete({ prefix: 'tmp/' }, { prevKv: true });
   * ```
   */
  delete(input: DeleteInput, options: DeleteOptions = {}): Promise<DeleteRangeResponse> {
    const request = deleteRequest(input, options);
    return this.#caller.call(
      'write',
      'delete',
      (rpc, callOptions) => rpc.service(KvService).deleteRange(request, callOptions),
      options,
    );
  }

  /**
   * Runs a transaction: if every compare passes, the `success` requests,
   * else the `failure` ones, atomically at one revision. Build the parts
   * with `compare` and `op`. A transaction that only reads is retried as a
   * read.
   *
   * @example
   * ```ts
   * // Create "lock" only if it does not exist.
   * const { succeeded } = await client.kv.txn({
   *   compare: [compare.version('lock', 'equal', 0)],
   *   success: [op.put('lock', 'me')],
   * });
   * ```
   */
  txn(request: TxnRequest, options: RequestOptions = {}): Promise<TxnResponse> {
    return this.#caller.call(
      txnMayWrite(request) ? 'write' : 'read',
      'run the transaction',
      (rpc, callOptions) => rpc.service(KvService).txn(request, callOptions),
      options,
    );
  }

  /**
   * Forgets the history before `revision`: reads and watches below it
   * fail with `CompactedError` from then on.
   *
   * @example
   * ```ts
   * // Keep the last 1000 revisions.
   * const { revision } = await client.kv.range({ prefix: '', countOnly: true });
   * if (revision > 1000) await client.kv.compact(revision - 1000);
   * ```
   */
  compact(revision: number, options: RequestOptions = {}): Promise<CompactionResponse> {
    return this.#caller.call(
      'write',
      'compact',
      (rpc, callOptions) => rpc.service(KvService).compact({ revision }, callOptions),
      options,
    );
  }
}
