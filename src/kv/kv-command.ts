/**
 * The commands the KV state machine applies (what a Raft log entry holds,
 * as etcd's `InternalRaftRequest`), and their MessagePack encoding.
 *
 * {@link decodeCommand} is a trust boundary: it takes bytes from the log or
 * the wire and returns a command of exactly the documented shape, with
 * fresh byte arrays, or throws a typed error. It checks shape (fields,
 * types, integers, known names); the store checks meaning (ranges, limits,
 * state) when the command is applied.
 *
 * @module
 */
import { InvalidArgumentError, ProtocolError, TooLargeError } from '../base/errors.ts';
import { decode, encode } from '../codec/msgpack.ts';
import { copyBytes } from './key-span.ts';
import { REQUEST_BYTES_MAX, TXN_DEPTH_MAX } from './limits.ts';
import {
  checkDeleteRangeRequest,
  checkPutRequest,
  checkRangeRequest,
  RequestBudget,
} from './request-checks.ts';
import { checkTxnRequest } from './txn-check.ts';
import type {
  CompactionRequest,
  Compare,
  DeleteRangeRequest,
  Fence,
  LeaseCheckpointRequest,
  LeaseGrantRequest,
  LeaseKeepAliveRequest,
  LeaseKeepAlivesRequest,
  LeaseRevokeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from './types.ts';

/** One command for the KV state machine. */
export type KvCommand =
  | { readonly type: 'range'; readonly request: RangeRequest }
  | { readonly type: 'put'; readonly request: PutRequest }
  | { readonly type: 'deleteRange'; readonly request: DeleteRangeRequest }
  | { readonly type: 'txn'; readonly request: TxnRequest }
  | { readonly type: 'compact'; readonly request: CompactionRequest }
  | { readonly type: 'leaseGrant'; readonly request: LeaseGrantRequest }
  | { readonly type: 'leaseRevoke'; readonly request: LeaseRevokeRequest }
  | { readonly type: 'leaseKeepAlive'; readonly request: LeaseKeepAliveRequest }
  | { readonly type: 'leaseKeepAlives'; readonly request: LeaseKeepAlivesRequest }
  | { readonly type: 'leaseCheckpoint'; readonly request: LeaseCheckpointRequest };

/**
 * Largest encoded command: a request's keys and values
 * (`REQUEST_BYTES_MAX`) plus room for field names and numbers.
 */
export const COMMAND_BYTES_MAX = REQUEST_BYTES_MAX + 512 * 1024;

/**
 * Encodes a command as one MessagePack value.
 *
 * @example
 * ```ts
 * const entry = encodeCommand({ type: 'put', request: { key, value } });
 * decodeCommand(entry); // the same command
 * ```
 */
export function encodeCommand(command: KvCommand): Uint8Array {
  return encode(command);
}

type Fields = Record<string, unknown>;

function bad(path: string, message: string): never {
  throw new ProtocolError(`Cannot decode KV command: ${path} ${message}`);
}

/** The object at `path` with only the named fields (fields set to nil count as absent). */
function object(value: unknown, path: string, allowed: readonly string[]): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    bad(path, 'must be a map');
  }
  const fields = value as Fields;
  // for-in, not Object.keys: no array per call (a decoded map has no inherited enumerable keys).
  for (const name in fields) {
    if (!allowed.includes(name) && fields[name] !== undefined) bad(`${path}.${name}`, 'is not a known field');
  }
  return fields;
}

/** Reads one field's value; `path` names it in the error. */
type Reader = (value: unknown, path: string) => unknown;

/**
 * A request's readers by field name, with the names, and each field's path
 * in a top-level request, worked out once rather than per call: per call,
 * the lists and paths were about 5% of the bytes a member serving etcd3 gets
 * allocated.
 */
interface Readers {
  readonly names: readonly string[];
  readonly fields: readonly { readonly name: string; readonly read: Reader; readonly requestPath: string }[];
}

function readers(table: Record<string, Reader>): Readers {
  return {
    names: Object.keys(table),
    fields: Object.entries(table).map(([name, read]) => ({ name, read, requestPath: `request.${name}` })),
  };
}

/** Builds a request from the fields present, each read by its reader. */
function pick<T>(fields: Fields, path: string, readers: Readers): T {
  const result: Fields = {};
  for (const field of readers.fields) {
    const value = fields[field.name];
    if (value === undefined || value === null) continue;
    result[field.name] = field.read(value, path === 'request' ? field.requestPath : `${path}.${field.name}`);
  }
  return result as T;
}

function bytes(value: unknown, path: string): Uint8Array {
  if (!(value instanceof Uint8Array)) bad(path, 'must be bytes');
  return copyBytes(value);
}

function integer(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) bad(path, 'must be a safe integer');
  return value;
}

function flag(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') bad(path, 'must be a boolean');
  return value;
}

function oneOf(...names: string[]): (value: unknown, path: string) => string {
  return (value, path) => {
    if (typeof value !== 'string' || !names.includes(value)) bad(path, `must be one of ${names.join(', ')}`);
    return value;
  };
}

function listOf<T>(read: (value: unknown, path: string) => T): (value: unknown, path: string) => T[] {
  return (value, path) => {
    if (!Array.isArray(value)) bad(path, 'must be a list');
    // Array.from, not map: map skips the holes of a sparse list, which would pass unchecked.
    return Array.from(value, (item, index) => read(item, `${path}[${index}]`));
  };
}

const RANGE_READERS = readers({
  key: bytes,
  rangeEnd: bytes,
  limit: integer,
  revision: integer,
  sortOrder: oneOf('none', 'ascend', 'descend'),
  sortTarget: oneOf('key', 'version', 'create', 'mod', 'value'),
  keysOnly: flag,
  countOnly: flag,
  minModRevision: integer,
  maxModRevision: integer,
  minCreateRevision: integer,
  maxCreateRevision: integer,
});
const PUT_READERS = readers({
  key: bytes,
  value: bytes,
  lease: integer,
  prevKv: flag,
  ignoreValue: flag,
  ignoreLease: flag,
  fence,
});
const DELETE_RANGE_READERS = readers({ key: bytes, rangeEnd: bytes, prevKv: flag, fence });
const COMPARE_OPERANDS = {
  version: integer,
  createRevision: integer,
  modRevision: integer,
  value: bytes,
  lease: integer,
} as const;

function fence(value: unknown, path: string): Fence {
  const fields = object(value, path, ['lock', 'token']);
  return {
    lock: bytes(required(fields, path, 'lock'), `${path}.lock`),
    token: integer(required(fields, path, 'token'), `${path}.token`),
  };
}

function request<T>(value: unknown, path: string, fieldReaders: Readers): T {
  const fields = object(value, path, fieldReaders.names);
  required(fields, path, 'key');
  return pick<T>(fields, path, fieldReaders);
}

type CompareOperand = keyof typeof COMPARE_OPERANDS;
const COMPARE_OPERAND_NAMES = Object.keys(COMPARE_OPERANDS) as CompareOperand[];
const COMPARE_FIELD_NAMES = ['target', 'result', 'key', 'rangeEnd', ...COMPARE_OPERAND_NAMES];
const compareTarget = oneOf(...COMPARE_OPERAND_NAMES);
/** Per target, a compare's readers: only the operand its target names (etcd's `target_union` is a oneof). */
const COMPARE_READERS = Object.fromEntries(
  COMPARE_OPERAND_NAMES.map((operand) => [
    operand,
    readers({
      target: oneOf(operand),
      result: oneOf('equal', 'notEqual', 'less', 'greater'),
      key: bytes,
      rangeEnd: bytes,
      [operand]: COMPARE_OPERANDS[operand],
    }),
  ]),
) as Record<CompareOperand, Readers>;

function compare(value: unknown, path: string): Compare {
  const all = object(value, path, COMPARE_FIELD_NAMES);
  const operand = compareTarget(all['target'], `${path}.target`) as CompareOperand;
  const compareReaders = COMPARE_READERS[operand];
  const fields = object(value, path, compareReaders.names);
  required(fields, path, 'key');
  required(fields, path, 'result');
  required(fields, path, operand);
  return pick<Compare>(fields, path, compareReaders);
}

function txn(value: unknown, path: string, depth: number): TxnRequest {
  if (depth > TXN_DEPTH_MAX) bad(path, `nests transactions deeper than TXN_DEPTH_MAX (${TXN_DEPTH_MAX})`);
  const fields = object(value, path, ['compare', 'success', 'failure', 'fence']);
  const op = (item: unknown, itemPath: string) => requestOp(item, itemPath, depth);
  return pick<TxnRequest>(
    fields,
    path,
    readers({
      compare: listOf(compare),
      success: listOf(op),
      failure: listOf(op),
      fence,
    }),
  );
}

function requestOp(value: unknown, path: string, depth: number): RequestOp {
  const fields = object(value, path, ['type', 'request']);
  const type = oneOf('range', 'put', 'deleteRange', 'txn')(fields['type'], `${path}.type`);
  const body = fields['request'];
  const bodyPath = `${path}.request`;
  switch (type) {
    case 'range':
      return { type, request: request<RangeRequest>(body, bodyPath, RANGE_READERS) };
    case 'put':
      return { type, request: request<PutRequest>(body, bodyPath, PUT_READERS) };
    case 'deleteRange':
      return { type, request: request<DeleteRangeRequest>(body, bodyPath, DELETE_RANGE_READERS) };
    default:
      return { type: 'txn', request: txn(body, bodyPath, depth + 1) };
  }
}

function required(fields: Fields, path: string, name: string): unknown {
  const value = fields[name];
  if (value === undefined || value === null) bad(`${path}.${name}`, 'is missing');
  return value;
}

/**
 * Decodes and shape-checks a command made by {@link encodeCommand}. Byte
 * fields come back as fresh `Uint8Array`s that share nothing with `data`.
 *
 * @throws {TooLargeError} when `data` passes {@link COMMAND_BYTES_MAX}.
 * @throws {ProtocolError} when `data` is not MessagePack, or not a command.
 */
export function decodeCommand(data: Uint8Array): KvCommand {
  if (data.length > COMMAND_BYTES_MAX) {
    throw new TooLargeError(
      `Cannot decode KV command: it is ${data.length} bytes, more than COMMAND_BYTES_MAX (${COMMAND_BYTES_MAX})`,
      { details: { limit: COMMAND_BYTES_MAX } },
    );
  }
  return commandFrom(decode(data));
}

/**
 * A front door's request as a checked command of `type`; a malformed one is
 * an `InvalidArgumentError` (the caller's mistake, not a broken peer).
 *
 * @throws {InvalidArgumentError} when `request` is not a request of `type`.
 * @throws {TooLargeError} when a write encodes to more than
 * {@link COMMAND_BYTES_MAX}: {@link decodeCommand} would refuse it on every
 * member, after it had taken its place in the log. A range never enters
 * the log (reads are served by ReadIndex or locally), so it is not encoded
 * to be measured: that encoding was 4% of a member's CPU serving reads.
 */
export function checkedCommand(type: KvCommand['type'], request: unknown): KvCommand {
  let command: KvCommand;
  try {
    command = commandFrom({ type, request });
  } catch (error) {
    if (error instanceof ProtocolError) throw new InvalidArgumentError(error.message);
    throw error;
  }
  checkRequestAlone(command);
  if (command.type === 'range') return command;
  const bytes = encodeCommand(command).length;
  if (bytes > COMMAND_BYTES_MAX) {
    throw new TooLargeError(
      `Cannot accept the ${type} request: its command is ${bytes} bytes, more than COMMAND_BYTES_MAX (${COMMAND_BYTES_MAX})`,
      { details: { limit: COMMAND_BYTES_MAX } },
    );
  }
  return command;
}

/**
 * The store's checks of a request by itself (key and request sizes, txn
 * operation counts and depth), so that a request the store would refuse
 * whatever its state never takes a place in the log.
 */
function checkRequestAlone(command: KvCommand): void {
  if (command.type === 'range') checkRangeRequest(command.request, new RequestBudget('read range'));
  else if (command.type === 'put') checkPutRequest(command.request, new RequestBudget('put'));
  else if (command.type === 'deleteRange')
    checkDeleteRangeRequest(command.request, new RequestBudget('delete range'));
  else if (command.type === 'txn') checkTxnRequest(command.request, new RequestBudget('run transaction'));
}

/**
 * Shape-checks a command already decoded from MessagePack (a front door's
 * request): the checks of {@link decodeCommand} without the decoding.
 *
 * @throws {ProtocolError} when `value` is not a command.
 */
export function commandFrom(value: unknown): KvCommand {
  const fields = object(value, 'the command', ['type', 'request']);
  const types = [
    'range',
    'put',
    'deleteRange',
    'txn',
    'compact',
    'leaseGrant',
    'leaseRevoke',
    'leaseKeepAlive',
    'leaseKeepAlives',
    'leaseCheckpoint',
  ];
  const type = oneOf(...types)(fields['type'], 'type');
  const body = fields['request'];
  switch (type) {
    case 'range':
      return { type, request: request<RangeRequest>(body, 'request', RANGE_READERS) };
    case 'put':
      return { type, request: request<PutRequest>(body, 'request', PUT_READERS) };
    case 'deleteRange':
      return { type, request: request<DeleteRangeRequest>(body, 'request', DELETE_RANGE_READERS) };
    case 'txn':
      return { type, request: txn(body, 'request', 1) };
    case 'compact': {
      const compact = object(body, 'request', ['revision']);
      return {
        type,
        request: { revision: integer(required(compact, 'request', 'revision'), 'request.revision') },
      };
    }
    case 'leaseGrant': {
      const grant = object(body, 'request', ['id', 'ttl']);
      const id = integer(required(grant, 'request', 'id'), 'request.id');
      return { type, request: { id, ttl: integer(required(grant, 'request', 'ttl'), 'request.ttl') } };
    }
    case 'leaseRevoke':
    case 'leaseKeepAlive': {
      const lease = object(body, 'request', ['id']);
      return { type, request: { id: integer(required(lease, 'request', 'id'), 'request.id') } };
    }
    case 'leaseKeepAlives': {
      const leases = object(body, 'request', ['ids']);
      const ids = listOf((item, path) => integer(item, path))(
        required(leases, 'request', 'ids'),
        'request.ids',
      );
      return { type, request: { ids } };
    }
    default: {
      const checkpoint = object(body, 'request', ['checkpoints']);
      const checkpoints = listOf((item, path) => {
        const entry = object(item, path, ['id', 'remainingTtl']);
        return {
          id: integer(required(entry, path, 'id'), `${path}.id`),
          remainingTtl: integer(required(entry, path, 'remainingTtl'), `${path}.remainingTtl`),
        };
      })(required(checkpoint, 'request', 'checkpoints'), 'request.checkpoints');
      return { type: 'leaseCheckpoint', request: { checkpoints } };
    }
  }
}
