/**
 * The checks a transaction passes before it runs that need no state: sizes,
 * counts, nesting, and that no key is written twice.
 *
 * Written twice (etcd's "duplicate key given in txn request"): two puts of
 * one key, or a put of a key that a delete-range of the same transaction
 * covers, when both could run together. The `success` and `failure` of one
 * transaction never run together, so a key may be put in both. Overlapping
 * delete-ranges are allowed, as etcd allows them: the later one finds the
 * key gone. This is etcd's `checkIntervals`, made order-independent: etcd
 * misses a put in one nested transaction against a delete in a later
 * sibling; here any two requests that could run together are checked.
 *
 * @module
 */
import { InvalidArgumentError, LimitExceededError } from '../base/errors.ts';
import { type KeySpan, keyIdOf, keyOfId, keySpanHas, keySpanOf } from './key-span.ts';
import { TXN_DEPTH_MAX, TXN_OPS_MAX, TXN_OPS_TOTAL_MAX } from './limits.ts';
import {
  checkCompare,
  checkDeleteRangeRequest,
  checkFence,
  checkPutRequest,
  checkRangeRequest,
  describeKey,
  type RequestBudget,
} from './request-checks.ts';
import type { RequestOp, TxnRequest } from './types.ts';

const ACTION = 'run transaction';

/** The keys a request list may put, and the spans it may delete. */
interface WriteSet {
  readonly puts: readonly string[];
  readonly deletes: readonly KeySpan[];
}

const NO_WRITES: WriteSet = { puts: [], deletes: [] };

/** Counts requests over a whole transaction tree, against {@link TXN_OPS_TOTAL_MAX}. */
class OpCounter {
  total = 0;

  add(count: number): void {
    this.total += count;
    if (this.total > TXN_OPS_TOTAL_MAX) {
      throw new LimitExceededError(
        `Cannot ${ACTION}: it holds more than ${TXN_OPS_TOTAL_MAX} compares and requests in all (TXN_OPS_TOTAL_MAX)`,
        { details: { limit: TXN_OPS_TOTAL_MAX, reason: 'TOO_MANY_OPS' } },
      );
    }
  }
}

function checkListLength(name: string, list: readonly unknown[] | undefined): void {
  if (list === undefined) return;
  if (!Array.isArray(list)) throw new InvalidArgumentError(`Cannot ${ACTION}: ${name} must be a list`);
  if (list.length > TXN_OPS_MAX) {
    throw new LimitExceededError(
      `Cannot ${ACTION}: ${name} holds ${list.length} entries, more than TXN_OPS_MAX (${TXN_OPS_MAX})`,
      { details: { limit: TXN_OPS_MAX, reason: 'TOO_MANY_OPS' } },
    );
  }
}

/**
 * Checks a whole transaction, nested ones included, before anything runs.
 *
 * @throws {InvalidArgumentError} on a bad field or a key written twice.
 * @throws {LimitExceededError} past {@link TXN_OPS_MAX}, {@link TXN_OPS_TOTAL_MAX},
 * {@link TXN_DEPTH_MAX} or a key length limit.
 * @throws {TooLargeError} past `REQUEST_BYTES_MAX`.
 */
export function checkTxnRequest(request: TxnRequest, budget: RequestBudget): void {
  checkTxnLevel(request, budget, new OpCounter(), 1);
}

function checkTxnLevel(
  request: TxnRequest,
  budget: RequestBudget,
  counter: OpCounter,
  depth: number,
): WriteSet {
  if (depth > TXN_DEPTH_MAX) {
    throw new LimitExceededError(
      `Cannot ${ACTION}: transactions nest deeper than TXN_DEPTH_MAX (${TXN_DEPTH_MAX})`,
      { details: { limit: TXN_DEPTH_MAX } },
    );
  }
  checkListLength('compare', request.compare);
  checkListLength('success', request.success);
  checkFence(ACTION, request.fence, budget);
  checkListLength('failure', request.failure);
  const compares = request.compare ?? [];
  counter.add(compares.length);
  for (const compare of compares) checkCompare(compare, budget);
  const success = checkOps(request.success ?? [], budget, counter, depth);
  const failure = checkOps(request.failure ?? [], budget, counter, depth);
  // The two branches never run together: a key may be put in both.
  return {
    puts: [...new Set([...success.puts, ...failure.puts])],
    deletes: [...success.deletes, ...failure.deletes],
  };
}

function checkOps(
  ops: readonly RequestOp[],
  budget: RequestBudget,
  counter: OpCounter,
  depth: number,
): WriteSet {
  counter.add(ops.length);
  const members = ops.map((op) => checkOp(op, budget, counter, depth));
  checkNoKeyWrittenTwice(members);
  return {
    puts: members.flatMap((member) => member.puts),
    deletes: members.flatMap((member) => member.deletes),
  };
}

function checkOp(op: RequestOp, budget: RequestBudget, counter: OpCounter, depth: number): WriteSet {
  switch (op.type) {
    case 'range':
      checkRangeRequest(op.request, budget);
      return NO_WRITES;
    case 'put':
      checkPutRequest(op.request, budget);
      return { puts: [keyIdOf(op.request.key)], deletes: [] };
    case 'deleteRange':
      checkDeleteRangeRequest(op.request, budget);
      return { puts: [], deletes: [keySpanOf(op.request.key, op.request.rangeEnd)] };
    case 'txn':
      return checkTxnLevel(op.request, budget, counter, depth + 1);
    default:
      throw new InvalidArgumentError(
        `Cannot ${ACTION}: unknown request type ${JSON.stringify((op as { type: unknown }).type)}`,
      );
  }
}

/** Requests of one list all run together: no two of them may write one key. */
function checkNoKeyWrittenTwice(members: readonly WriteSet[]): void {
  const putBy = new Map<string, number>();
  members.forEach((member, index) => {
    for (const keyId of member.puts) {
      if (putBy.has(keyId)) duplicate(keyId, 'put twice');
      putBy.set(keyId, index);
    }
  });
  if (putBy.size === 0) return;
  members.forEach((member, index) => {
    for (const span of member.deletes) {
      for (const [keyId, putter] of putBy) {
        if (putter !== index && keySpanHas(span, keyId)) duplicate(keyId, 'both put and deleted');
      }
    }
  });
}

function duplicate(keyId: string, how: string): never {
  throw new InvalidArgumentError(
    `Cannot ${ACTION}: key ${describeKey(keyOfId(keyId))} is ${how} (duplicate key given in txn request)`,
    { details: { reason: 'DUPLICATE_KEY' } },
  );
}
