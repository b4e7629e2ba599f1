/**
 * `etcdserverpb.KV` (Range, Put, DeleteRange, Txn, Compact) over the
 * shared `kv` handlers: each request is translated field by field into
 * Tessera's request type, checked by the native RPC's validator, served by
 * the handler every front door uses, and its answer translated back with
 * a `ResponseHeader`. Nothing is decided here.
 *
 * Translations that follow etcd's documented meaning rather than a field's
 * value: a `limit` or `revision` at or below 0 means none (the current
 * revision); an empty `range_end` means the key alone; `serializable` is
 * the call's, not the request's (inside a txn etcd ignores it too).
 * `physical` on Compact is accepted and changes nothing: a compaction is
 * answered once it is applied, when reads below it already fail; the
 * store frees the history in bounded steps after that, so the space is
 * not yet free when the answer comes (etcd's `physical` waits for that).
 *
 * @module
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { InvalidArgumentError } from '../../base/errors.ts';
import type { Logger } from '../../base/logger.ts';
import { TXN_DEPTH_MAX } from '../../kv/limits.ts';
import type {
  Compare,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from '../../kv/types.ts';
import { KvService, validated } from '../../server/api.ts';
import type { ClientHandlers } from '../../server/serve.ts';
import { unaryCall } from './calls.ts';
import type { HeaderMaker } from './header.ts';
import { type Bytes, type Int64, int64Field, type WireKeyValue, type WireResponseHeader } from './proto.ts';

/** `etcdserverpb.RangeRequest` as decoded. */
interface WireRangeRequest {
  readonly key: Bytes;
  readonly range_end: Bytes;
  readonly limit: Int64;
  readonly revision: Int64;
  readonly sort_order: string;
  readonly sort_target: string;
  readonly serializable: boolean;
  readonly keys_only: boolean;
  readonly count_only: boolean;
  readonly min_mod_revision: Int64;
  readonly max_mod_revision: Int64;
  readonly min_create_revision: Int64;
  readonly max_create_revision: Int64;
}

/** `etcdserverpb.PutRequest` as decoded. */
interface WirePutRequest {
  readonly key: Bytes;
  readonly value: Bytes;
  readonly lease: Int64;
  readonly prev_kv: boolean;
  readonly ignore_value: boolean;
  readonly ignore_lease: boolean;
}

/** `etcdserverpb.DeleteRangeRequest` as decoded. */
interface WireDeleteRangeRequest {
  readonly key: Bytes;
  readonly range_end: Bytes;
  readonly prev_kv: boolean;
}

/** `etcdserverpb.Compare` as decoded: every operand is there (zero when unset); `target` says which counts. */
interface WireCompare {
  readonly result: string;
  readonly target: string;
  readonly key: Bytes;
  readonly range_end: Bytes;
  readonly version: Int64;
  readonly create_revision: Int64;
  readonly mod_revision: Int64;
  readonly value: Bytes;
  readonly lease: Int64;
}

/** `etcdserverpb.RequestOp` as decoded: `request` names the field set. */
interface WireRequestOp {
  readonly request?: 'request_range' | 'request_put' | 'request_delete_range' | 'request_txn';
  readonly request_range: WireRangeRequest | null;
  readonly request_put: WirePutRequest | null;
  readonly request_delete_range: WireDeleteRangeRequest | null;
  readonly request_txn: WireTxnRequest | null;
}

/** `etcdserverpb.TxnRequest` as decoded. */
interface WireTxnRequest {
  readonly compare: readonly WireCompare[];
  readonly success: readonly WireRequestOp[];
  readonly failure: readonly WireRequestOp[];
}

/** `etcdserverpb.CompactionRequest` as decoded. */
interface WireCompactionRequest {
  readonly revision: Int64;
  readonly physical: boolean;
}

/** Makes the header of a response at a revision. */
type HeaderAt = (revision: number) => WireResponseHeader | { readonly revision: number };

/** The header of a response inside a txn: the revision alone, as etcd gives it. */
const revisionOnly: HeaderAt = (revision) => ({ revision });

/**
 * The `etcdserverpb.KV` implementation over `handlers.kv`, for
 * `Server.addService(etcdService('etcdserverpb.KV'), …)`.
 */
export function kvService(
  handlers: ClientHandlers,
  header: HeaderMaker,
  logger: Logger,
): UntypedServiceImplementation {
  const { kv } = handlers;
  const { methods } = KvService;
  const method = (name: string) => `/etcdserverpb.KV/${name}`;
  return {
    Range: unaryCall(method('Range'), logger, async (request: WireRangeRequest, context) => {
      const call = { request: rangeRequestOf(request), serializable: request.serializable };
      const response = await kv.range(validated(methods.range, method('Range'), call), context);
      return rangeResponseOf(response, header);
    }),
    Put: unaryCall(method('Put'), logger, async (request: WirePutRequest, context) => {
      const response = await kv.put(validated(methods.put, method('Put'), putRequestOf(request)), context);
      return putResponseOf(response, header);
    }),
    DeleteRange: unaryCall(
      method('DeleteRange'),
      logger,
      async (request: WireDeleteRangeRequest, context) => {
        const call = validated(methods.deleteRange, method('DeleteRange'), deleteRangeRequestOf(request));
        return deleteRangeResponseOf(await kv.deleteRange(call, context), header);
      },
    ),
    Txn: unaryCall(method('Txn'), logger, async (request: WireTxnRequest, context) => {
      const call = validated(methods.txn, method('Txn'), txnRequestOf(request, 1));
      const response = await kv.txn(call, context);
      const base = header(response.revision);
      return txnResponseOf(response, (revision) => ({ ...base, revision }));
    }),
    Compact: unaryCall(method('Compact'), logger, async (request: WireCompactionRequest, context) => {
      const call = { revision: int64Field(request.revision, 'revision') };
      const response = await kv.compact(validated(methods.compact, method('Compact'), call), context);
      return { header: header(response.revision) };
    }),
  };
}

/** A KeyValue as `mvccpb.KeyValue`. */
export function wireKeyValueOf(kv: KeyValue): WireKeyValue {
  return {
    key: kv.key,
    create_revision: kv.createRevision,
    mod_revision: kv.modRevision,
    version: kv.version,
    value: kv.value,
    lease: kv.lease,
  };
}

/** A decoded enum value by name through `names`; one it does not know stays as it is, for the validator to refuse. */
function enumOf<T extends string>(names: Readonly<Record<string, T>>, value: string): T | string {
  return Object.hasOwn(names, value) ? (names[value] as T) : value;
}

const SORT_ORDERS = { NONE: 'none', ASCEND: 'ascend', DESCEND: 'descend' } as const;
const SORT_TARGETS = {
  KEY: 'key',
  VERSION: 'version',
  CREATE: 'create',
  MOD: 'mod',
  VALUE: 'value',
} as const;
const COMPARE_RESULTS = { EQUAL: 'equal', GREATER: 'greater', LESS: 'less', NOT_EQUAL: 'notEqual' } as const;

/** `range_end` when it names a span; empty means the key alone, as absent does in Tessera. */
function rangeEndOf(rangeEnd: Bytes): { rangeEnd?: Uint8Array } {
  return rangeEnd.length === 0 ? {} : { rangeEnd };
}

function rangeRequestOf(wire: WireRangeRequest): RangeRequest {
  return {
    key: wire.key,
    ...rangeEndOf(wire.range_end),
    // etcd: a limit at or below 0 is no limit, a revision at or below 0 the current one.
    limit: Math.max(0, int64Field(wire.limit, 'limit')),
    revision: Math.max(0, int64Field(wire.revision, 'revision')),
    sortOrder: enumOf(SORT_ORDERS, wire.sort_order),
    sortTarget: enumOf(SORT_TARGETS, wire.sort_target),
    keysOnly: wire.keys_only,
    countOnly: wire.count_only,
    minModRevision: int64Field(wire.min_mod_revision, 'min_mod_revision'),
    maxModRevision: int64Field(wire.max_mod_revision, 'max_mod_revision'),
    minCreateRevision: int64Field(wire.min_create_revision, 'min_create_revision'),
    maxCreateRevision: int64Field(wire.max_create_revision, 'max_create_revision'),
  } as RangeRequest;
}

function putRequestOf(wire: WirePutRequest): PutRequest {
  return {
    key: wire.key,
    value: wire.value,
    lease: int64Field(wire.lease, 'lease'),
    prevKv: wire.prev_kv,
    ignoreValue: wire.ignore_value,
    ignoreLease: wire.ignore_lease,
  };
}

function deleteRangeRequestOf(wire: WireDeleteRangeRequest): DeleteRangeRequest {
  return { key: wire.key, ...rangeEndOf(wire.range_end), prevKv: wire.prev_kv };
}

/** A compare's operand, by the target etcd says it compares. */
function compareOf(wire: WireCompare): Compare {
  const base = { result: enumOf(COMPARE_RESULTS, wire.result), key: wire.key, ...rangeEndOf(wire.range_end) };
  switch (wire.target) {
    case 'VERSION':
      return { ...base, target: 'version', version: int64Field(wire.version, 'version') } as Compare;
    case 'CREATE':
      return {
        ...base,
        target: 'createRevision',
        createRevision: int64Field(wire.create_revision, 'create_revision'),
      } as Compare;
    case 'MOD':
      return {
        ...base,
        target: 'modRevision',
        modRevision: int64Field(wire.mod_revision, 'mod_revision'),
      } as Compare;
    case 'VALUE':
      return { ...base, target: 'value', value: wire.value } as Compare;
    case 'LEASE':
      return { ...base, target: 'lease', lease: int64Field(wire.lease, 'lease') } as Compare;
    default:
      return { ...base, target: wire.target } as unknown as Compare;
  }
}

function requestOpOf(wire: WireRequestOp, depth: number): RequestOp {
  switch (wire.request) {
    case 'request_range':
      return { type: 'range', request: rangeRequestOf(wire.request_range as WireRangeRequest) };
    case 'request_put':
      return { type: 'put', request: putRequestOf(wire.request_put as WirePutRequest) };
    case 'request_delete_range':
      return {
        type: 'deleteRange',
        request: deleteRangeRequestOf(wire.request_delete_range as WireDeleteRangeRequest),
      };
    case 'request_txn':
      return { type: 'txn', request: txnRequestOf(wire.request_txn as WireTxnRequest, depth + 1) };
    default:
      throw new InvalidArgumentError('Cannot run transaction: a request op holds no request');
  }
}

function txnRequestOf(wire: WireTxnRequest, depth: number): TxnRequest {
  // Checked here too, before the translation recurses any deeper than the validator allows.
  if (depth > TXN_DEPTH_MAX) {
    throw new InvalidArgumentError(
      `Cannot run transaction: transactions nest deeper than TXN_DEPTH_MAX (${TXN_DEPTH_MAX})`,
    );
  }
  return {
    compare: wire.compare.map(compareOf),
    success: wire.success.map((op) => requestOpOf(op, depth)),
    failure: wire.failure.map((op) => requestOpOf(op, depth)),
  };
}

function rangeResponseOf(response: RangeResponse, header: HeaderAt) {
  return {
    header: header(response.revision),
    kvs: response.kvs.map(wireKeyValueOf),
    more: response.more,
    count: response.count,
  };
}

function putResponseOf(response: PutResponse, header: HeaderAt) {
  return {
    header: header(response.revision),
    ...(response.prevKv === undefined ? {} : { prev_kv: wireKeyValueOf(response.prevKv) }),
  };
}

function deleteRangeResponseOf(response: DeleteRangeResponse, header: HeaderAt) {
  return {
    header: header(response.revision),
    deleted: response.deleted,
    prev_kvs: response.prevKvs.map(wireKeyValueOf),
  };
}

/** A txn's answer; each inner response carries the header of the txn with its own revision. */
function txnResponseOf(response: TxnResponse, header: HeaderAt): Record<string, unknown> {
  return {
    header: header(response.revision),
    succeeded: response.succeeded,
    responses: response.responses.map((op) => responseOpOf(op, revisionOnly)),
  };
}

function responseOpOf(op: ResponseOp, header: HeaderAt): Record<string, unknown> {
  switch (op.type) {
    case 'range':
      return { response_range: rangeResponseOf(op.response, header) };
    case 'put':
      return { response_put: putResponseOf(op.response, header) };
    case 'deleteRange':
      return { response_delete_range: deleteRangeResponseOf(op.response, header) };
    default:
      return { response_txn: txnResponseOf(op.response, header) };
  }
}
