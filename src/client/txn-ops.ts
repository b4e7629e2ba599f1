/**
 * Builders for the parts of a transaction, taking text or bytes like the
 * rest of the client: {@link compare} for its conditions, {@link op} for its
 * requests. They return the store's own `Compare` and `RequestOp` values,
 * so a `TxnRequest` can mix built and hand-written parts.
 *
 * @example
 * ```ts
 * // Compare-and-set: change "config" only if nobody changed it since revision 42.
 * const { succeeded } = await client.kv.txn({
 *   compare: [compare.modRevision('config', 'equal', 42)],
 *   success: [op.put('config', 'v2')],
 *   failure: [op.get('config')],
 * });
 * ```
 *
 * @module
 */
import type { Compare, CompareResult, RequestOp, TxnRequest } from '../kv/types.ts';
import type { Bytes } from './bytes.ts';
import { toBytes } from './bytes.ts';
import {
  type DeleteFields,
  type DeleteInput,
  deleteRequest,
  type KeySpan,
  type PutFields,
  putRequest,
  type RangeInput,
  rangeRequest,
  spanRequest,
} from './requests.ts';

/** What a compare tests: one key, or every key of a span (all must pass). */
export type CompareTarget = Bytes | KeySpan;

/**
 * Conditions of a transaction (etcd's `Compare`). A missing key compares as
 * version, revisions and lease 0, and fails every `value` compare.
 *
 * @example
 * ```ts
 * compare.version('lock', 'equal', 0); // "lock" does not exist
 * compare.value({ prefix: 'flags/' }, 'equal', 'on'); // every key under flags/ is "on"
 * ```
 */
export const compare = {
  /** The key's value against `value` (byte-wise order for `less`/`greater`). */
  value(target: CompareTarget, result: CompareResult, value: Bytes): Compare {
    return { ...spanRequest(target), result, target: 'value', value: toBytes(value, 'value') };
  },
  /** The key's version (puts since it was created; 0 when it does not exist). */
  version(target: CompareTarget, result: CompareResult, version: number): Compare {
    return { ...spanRequest(target), result, target: 'version', version };
  },
  /** The revision that created the key (0 when it does not exist). */
  createRevision(target: CompareTarget, result: CompareResult, revision: number): Compare {
    return { ...spanRequest(target), result, target: 'createRevision', createRevision: revision };
  },
  /** The revision of the key's last change (0 when it does not exist). */
  modRevision(target: CompareTarget, result: CompareResult, revision: number): Compare {
    return { ...spanRequest(target), result, target: 'modRevision', modRevision: revision };
  },
  /** The lease the key is attached to (0 for none). */
  lease(target: CompareTarget, result: CompareResult, lease: number): Compare {
    return { ...spanRequest(target), result, target: 'lease', lease };
  },
};

/**
 * Requests inside a transaction (etcd's `RequestOp`), with the arguments of
 * the matching `client.kv` methods.
 *
 * @example
 * ```ts
 * op.put('a', '1', { prevKv: true });
 * op.get({ prefix: 'jobs/', limit: 10 });
 * op.delete({ prefix: 'tmp/' });
 * ```
 */
export const op = {
  /** A range read, as `client.kv.range` takes it (a key alone reads that key). */
  get(input: RangeInput): RequestOp {
    return { type: 'range', request: rangeRequest(input) };
  },
  /** A put, as `client.kv.put` takes it. */
  put(key: Bytes, value: Bytes, fields: PutFields = {}): RequestOp {
    return { type: 'put', request: putRequest(key, value, fields) };
  },
  /** A delete, as `client.kv.delete` takes it. */
  delete(input: DeleteInput, fields: DeleteFields = {}): RequestOp {
    return { type: 'deleteRange', request: deleteRequest(input, fields) };
  },
  /** A nested transaction. */
  txn(request: TxnRequest): RequestOp {
    return { type: 'txn', request };
  },
};
