/**
 * A linearizability checker for client histories, after Wing & Gong 1993,
 * Lowe 2017 and Porcupine (see `linearization-search.ts` for the search):
 * given the calls a simulation recorded and a sequential model, it decides
 * whether every call can be given a single instant inside its call/return
 * interval such that the calls, run one by one in that order, return what
 * they returned.
 *
 * @module
 */
import type { Model, Operation } from './linearizability-model.ts';
import { searchLinearization } from './linearization-search.ts';

/**
 * The default search budget per partition, in search steps (one step
 * considers one event of the history). A partition of a few hundred
 * operations with a handful of clients needs a few thousand steps; this
 * allows for pathological concurrency while keeping a check to about a
 * second and the configuration cache (at most one entry per step) to tens of
 * megabytes.
 */
export const LINEARIZABILITY_STEPS_MAX_DEFAULT = 1_000_000;

/**
 * How many operations of the longest prefix a counterexample's report
 * prints, counting back from where the search got stuck; the full prefix is
 * in {@link LinearizabilityCounterexample.longestPrefix}.
 */
export const REPORT_PREFIX_OPERATIONS_MAX = 20;

/**
 * The most operations one partition may hold. The search keeps a bitset of
 * them per cached configuration and turns it into a string in one native
 * call, whose argument count is bounded; far below this size the search is
 * better split by a finer `model.partition` anyway.
 */
export const PARTITION_OPERATIONS_MAX = 1_000_000;

/** Options for {@link checkLinearizable}. */
export interface CheckLinearizableOptions {
  /**
   * The search budget per partition, in steps; a partition that needs more
   * is reported as `unknown` rather than searched without bound. Defaults to
   * {@link LINEARIZABILITY_STEPS_MAX_DEFAULT}.
   */
  stepsMax?: number;
}

/**
 * Why a history is not linearizable, for one partition: how far the search
 * got, and what it could not place after that.
 */
export interface LinearizabilityCounterexample<Input, Output> {
  /** The partition's name from `model.describePartition`, e.g. `key "x"`. */
  readonly partition: string;
  /** The partition's position in what `model.partition` returned. */
  readonly partitionIndex: number;
  /** Every operation of the partition. */
  readonly operations: readonly Operation<Input, Output>[];
  /**
   * The longest sequence of operations that could be linearized (counting
   * operations of known outcome), in linearization order.
   */
  readonly longestPrefix: readonly Operation<Input, Output>[];
  /** The model state after the longest prefix, described for humans. */
  readonly stateAfterPrefix: string;
  /**
   * The operations of known outcome that were pending after the longest
   * prefix (called before the earliest of them returned): none of them can
   * be linearized next, in that state or after any of the pending operations
   * of unknown outcome, which is why the search failed. In call order.
   */
  readonly unplaceable: readonly Operation<Input, Output>[];
  /** The earliest-returning operation of known outcome not in the prefix: it had to take effect by its `ret` and cannot. */
  readonly overdue: Operation<Input, Output>;
  /** All of the above as text, ready to print beside the failing seed. */
  readonly report: string;
}

/** Counts shared by every verdict of {@link checkLinearizable}. */
export interface LinearizabilityStatistics {
  /** Partitions searched (the search stops at the first illegal one). */
  readonly partitionsChecked: number;
  /** Search steps spent, over every partition checked. */
  readonly steps: number;
}

/** The verdict of {@link checkLinearizable}. */
export type LinearizabilityResult<Input, Output> =
  | (LinearizabilityStatistics & { readonly result: 'ok' })
  | (LinearizabilityStatistics & {
      readonly result: 'unknown';
      /** The partitions whose search ran out of budget. */
      readonly partitionsUnknown: readonly string[];
    })
  | (LinearizabilityStatistics & {
      readonly result: 'illegal';
      readonly counterexample: LinearizabilityCounterexample<Input, Output>;
    });

/**
 * Checks whether `history` is linearizable with respect to `model`.
 *
 * The history is split with `model.partition` and each part searched with
 * Porcupine's variant of the Wing & Gong algorithm. The verdict is `illegal`
 * as soon as one part is (with a counterexample), otherwise `unknown` if
 * any part exhausted `stepsMax`, otherwise `ok`.
 *
 * Operations whose `output` is `undefined` have an unknown outcome: they may
 * have taken effect at any time after their call, or never, and the checker
 * accepts either.
 *
 * @param model The sequential specification, e.g. `kvModel` from `kv-model.ts`.
 * @param history The calls as recorded, in any order.
 * @throws {RangeError} When an operation's times are not numbers with
 *   `call` finite and `ret >= call`, `stepsMax` is not a positive safe
 *   integer, or a partition holds more than {@link PARTITION_OPERATIONS_MAX}
 *   operations.
 *
 * @example
 * ```ts
 * const verdict = checkLinearizable(kvModel, [
 *   { clientId: 1, input: { op: 'put', key: 'x', value: '1' }, call: 0, ret: 2, output: {} },
 *   { clientId: 2, input: { op: 'get', key: 'x' }, call: 3, ret: 4, output: { value: undefined } },
 * ]);
 * if (verdict.result === 'illegal') console.log(verdict.counterexample.report); // a stale read
 * ```
 */
export function checkLinearizable<State, Input, Output>(
  model: Model<State, Input, Output>,
  history: readonly Operation<Input, Output>[],
  options: CheckLinearizableOptions = {},
): LinearizabilityResult<Input, Output> {
  const stepsMax = options.stepsMax ?? LINEARIZABILITY_STEPS_MAX_DEFAULT;
  if (!(Number.isSafeInteger(stepsMax) && stepsMax > 0)) {
    throw new RangeError(
      `Cannot check linearizability: stepsMax must be a positive safe integer, got ${stepsMax}`,
    );
  }
  history.forEach(checkLinearizableValidate);
  const partitions = model.partition === undefined ? [history.slice()] : model.partition(history);
  let steps = 0;
  let partitionsChecked = 0;
  const partitionsUnknown: string[] = [];
  for (const [partitionIndex, operations] of partitions.entries()) {
    if (operations.length > PARTITION_OPERATIONS_MAX) {
      throw new RangeError(
        `Cannot check linearizability: ${describePartition(model, operations, partitionIndex)} has ${operations.length} operations, more than PARTITION_OPERATIONS_MAX=${PARTITION_OPERATIONS_MAX}`,
      );
    }
    const search = searchLinearization(model, operations, stepsMax);
    steps += search.steps;
    partitionsChecked++;
    if (search.outcome === 'illegal') {
      const counterexample = buildCounterexample(model, operations, partitionIndex, search.longestPrefix);
      return { result: 'illegal', partitionsChecked, steps, counterexample };
    }
    if (search.outcome === 'unknown')
      partitionsUnknown.push(describePartition(model, operations, partitionIndex));
  }
  if (partitionsUnknown.length > 0) return { result: 'unknown', partitionsChecked, steps, partitionsUnknown };
  return { result: 'ok', partitionsChecked, steps };
}

function checkLinearizableValidate<Input, Output>(operation: Operation<Input, Output>, index: number): void {
  const { call, ret } = operation;
  if (!Number.isFinite(call)) {
    throw new RangeError(
      `Cannot check linearizability: operation ${index} has call=${call}, want a finite number`,
    );
  }
  if (!(ret >= call)) {
    throw new RangeError(
      `Cannot check linearizability: operation ${index} has ret=${ret} before call=${call}, want ret >= call or Infinity`,
    );
  }
}

/**
 * Rebuilds what the search saw at the end of its longest prefix: the state
 * there, and the operations of known outcome that were candidates to go
 * next. None of them can follow the prefix, even after some pending
 * operations of unknown outcome (see `LinearizationSearchResult`), so these
 * are the operations that could not be placed.
 */
function buildCounterexample<State, Input, Output>(
  model: Model<State, Input, Output>,
  operations: readonly Operation<Input, Output>[],
  partitionIndex: number,
  prefixIndices: readonly number[],
): LinearizabilityCounterexample<Input, Output> {
  let state = model.init();
  const inPrefix = new Set(prefixIndices);
  for (const index of prefixIndices) {
    const operation = operations[index]!;
    state = model.step(state, operation.input, operation.output).state;
  }
  const pending = operations.filter(
    (operation, index) => !inPrefix.has(index) && operation.output !== undefined,
  );
  // Invariant: an illegal partition has an operation of known outcome left over.
  let overdue = pending[0]!;
  for (const operation of pending) if (operation.ret < overdue.ret) overdue = operation;
  // Calls at the deadline count: the search orders calls before returns at equal times.
  const unplaceable = pending
    .filter((operation) => operation.call <= overdue.ret)
    .sort((a, b) => a.call - b.call);
  const unknownPending = operations.filter(
    (operation, index) =>
      !inPrefix.has(index) && operation.output === undefined && operation.call <= overdue.ret,
  ).length;
  const partial = {
    partition: describePartition(model, operations, partitionIndex),
    partitionIndex,
    operations,
    longestPrefix: prefixIndices.map((index) => operations[index]!),
    stateAfterPrefix: model.describeState === undefined ? model.hash(state) : model.describeState(state),
    unplaceable,
    overdue,
  };
  return { ...partial, report: formatCounterexample(model, partial, unknownPending) };
}

/** The text of a counterexample, prefix cut to {@link REPORT_PREFIX_OPERATIONS_MAX} lines. */
function formatCounterexample<State, Input, Output>(
  model: Model<State, Input, Output>,
  counterexample: Omit<LinearizabilityCounterexample<Input, Output>, 'report'>,
  unknownPending: number,
): string {
  const { partition, operations, longestPrefix, stateAfterPrefix, unplaceable, overdue } = counterexample;
  const lines = [`Not linearizable: ${partition} (${operations.length} operations).`];
  lines.push(`Longest linearizable prefix: ${longestPrefix.length} of ${operations.length} operations.`);
  const shownFrom = Math.max(0, longestPrefix.length - REPORT_PREFIX_OPERATIONS_MAX);
  if (shownFrom > 0) lines.push(`  ... ${shownFrom} earlier operations not shown`);
  for (let i = shownFrom; i < longestPrefix.length; i++) {
    lines.push(`  ${i + 1}. ${formatOperation(model, longestPrefix[i]!)}`);
  }
  lines.push(`State after the prefix: ${stateAfterPrefix}.`);
  lines.push('None of the pending operations can take effect next in that state:');
  for (const operation of unplaceable) {
    const note = operation === overdue ? `   <- had to take effect by t=${overdue.ret}` : '';
    lines.push(`  ${formatOperation(model, operation)}${note}`);
  }
  if (unknownPending > 0) {
    lines.push(`nor after any of the ${unknownPending} pending operations of unknown outcome.`);
  }
  return lines.join('\n');
}

function formatOperation<State, Input, Output>(
  model: Model<State, Input, Output>,
  operation: Operation<Input, Output>,
): string {
  const ret = operation.output === undefined ? '?' : String(operation.ret);
  const what =
    model.describeOperation === undefined
      ? `${JSON.stringify(operation.input)} -> ${operation.output === undefined ? '?' : JSON.stringify(operation.output)}`
      : model.describeOperation(operation.input, operation.output);
  return `client ${operation.clientId} [${operation.call}, ${ret}] ${what}`;
}

function describePartition<State, Input, Output>(
  model: Model<State, Input, Output>,
  operations: readonly Operation<Input, Output>[],
  partitionIndex: number,
): string {
  if (model.describePartition !== undefined) return model.describePartition(operations);
  return model.partition === undefined ? 'the whole history' : `partition ${partitionIndex}`;
}
