/**
 * The two inputs of the linearizability checker: a recorded history of
 * client calls, and the sequential specification (the model) it is checked
 * against.
 *
 * @module
 */

/**
 * One client call as the simulator records it.
 *
 * The outcome is unknown when `output` is `undefined`: the client crashed,
 * timed out or lost its connection, so the call may have taken effect at any
 * time after `call`, or never. The checker then ignores `ret` (a timed-out
 * write can still be applied long after the client gave up) and treats the
 * return as lying after every other event. Record `ret` as `Infinity` for
 * such calls by convention.
 *
 * Times are logical (simulator ticks or a counter); only their order matters.
 * Two events at the same time count as concurrent, so a call that starts at
 * the tick another returns may be ordered either way.
 */
export interface Operation<Input, Output> {
  /** The client that made the call; for diagnostics only. */
  readonly clientId: number;
  /** What the client asked for. */
  readonly input: Input;
  /** Logical time of the invocation. Must be finite. */
  readonly call: number;
  /** Logical time of the response, `>= call`; `Infinity` when the call never returned. */
  readonly ret: number;
  /** What the call returned; `undefined` when its outcome is unknown. */
  readonly output: Output | undefined;
}

/**
 * When the checker takes an operation to have returned: its `ret`, or
 * never (`Infinity`) when its outcome is unknown, whatever `ret` says.
 */
export function operationReturn<Input, Output>(operation: Operation<Input, Output>): number {
  return operation.output === undefined ? Number.POSITIVE_INFINITY : operation.ret;
}

/** The verdict of one {@link Model.step}: whether the output was legal, and the state after. */
export interface StepResult<State> {
  /** Whether `output` is a legal result of applying the input in the state. */
  readonly ok: boolean;
  /** The state after the operation; meaningless when `ok` is false. */
  readonly state: State;
}

/**
 * A sequential specification: the behaviour a linearizable object must
 * appear to have when its operations are put in some total order.
 *
 * Implementations must be pure and deterministic: the checker calls `step`
 * many times on the same state while it backtracks, so `step` must not
 * mutate its `state` argument.
 *
 * @example
 * ```ts
 * // A single register holding a number.
 * const register: Model<number, { write?: number }, number> = {
 *   init: () => 0,
 *   step: (state, input, output) =>
 *     input.write === undefined
 *       ? { ok: output === undefined || output === state, state }
 *       : { ok: true, state: input.write },
 *   equal: (a, b) => a === b,
 *   hash: (state) => String(state),
 * };
 * ```
 */
export interface Model<State, Input, Output> {
  /** The state before any operation. */
  init(): State;
  /**
   * Applies `input` to `state`. `output` is `undefined` when the outcome is
   * unknown: the step must then be legal whenever the input can be applied
   * at all, and return the state the operation would have produced.
   */
  step(state: State, input: Input, output: Output | undefined): StepResult<State>;
  /**
   * Splits a history into independent sub-histories (for a key-value store,
   * one per key) that are checked one by one. Linearizability is local
   * (Herlihy & Wing 1990, Theorem 1), so the whole history is linearizable
   * exactly when every part is; the search is exponential in the size of
   * what it checks, so splitting is the largest speed-up there is (Horn &
   * Kroening 2015, "P-compositionality"). A model may also drop operations
   * that cannot affect the verdict. When absent, the history is one part.
   */
  partition?(history: readonly Operation<Input, Output>[]): Operation<Input, Output>[][];
  /** Whether two states are the same; memoization merges equal states. */
  equal(a: State, b: State): boolean;
  /**
   * A string for the state, equal for equal states. The checker uses it to
   * find candidate duplicates and confirms them with `equal`, so collisions
   * cost time, never correctness; an injective hash is fastest.
   */
  hash(state: State): string;
  /** One operation for humans, e.g. `put "x" = "1"` or `get "x" -> "1"`. */
  describeOperation?(input: Input, output: Output | undefined): string;
  /** A state for humans. */
  describeState?(state: State): string;
  /** Names a part returned by `partition` for humans, e.g. `key "x"`. */
  describePartition?(operations: readonly Operation<Input, Output>[]): string;
}
