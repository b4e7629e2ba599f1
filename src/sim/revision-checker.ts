/**
 * The revision checker: holds every call that took effect to the store's
 * committed history of revisions ({@link RevisionHistory}), rather than
 * searching for a linearization.
 *
 * Every mutation has a place in one total order, its revision, so a history
 * is linearizable exactly when each call can be given a point in that order
 * which its answer agrees with and which respects real time. A call's point
 * is the revision its answer carries (etcd's `header.revision`): a write
 * sits at the revision it made, anything else (a read, a write that changed
 * nothing) just after the revision it saw. Then:
 *
 * - Results. A get, a range or a failed transaction answers the state at
 *   its revision R: for a range, exactly the keys under its prefix with
 *   their values, create and mod revisions, versions and leases, cut at its
 *   limit, with `count` and `more`. A transaction's `succeeded` is its
 *   compares evaluated on the state before it (R - 1 when it wrote, R when
 *   it did not), and its writes are exactly the changes of revision R, all
 *   of them and nothing else: one revision. That holds for a transaction of
 *   unknown outcome that was applied too. No log entry makes more than one
 *   revision.
 * - Real time. A call that returned before another was called has the
 *   earlier point: a read's R is at least the revision of every call that
 *   returned before it was called, a write's revision above it. Serializable
 *   reads are not linearizable; only their results are checked. That R is
 *   no newer than what was committed when the call returned is checked as
 *   it returns (`sim-revisions.ts`).
 *
 * Checking these is linear in the history (after a sort), however many
 * calls overlap or have unknown outcomes, which is why ranges and multi-key
 * transactions are checked here and not by the per-key search. It trusts
 * the revision each answer reports; a wrong one shows up as a result that
 * does not match the state there, or as an order real time forbids.
 *
 * @module
 */
import type { KvView, RangeInput, RangeOutput, TxnCompare, TxnInput, TxnOutput } from './kv-range-txn.ts';
import type { KeyChange, RevisionHistory } from './revision-history.ts';
import type { HistoryOperation } from './simulation.ts';

/** Violations reported at most per history; the first one is the one printed. */
export const REVISION_VIOLATIONS_MAX = 10;

/** A call with where it took effect. */
export interface RevisionedOperation {
  readonly operation: HistoryOperation;
  /**
   * The store's revision once the call's log entry applied, or the revision
   * a read was served at; undefined when no member applied it (or a read
   * was never served).
   */
  readonly revision: number | undefined;
  /** The revisions the call's log entry made: none for a read or a write that changed nothing. */
  readonly wrote: readonly number[];
  /** Whether the call promises linearizability (a serializable read does not). */
  readonly linearizable: boolean;
}

/** What the checker checked, for the run's summary. */
export interface RevisionCheckStats {
  /** Ranges answered and checked against the state at their revision. */
  ranges: number;
  /** Transactions answered, by outcome, and checked. */
  txnsSucceeded: number;
  txnsFailed: number;
  /** Calls placed in the order of revisions and checked against real time. */
  ordered: number;
}

/** What {@link checkRevisions} found. */
export interface RevisionCheckResult {
  readonly violations: string[];
  readonly stats: RevisionCheckStats;
}

/**
 * Checks calls against the committed revisions (see the module doc).
 *
 * @example
 * ```ts
 * const { violations } = checkRevisions(operations, revisionHistory);
 * ```
 */
export function checkRevisions(
  operations: readonly RevisionedOperation[],
  history: RevisionHistory,
): RevisionCheckResult {
  const violations: string[] = [];
  const stats: RevisionCheckStats = { ranges: 0, txnsSucceeded: 0, txnsFailed: 0, ordered: 0 };
  for (const operation of operations) {
    const violation = checkResult(operation, history, stats);
    if (violation !== undefined) violations.push(`revisions: ${violation}`);
    if (violations.length >= REVISION_VIOLATIONS_MAX) return { violations, stats };
  }
  const ordered = operations.filter(
    (operation): operation is RevisionedOperation & { revision: number } =>
      operation.linearizable && operation.revision !== undefined,
  );
  stats.ordered = ordered.length;
  const order = checkRealTime(ordered);
  if (order !== undefined) violations.push(`revisions: ${order}`);
  return { violations, stats };
}

/** The result of one call against the state at its revision. */
function checkResult(
  revisioned: RevisionedOperation,
  history: RevisionHistory,
  stats: RevisionCheckStats,
): string | undefined {
  const { operation, revision, wrote } = revisioned;
  if (revision === undefined) return undefined;
  if (wrote.length > 1) return `${describeCall(operation)} made revisions ${wrote.join(', ')}, not one`;
  if (revision > history.latest) {
    return `${describeCall(operation)} is at revision ${revision}, past the newest applied (${history.latest})`;
  }
  const { input, output } = operation;
  switch (input.op) {
    case 'get': {
      if (output === undefined) return undefined;
      // A missing field reads as absent, as in the per-key model (JSON drops `value: undefined`).
      const value = history.keyAt(input.key, revision)?.value;
      if (('value' in output ? output.value : undefined) === value) return undefined;
      return `${describeCall(operation)} at revision ${revision}, where the key held ${describeValue(value)}`;
    }
    case 'range':
      if (output === undefined) return undefined;
      stats.ranges++;
      return checkRange(operation, input, output as RangeOutput, revision, history);
    case 'txn':
      return checkTxn(revisioned, input, output as TxnOutput | undefined, revision, history, stats);
    default:
      return undefined;
  }
}

function checkRange(
  operation: HistoryOperation,
  input: RangeInput,
  output: RangeOutput,
  revision: number,
  history: RevisionHistory,
): string | undefined {
  const all = history.rangeAt(input.prefix, revision);
  const kvs = input.limit > 0 ? all.slice(0, input.limit) : all;
  const expected: RangeOutput = { revision, kvs, count: all.length, more: kvs.length < all.length };
  if (sameJson(output, expected)) return undefined;
  return `${describeCall(operation)} where the state at revision ${revision} gives ${JSON.stringify(expected)}`;
}

function checkTxn(
  revisioned: RevisionedOperation,
  input: TxnInput,
  output: TxnOutput | undefined,
  revision: number,
  history: RevisionHistory,
  stats: RevisionCheckStats,
): string | undefined {
  const { operation } = revisioned;
  const madeRevision = revisioned.wrote[0];
  if (madeRevision !== undefined && madeRevision !== revision) {
    return `${describeCall(operation)} made revision ${madeRevision} but is at revision ${revision}`;
  }
  if (output !== undefined && output.revision !== revision) {
    return `${describeCall(operation)} answered revision ${output.revision}, applied at revision ${revision}`;
  }
  // The compares see the state before the transaction: the revision before its own, if it made one.
  const before = madeRevision === undefined ? revision : revision - 1;
  const holds = input.compare.every((compare) => compareHolds(compare, history.keyAt(compare.key, before)));
  if (output !== undefined && output.succeeded !== holds) {
    return `${describeCall(operation)} where its compares ${holds ? 'hold' : 'fail'} at revision ${before}`;
  }
  if (output !== undefined) {
    if (holds) stats.txnsSucceeded++;
    else stats.txnsFailed++;
  }
  if (!holds) {
    if (madeRevision !== undefined) {
      return `${describeCall(operation)} failed its compares at revision ${before} yet made revision ${madeRevision}`;
    }
    const kvs = input.writes.map(({ key }) => history.keyAt(key, revision) ?? null);
    if (output === undefined || sameJson(output.kvs, kvs)) return undefined;
    return `${describeCall(operation)} read ${JSON.stringify(output.kvs)} where revision ${revision} holds ${JSON.stringify(kvs)}`;
  }
  const changes = txnChanges(input, before, history);
  const made = madeRevision === undefined ? [] : history.changesAt(madeRevision);
  if (changes.length === 0 && madeRevision === undefined) return undefined;
  if (madeRevision === before + 1 && sameJson(made, changes)) return undefined;
  return `${describeCall(operation)} should change ${JSON.stringify(changes)} at revision ${before + 1}, its entry made ${madeRevision === undefined ? 'no revision' : `revision ${madeRevision}: ${JSON.stringify(made)}`}`;
}

/** The changes a successful transaction makes on the state at `before`, in its order (etcd's). */
function txnChanges(input: TxnInput, before: number, history: RevisionHistory): KeyChange[] {
  const revision = before + 1;
  const changes: KeyChange[] = [];
  for (const write of input.writes) {
    const previous = history.keyAt(write.key, before);
    if (write.type === 'delete') {
      if (previous !== undefined) changes.push({ key: write.key, kv: undefined });
      continue;
    }
    const kv: KvView = {
      key: write.key,
      value: write.value,
      createRevision: previous?.createRevision ?? revision,
      modRevision: revision,
      version: (previous?.version ?? 0) + 1,
      lease: 0,
    };
    changes.push({ key: write.key, kv });
  }
  return changes;
}

/**
 * Whether `compare` holds on `kv` (undefined: absent), as etcd's
 * `compareKV`: an absent key has version and mod revision 0, and fails
 * every value compare.
 */
export function compareHolds(compare: TxnCompare, kv: KvView | undefined): boolean {
  let difference: number;
  switch (compare.target) {
    case 'value':
      if (kv === undefined) return false;
      difference = kv.value < compare.value ? -1 : kv.value > compare.value ? 1 : 0;
      break;
    case 'version':
      difference = (kv?.version ?? 0) - compare.version;
      break;
    case 'modRevision':
      difference = (kv?.modRevision ?? 0) - compare.modRevision;
      break;
  }
  switch (compare.result) {
    case 'equal':
      return difference === 0;
    case 'notEqual':
      return difference !== 0;
    case 'less':
      return difference < 0;
    case 'greater':
      return difference > 0;
  }
}

/**
 * Real time against the order of revisions: sweeping calls by call time,
 * each is held to the highest revision among the calls that returned
 * before it was called.
 */
function checkRealTime(
  operations: readonly (RevisionedOperation & { revision: number })[],
): string | undefined {
  const byReturn = operations.slice().sort((a, b) => a.operation.ret - b.operation.ret);
  const byCall = operations.slice().sort((a, b) => a.operation.call - b.operation.call);
  let returned = 0;
  let latest: (RevisionedOperation & { revision: number }) | undefined;
  for (const later of byCall) {
    for (
      ;
      returned < byReturn.length && byReturn[returned]!.operation.ret < later.operation.call;
      returned++
    ) {
      const earlier = byReturn[returned]!;
      if (latest === undefined || earlier.revision > latest.revision) latest = earlier;
    }
    if (latest === undefined) continue;
    const writes = later.wrote.length > 0;
    if (writes ? later.revision > latest.revision : later.revision >= latest.revision) continue;
    return `${describeCall(later.operation)} is at revision ${later.revision}, but ${describeCall(latest.operation)} returned before it was called, at revision ${latest.revision}${writes ? ' (a write must come after)' : ''}`;
  }
  return undefined;
}

function describeCall(operation: HistoryOperation): string {
  const { clientId, input, output, call, ret } = operation;
  const answer = output === undefined ? '?' : JSON.stringify(output);
  return `client ${clientId}'s ${JSON.stringify(input)} -> ${answer} [${call}, ${ret}]`;
}

function describeValue(value: string | undefined): string {
  return value === undefined ? '(absent)' : JSON.stringify(value);
}

/** Equality of plain JSON data (absent and undefined fields alike), whatever the order of fields. */
function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, field: unknown) =>
    field !== null && typeof field === 'object' && !Array.isArray(field)
      ? Object.fromEntries(Object.entries(field).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : field,
  );
}
