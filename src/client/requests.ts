/**
 * What callers write (`'jobs/'`, `{ prefix: 'jobs/' }`, text values) turned
 * into the store's requests (`src/kv/types.ts`), which hold bytes only.
 * Pure functions: the KV namespace and the transaction helpers share them.
 *
 * @module
 */
import { prefixEnd, RANGE_END_ALL } from '../kv/key-span.ts';
import type { DeleteRangeRequest, Fence, PutRequest, RangeRequest } from '../kv/types.ts';
import { type Bytes, toBytes } from './bytes.ts';

/**
 * A span of keys: one key, `[key, rangeEnd)`, or every key that starts
 * with `prefix` (an empty prefix is every key). `rangeEnd` has the store's
 * meaning: absent for `key` alone, the single byte `0` for every key from
 * `key` on.
 */
export type KeySpan =
  | { readonly key: Bytes; readonly rangeEnd?: Bytes; readonly prefix?: never }
  | { readonly prefix: Bytes; readonly key?: never; readonly rangeEnd?: never };

/** The fields of a range read besides its span (see {@link RangeRequest}). */
export type RangeFields = Omit<RangeRequest, 'key' | 'rangeEnd'>;

/** A range read: a key (alone), or a span with any of the store's range fields. */
export type RangeInput = Bytes | (KeySpan & RangeFields);

/**
 * A fencing token and the lock it was granted on (as `Mutex.lock()` returns
 * it): a write carrying it runs only while the token still holds the lock,
 * else it rejects with `FencedError` and changes nothing.
 */
export interface FenceInput {
  /** The lock's name (its keys are under `lock/`). */
  readonly lock: Bytes;
  /** The token the lock was granted with. */
  readonly token: number;
}

/** What a put may ask besides its key and value (see {@link PutRequest}). */
export interface PutFields {
  /** Attach the key to this lease (0 = none). */
  readonly lease?: number;
  /** Return the key as it was before the put. */
  readonly prevKv?: boolean;
  /** Keep the key's current value; pass an empty value (the key must exist). */
  readonly ignoreValue?: boolean;
  /** Keep the key's current lease (the key must exist). */
  readonly ignoreLease?: boolean;
  /** Put only while this token holds its lock; else `FencedError`. */
  readonly fence?: FenceInput;
}

/** A delete: one key (alone), or a span. */
export type DeleteInput = Bytes | KeySpan;

/** What a delete may ask besides its span. */
export interface DeleteFields {
  /** Return the deleted keys as they were. */
  readonly prevKv?: boolean;
  /** Delete only while this token holds its lock; else `FencedError`. */
  readonly fence?: FenceInput;
}

const RANGE_FIELDS = [
  'limit',
  'revision',
  'sortOrder',
  'sortTarget',
  'keysOnly',
  'countOnly',
  'minModRevision',
  'maxModRevision',
  'minCreateRevision',
  'maxCreateRevision',
] as const satisfies readonly (keyof RangeFields)[];

const PUT_FIELDS = [
  'lease',
  'prevKv',
  'ignoreValue',
  'ignoreLease',
] as const satisfies readonly (keyof PutFields)[];

/**
 * The store's `key` and `rangeEnd` for a span.
 *
 * @throws {TypeError} when the span has both `prefix` and `key`/`rangeEnd`, or neither.
 */
export function spanRequest(span: Bytes | KeySpan): { key: Uint8Array; rangeEnd?: Uint8Array } {
  if (typeof span === 'string' || span instanceof Uint8Array) return { key: toBytes(span) };
  if (typeof span !== 'object' || span === null) {
    throw new TypeError(`Cannot read key span: expected a key or { key } or { prefix }, got ${String(span)}`);
  }
  if (span.prefix !== undefined) {
    if (span.key !== undefined || span.rangeEnd !== undefined) {
      throw new TypeError('Cannot read key span: give either prefix, or key (and rangeEnd), not both');
    }
    const prefix = toBytes(span.prefix, 'prefix');
    // The store refuses an empty key; etcd spells "every key" as key 0x00 with rangeEnd 0x00.
    if (prefix.length === 0) return { key: Uint8Array.of(0), rangeEnd: RANGE_END_ALL };
    return { key: prefix, rangeEnd: prefixEnd(prefix) };
  }
  if (span.key === undefined) {
    throw new TypeError('Cannot read key span: give key (and optionally rangeEnd) or prefix');
  }
  const key = toBytes(span.key);
  return span.rangeEnd === undefined ? { key } : { key, rangeEnd: toBytes(span.rangeEnd, 'rangeEnd') };
}

/** The store's range request for `input`. */
export function rangeRequest(input: RangeInput): RangeRequest {
  const request: Record<string, unknown> = { ...spanRequest(input) };
  if (typeof input === 'object' && !(input instanceof Uint8Array)) copyDefined(input, RANGE_FIELDS, request);
  return request as unknown as RangeRequest;
}

/** The store's put request. */
export function putRequest(key: Bytes, value: Bytes, fields: PutFields = {}): PutRequest {
  const request: Record<string, unknown> = { key: toBytes(key), value: toBytes(value, 'value') };
  copyDefined(fields, PUT_FIELDS, request);
  if (fields.fence !== undefined) request['fence'] = fenceRequest(fields.fence);
  return request as unknown as PutRequest;
}

/** The store's delete request. */
export function deleteRequest(input: DeleteInput, fields: DeleteFields = {}): DeleteRangeRequest {
  const request: Record<string, unknown> = { ...spanRequest(input) };
  if (fields.prevKv !== undefined) request['prevKv'] = fields.prevKv;
  if (fields.fence !== undefined) request['fence'] = fenceRequest(fields.fence);
  return request as unknown as DeleteRangeRequest;
}

/**
 * The store's fence for `fence` (a transaction takes this form in its
 * `fence` field).
 *
 * @throws {TypeError} when it is not `{ lock, token }`.
 */
export function fenceRequest(fence: FenceInput): Fence {
  if (typeof fence !== 'object' || fence === null) {
    throw new TypeError('Cannot fence the write: fence must be { lock, token }');
  }
  return { lock: toBytes(fence.lock, 'fence.lock'), token: fence.token };
}

/**
 * Copies the named fields that are set: absent fields stay absent on the
 * wire (the store reads absent as its default), and fields the store does
 * not know (such as call options) are never sent.
 */
function copyDefined(from: object, names: readonly string[], to: Record<string, unknown>): void {
  const source = from as Record<string, unknown>;
  for (const name of names) if (source[name] !== undefined) to[name] = source[name];
}
