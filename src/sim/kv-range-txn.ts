/**
 * The simulator's multi-key calls: a range over a key prefix and a
 * transaction over a few keys, what they answer, and how they map onto the
 * MVCC store's requests. The per-key linearizability checker does not see
 * them; the revision checker (`revision-checker.ts`) does.
 *
 * @module
 */
import { prefixEnd } from '../kv/key-span.ts';
import type { Compare, KeyValue, RangeRequest, RequestOp, TxnRequest } from '../kv/types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A key as a read shows it (etcd's `mvccpb.KeyValue`, with text for bytes). */
export interface KvView {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  /** The lease the key is attached to, 0 for none. */
  readonly lease: number;
}

/** A read of every key under a prefix, in key order. */
export interface RangeInput {
  readonly op: 'range';
  readonly prefix: string;
  /** Most keys to return; 0 for all of them. */
  readonly limit: number;
  /** Served from one member's applied state without ReadIndex (etcd's serializable read): not linearizable. */
  readonly serializable: boolean;
}

/** What a range answers (etcd's `RangeResponse`). */
export interface RangeOutput {
  /** The revision the range read (etcd's `header.revision`). */
  readonly revision: number;
  readonly kvs: readonly KvView[];
  /** Keys under the prefix at that revision, before the limit. */
  readonly count: number;
  /** Whether the limit left keys out. */
  readonly more: boolean;
}

/** One condition of a {@link TxnInput}, as the store's `Compare` on one key. */
export type TxnCompare = {
  readonly key: string;
  readonly result: 'equal' | 'notEqual' | 'less' | 'greater';
} & (
  | { readonly target: 'value'; readonly value: string }
  | { readonly target: 'version'; readonly version: number }
  | { readonly target: 'modRevision'; readonly modRevision: number }
);

/** A write of a {@link TxnInput}'s success branch. */
export type TxnWrite =
  | { readonly type: 'put'; readonly key: string; readonly value: string }
  | { readonly type: 'delete'; readonly key: string };

/**
 * A transaction: when every compare holds, make every write (on distinct
 * keys, at one revision); otherwise read the keys it would have written.
 */
export interface TxnInput {
  readonly op: 'txn';
  readonly compare: readonly TxnCompare[];
  readonly writes: readonly TxnWrite[];
}

/** What a transaction answers (etcd's `TxnResponse`). */
export interface TxnOutput {
  /** Whether every compare held. */
  readonly succeeded: boolean;
  /** The revision after the transaction (etcd's `header.revision`; unchanged when it wrote nothing). */
  readonly revision: number;
  /** On failure, each key of `writes` as read (null: absent), in that order; empty on success. */
  readonly kvs: readonly (KvView | null)[];
}

/** A multi-key call. */
export type RangeTxnInput = RangeInput | TxnInput;
/** What a multi-key call answers. */
export type RangeTxnOutput = RangeOutput | TxnOutput;

/** A store key version as a {@link KvView}. */
export function kvViewOf(kv: KeyValue): KvView {
  const { createRevision, modRevision, version, lease } = kv;
  return {
    key: decoder.decode(kv.key),
    value: decoder.decode(kv.value),
    createRevision,
    modRevision,
    version,
    lease,
  };
}

/** The store's range request for `input`. */
export function rangeRequestOf(input: RangeInput): RangeRequest {
  const key = encoder.encode(input.prefix);
  return { key, rangeEnd: prefixEnd(key), limit: input.limit };
}

/** The store's transaction request for `input`. */
export function txnRequestOf(input: TxnInput): TxnRequest {
  return {
    compare: input.compare.map(compareOf),
    success: input.writes.map(writeOf),
    failure: input.writes.map(({ key }) => ({ type: 'range', request: { key: encoder.encode(key) } })),
  };
}

function compareOf(compare: TxnCompare): Compare {
  const base = { key: encoder.encode(compare.key), result: compare.result } as const;
  switch (compare.target) {
    case 'value':
      return { ...base, target: 'value', value: encoder.encode(compare.value) };
    case 'version':
      return { ...base, target: 'version', version: compare.version };
    case 'modRevision':
      return { ...base, target: 'modRevision', modRevision: compare.modRevision };
  }
}

function writeOf(write: TxnWrite): RequestOp {
  const key = encoder.encode(write.key);
  return write.type === 'put'
    ? { type: 'put', request: { key, value: encoder.encode(write.value) } }
    : { type: 'deleteRange', request: { key } };
}
