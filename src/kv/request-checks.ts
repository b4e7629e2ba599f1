/**
 * Checks on a request that need no state: field ranges, sizes, counts. They
 * run before anything changes, so a bad request changes nothing.
 *
 * Types alone do not guard the store: commands arrive decoded from the
 * Raft log and from front doors written in plain JSON, so every field a
 * caller chooses is checked here again.
 *
 * @module
 */
import { InvalidArgumentError, LimitExceededError, TooLargeError } from '../base/errors.ts';
import { KEY_BYTES_MAX, REQUEST_BYTES_MAX } from './limits.ts';
import type { Compare, DeleteRangeRequest, Fence, PutRequest, RangeRequest } from './types.ts';

const SORT_ORDERS: ReadonlySet<string> = new Set(['none', 'ascend', 'descend']);
const SORT_TARGETS: ReadonlySet<string> = new Set(['key', 'version', 'create', 'mod', 'value']);
const COMPARE_RESULTS: ReadonlySet<string> = new Set(['equal', 'notEqual', 'less', 'greater']);

/** A key for a message: printable ASCII as text, anything else as hex; long keys cut. */
export function describeKey(key: Uint8Array): string {
  const shown = key.subarray(0, 48);
  const printable = shown.every((byte) => byte >= 0x20 && byte < 0x7f);
  const text = printable
    ? JSON.stringify(String.fromCharCode(...shown))
    : `0x${Array.from(shown, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
  return key.length > shown.length ? `${text}… (${key.length} bytes)` : text;
}

/**
 * Counts the bytes of one command (keys, range ends, values, compare
 * operands), so that the whole command stays under {@link REQUEST_BYTES_MAX}.
 */
export class RequestBudget {
  #bytes = 0;
  readonly #action: string;

  /** @param action what the command does, for messages ("put", "run transaction"). */
  constructor(action: string) {
    this.#action = action;
  }

  /**
   * Adds `bytes` to the command's size.
   *
   * @throws {TooLargeError} past {@link REQUEST_BYTES_MAX}.
   */
  spend(bytes: number): void {
    this.#bytes += bytes;
    if (this.#bytes > REQUEST_BYTES_MAX) {
      throw new TooLargeError(
        `Cannot ${this.#action}: the request holds more than ${REQUEST_BYTES_MAX} bytes of keys and values (REQUEST_BYTES_MAX)`,
        { details: { limit: REQUEST_BYTES_MAX } },
      );
    }
  }
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/**
 * Checks a key: bytes, not empty, at most {@link KEY_BYTES_MAX}.
 *
 * @throws {InvalidArgumentError} when it is not.
 */
export function checkKey(action: string, key: Uint8Array, budget: RequestBudget): void {
  if (!isBytes(key)) throw new InvalidArgumentError(`Cannot ${action}: the key must be bytes`);
  if (key.length === 0) {
    throw new InvalidArgumentError(`Cannot ${action}: the key is empty`, {
      details: { reason: 'EMPTY_KEY' },
    });
  }
  checkKeyLength(action, 'key', key);
  budget.spend(key.length);
}

function checkKeyLength(action: string, field: string, bytes: Uint8Array): void {
  if (bytes.length > KEY_BYTES_MAX) {
    throw new LimitExceededError(
      `Cannot ${action}: the ${field} is ${bytes.length} bytes, more than KEY_BYTES_MAX (${KEY_BYTES_MAX})`,
      { details: { limit: KEY_BYTES_MAX } },
    );
  }
}

function checkRangeEnd(action: string, rangeEnd: Uint8Array | undefined, budget: RequestBudget): void {
  if (rangeEnd === undefined) return;
  if (!isBytes(rangeEnd)) throw new InvalidArgumentError(`Cannot ${action}: rangeEnd must be bytes`);
  checkKeyLength(action, 'rangeEnd', rangeEnd);
  budget.spend(rangeEnd.length);
}

/**
 * Checks a count or revision field: absent, or a safe integer `>= 0`.
 *
 * @throws {InvalidArgumentError} when it is not.
 */
export function checkNonNegative(action: string, field: string, value: number | undefined): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(
      `Cannot ${action}: ${field} must be an integer >= 0, got ${describeValue(value)}`,
    );
  }
}

/**
 * A caller's value for a message. Not `String(value)`: a map decoded from
 * MessagePack may carry a `toString` field that is not a function, and
 * `String` would throw a `TypeError` on it.
 */
function describeValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || value === undefined) return String(value);
  if (value instanceof Uint8Array) return 'bytes';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a map' : `a ${typeof value}`;
}

function checkFlag(action: string, field: string, value: boolean | undefined): void {
  if (value !== undefined && typeof value !== 'boolean') {
    throw new InvalidArgumentError(`Cannot ${action}: ${field} must be a boolean`);
  }
}

/** @throws {InvalidArgumentError} or {LimitExceededError} or {TooLargeError} on a bad range. */
export function checkRangeRequest(request: RangeRequest, budget: RequestBudget): void {
  const action = 'read range';
  checkKey(action, request.key, budget);
  checkRangeEnd(action, request.rangeEnd, budget);
  for (const field of [
    'limit',
    'revision',
    'minModRevision',
    'maxModRevision',
    'minCreateRevision',
    'maxCreateRevision',
  ] as const) {
    checkNonNegative(action, field, request[field]);
  }
  if (request.sortOrder !== undefined && !SORT_ORDERS.has(request.sortOrder)) {
    throw new InvalidArgumentError(
      `Cannot ${action}: unknown sortOrder ${JSON.stringify(request.sortOrder)}`,
    );
  }
  if (request.sortTarget !== undefined && !SORT_TARGETS.has(request.sortTarget)) {
    throw new InvalidArgumentError(
      `Cannot ${action}: unknown sortTarget ${JSON.stringify(request.sortTarget)}`,
    );
  }
  checkFlag(action, 'keysOnly', request.keysOnly);
  checkFlag(action, 'countOnly', request.countOnly);
}

/**
 * Checks the span of a request that names only a span (a history read, a
 * watch): the key as {@link checkKey}, the range end as a range's.
 *
 * @throws {InvalidArgumentError} or {LimitExceededError} on a bad span.
 */
export function checkSpan(action: string, key: Uint8Array, rangeEnd: Uint8Array | undefined): void {
  const budget = new RequestBudget(action);
  checkKey(action, key, budget);
  checkRangeEnd(action, rangeEnd, budget);
}

/**
 * Checks an optional flag: absent or a boolean.
 *
 * @throws {InvalidArgumentError} when it is something else.
 */
export function checkOptionalFlag(action: string, field: string, value: boolean | undefined): void {
  checkFlag(action, field, value);
}

/**
 * Checks a write's fence, when it has one: a map with a lock name (bytes,
 * not empty, short enough that its keys fit {@link KEY_BYTES_MAX}) and a
 * token (a revision, so an integer >= 1).
 *
 * @throws {InvalidArgumentError} or {LimitExceededError} when it is bad.
 */
export function checkFence(action: string, fence: Fence | undefined, budget: RequestBudget): void {
  if (fence === undefined) return;
  if (typeof fence !== 'object' || fence === null) {
    throw new InvalidArgumentError(`Cannot ${action}: fence must be { lock, token }`);
  }
  if (!isBytes(fence.lock)) throw new InvalidArgumentError(`Cannot ${action}: fence.lock must be bytes`);
  if (fence.lock.length === 0) throw new InvalidArgumentError(`Cannot ${action}: fence.lock is empty`);
  // The lock's keys are `lock/<id>`: a name that leaves no room for them names no lock.
  checkKeyLength(action, 'fence.lock', fence.lock);
  budget.spend(fence.lock.length);
  if (!Number.isSafeInteger(fence.token) || fence.token < 1) {
    throw new InvalidArgumentError(
      `Cannot ${action}: fence.token must be an integer >= 1 (a lock key's create revision), got ${describeValue(fence.token)}`,
    );
  }
}

/** @throws {InvalidArgumentError} or {LimitExceededError} or {TooLargeError} on a bad put. */
export function checkPutRequest(request: PutRequest, budget: RequestBudget): void {
  const action = 'put';
  checkKey(action, request.key, budget);
  const value = request.value;
  if (value !== undefined) {
    if (!isBytes(value)) throw new InvalidArgumentError(`Cannot ${action}: the value must be bytes`);
    budget.spend(value.length);
  }
  checkNonNegative(action, 'lease', request.lease);
  checkFlag(action, 'prevKv', request.prevKv);
  checkFlag(action, 'ignoreValue', request.ignoreValue);
  checkFlag(action, 'ignoreLease', request.ignoreLease);
  checkFence(action, request.fence, budget);
  // etcd: ErrGRPCValueProvided, ErrGRPCLeaseProvided.
  if (request.ignoreValue === true && value !== undefined && value.length > 0) {
    throw new InvalidArgumentError(`Cannot ${action}: a value is given with ignoreValue`, {
      details: { reason: 'VALUE_PROVIDED' },
    });
  }
  if (request.ignoreLease === true && (request.lease ?? 0) !== 0) {
    throw new InvalidArgumentError(`Cannot ${action}: a lease is given with ignoreLease`, {
      details: { reason: 'LEASE_PROVIDED' },
    });
  }
}

/** @throws {InvalidArgumentError} or {LimitExceededError} or {TooLargeError} on a bad delete. */
export function checkDeleteRangeRequest(request: DeleteRangeRequest, budget: RequestBudget): void {
  const action = 'delete range';
  checkKey(action, request.key, budget);
  checkRangeEnd(action, request.rangeEnd, budget);
  checkFlag(action, 'prevKv', request.prevKv);
  checkFence(action, request.fence, budget);
}

/** @throws {InvalidArgumentError} or {LimitExceededError} or {TooLargeError} on a bad compare. */
export function checkCompare(compare: Compare, budget: RequestBudget): void {
  const action = 'run transaction';
  checkKey(action, compare.key, budget);
  checkRangeEnd(action, compare.rangeEnd, budget);
  if (!COMPARE_RESULTS.has(compare.result)) {
    throw new InvalidArgumentError(
      `Cannot ${action}: unknown compare result ${JSON.stringify(compare.result)}`,
    );
  }
  switch (compare.target) {
    case 'value':
      if (!isBytes(compare.value))
        throw new InvalidArgumentError(`Cannot ${action}: a value compare needs bytes`);
      budget.spend(compare.value.length);
      return;
    case 'version':
      checkCompareNumber(compare.version, 'version');
      return;
    case 'createRevision':
      checkCompareNumber(compare.createRevision, 'createRevision');
      return;
    case 'modRevision':
      checkCompareNumber(compare.modRevision, 'modRevision');
      return;
    case 'lease':
      checkCompareNumber(compare.lease, 'lease');
      return;
    default:
      throw new InvalidArgumentError(
        `Cannot ${action}: unknown compare target ${JSON.stringify((compare as { target: unknown }).target)}`,
      );
  }
}

function checkCompareNumber(value: number, field: string): void {
  // etcd compares int64s, negative ones included; the store keeps safe integers.
  if (!Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(
      `Cannot run transaction: compare ${field} must be an integer, got ${describeValue(value)}`,
    );
  }
}
