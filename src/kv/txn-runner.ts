/**
 * Running a checked transaction, in etcd's three steps (`applyTxn`): decide
 * the path (every compare, nested ones included, against the state before
 * the transaction: etcd's `compareToPath`), check every request on that
 * path against the state (etcd's `checkRequests`), then run it. Only the
 * last step writes, and nothing in it can fail: all or nothing.
 *
 * @module
 */
import { compareHolds } from './compare.ts';
import { checkFenceAgainstState } from './fence.ts';
import { readRange } from './range-reader.ts';
import type { RevisionWriter } from './revision-writer.ts';
import { readRevisionOf, type StoreState } from './store-state.ts';
import type { RequestOp, ResponseOp, TxnRequest, TxnResponse } from './types.ts';
import { checkPutAgainstState, executeDeleteRange, executePut } from './write-ops.ts';

/** The branch a transaction takes, and the branches of the transactions nested in it. */
export interface TxnPlan {
  readonly succeeded: boolean;
  readonly ops: readonly RequestOp[];
  /** The plan of each nested transaction, by its place in `ops`. */
  readonly nested: ReadonlyMap<number, TxnPlan>;
}

/** Decides every branch at `revision`, before anything is written. */
export function planTxn(state: StoreState, request: TxnRequest, revision: number): TxnPlan {
  const succeeded = (request.compare ?? []).every((compare) => compareHolds(state.index, compare, revision));
  const ops = (succeeded ? request.success : request.failure) ?? [];
  const nested = new Map<number, TxnPlan>();
  ops.forEach((op, place) => {
    if (op.type === 'txn') nested.set(place, planTxn(state, op.request, revision));
  });
  return { succeeded, ops, nested };
}

/**
 * Checks every request of the path against the state before the
 * transaction: leases and keys a put needs, revisions a range reads at.
 *
 * @throws {InvalidArgumentError} or {CompactedError} when one fails.
 */
export function checkTxnPlan(state: StoreState, plan: TxnPlan): void {
  plan.ops.forEach((op, place) => {
    switch (op.type) {
      case 'put':
        checkPutAgainstState(state, op.request);
        checkFenceAgainstState(state, op.request.fence, 'run transaction');
        return;
      case 'range':
        readRevisionOf(state, op.request.revision ?? 0, state.revision);
        return;
      case 'deleteRange':
        checkFenceAgainstState(state, op.request.fence, 'run transaction');
        return;
      case 'txn':
        checkFenceAgainstState(state, op.request.fence, 'run transaction');
        checkTxnPlan(state, plan.nested.get(place) as TxnPlan);
        return;
    }
  });
}

/**
 * Runs a checked path. A range sees the writes before it, at the revision
 * being written (etcd: `beginRev + 1` once the transaction changed
 * something); `revision` in the reply is that revision too.
 */
export function executeTxnPlan(state: StoreState, writer: RevisionWriter, plan: TxnPlan): TxnResponse {
  const responses = plan.ops.map((op, place) => executeOp(state, writer, op, plan.nested.get(place)));
  return { revision: writer.readRevision, succeeded: plan.succeeded, responses };
}

function executeOp(
  state: StoreState,
  writer: RevisionWriter,
  op: RequestOp,
  nested: TxnPlan | undefined,
): ResponseOp {
  switch (op.type) {
    case 'range': {
      const current = writer.readRevision;
      const revision =
        op.request.revision === undefined || op.request.revision === 0 ? current : op.request.revision;
      return {
        type: 'range',
        response: readRange(state.index, op.request, revision, current, state.limits),
      };
    }
    case 'put':
      return { type: 'put', response: executePut(state, writer, op.request) };
    case 'deleteRange':
      return { type: 'deleteRange', response: executeDeleteRange(state, writer, op.request) };
    case 'txn':
      return { type: 'txn', response: executeTxnPlan(state, writer, nested as TxnPlan) };
  }
}
