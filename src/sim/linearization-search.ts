/**
 * The search at the heart of the linearizability checker, for one partition.
 *
 * This is the algorithm of Wing & Gong 1993 ("Testing and verifying
 * concurrent objects", J. Parallel Distrib. Comput. 17) with the
 * configuration cache of Lowe 2017 ("Testing for linearizability",
 * Concurrency Computat.: Pract. Exper. 29(4)), in the form Porcupine
 * (github.com/anishathalye/porcupine, `checker.go`) gives it: the history
 * becomes a doubly linked list of call and return events in time order; the
 * search repeatedly linearizes the first call it can (lifting the call and
 * its return out of the list) and backtracks (unlifting) when it meets a
 * return whose call is not yet linearized, since that operation had to take
 * effect before it returned. A cache of every (linearized set, state) pair
 * already explored prunes the search: reaching the same set of operations in
 * the same state by another order cannot succeed where the first failed.
 * Operations of unknown outcome get the treatment described at
 * {@link searchLinearization}.
 *
 * @module
 */
import { type Model, type Operation, operationReturn } from './linearizability-model.ts';

/** How the search of one partition ended. */
export interface LinearizationSearchResult {
  /** `ok`: a linearization exists; `illegal`: none does; `unknown`: the step budget ran out. */
  readonly outcome: 'ok' | 'illegal' | 'unknown';
  /** Loop iterations spent; never more than the budget. */
  readonly steps: number;
  /**
   * The longest sequence of operations (indices into the partition, in
   * linearization order) the search managed to linearize, measured in
   * operations of known outcome, first found. For `ok` it linearizes every
   * operation of known outcome. When the search fails, no operation of known
   * outcome that was a candidate after it can follow it, not even after
   * some of the pending operations of unknown outcome: that would make a
   * longer one, which the search, exact up to dominance, would have found.
   */
  readonly longestPrefix: readonly number[];
}

/** The list node index of the sentinel before the first event. */
const HEAD = 0;

/** The event list of one partition, as parallel typed arrays for speed. */
interface EventList {
  /** Invariant: `next[prev[e]] === e` for every event `e` currently in the list. */
  readonly next: Int32Array;
  readonly prev: Int32Array;
  /** For a call event, the node of its return event; -1 for a return event. */
  readonly matchOf: Int32Array;
  /** The operation (index into the partition) of each event. */
  readonly operationOf: Int32Array;
  /** The node index of the sentinel after the last event. */
  readonly tail: number;
}

/**
 * Searches for a linearization of `operations` against `model`, spending at
 * most `stepsMax` loop iterations (one iteration considers one event).
 *
 * Three refinements serve operations of unknown outcome, which never return
 * and so stay candidates for the rest of the search:
 *
 * - The search succeeds once every operation with a known outcome is
 *   linearized: the rest may never have taken effect.
 * - The cache compares configurations by dominance, not only equality: a
 *   configuration is pruned when one already reached has the same state, the
 *   same known operations, and a subset of its unknown ones. The one reached
 *   has every move this one has (the extra unknown operations are optional),
 *   so it simulates it; pruning configurations simulated by one already
 *   reached keeps a search for a reachable goal exact (the subsumption
 *   argument of timed-automata model checking), and the goal (every known
 *   operation linearized) is closed under it. On its own it prunes little,
 *   because the search tends to reach larger sets of unknown operations
 *   before their subsets; the next rules do most of the work.
 * - Two moves are known to be dominated without a cache lookup, and are not
 *   made. An unknown operation that leaves the state as it is (a cas that
 *   fails): the current configuration dominates the one it would make. An
 *   unknown operation right after another whose skipping gives the same
 *   state (a blind write after a blind write): the sibling configuration
 *   that skips the first, which the search also generates, dominates it.
 *   The second rule stops runs of timed-out writes from being tried in
 *   every subset; the sibling being generated later, not already, is fine
 *   for the argument above, which needs only that every successor of an
 *   explored configuration be dominated by an explored one when the search
 *   ends.
 *
 * The cache holds at most one entry per step, so `stepsMax` also bounds
 * memory: about `operations.length / 8` bytes plus one state per entry.
 */
export function searchLinearization<State, Input, Output>(
  model: Model<State, Input, Output>,
  operations: readonly Operation<Input, Output>[],
  stepsMax: number,
): LinearizationSearchResult {
  const list = searchLinearizationEvents(operations);
  const { next, matchOf, operationOf, tail } = list;
  const cache = new ConfigurationCache(model, operations);
  // The stack of linearized calls and the state before each, for backtracking.
  const stackEvents = new Int32Array(operations.length);
  const stackStates: State[] = [];
  let depth = 0;
  let longestPrefix: number[] = [];
  const knownCount = operations.filter((operation) => operation.output !== undefined).length;
  let knownLeft = knownCount;
  let knownLinearizedMax = -1;
  let state = model.init();
  let event = next[HEAD]!;
  let steps = 0;

  while (knownLeft > 0) {
    if (steps >= stepsMax) return { outcome: 'unknown', steps, longestPrefix };
    steps++;
    if (matchOf[event]! >= 0) {
      // A call: try to linearize its operation here.
      const index = operationOf[event]!;
      const operation = operations[index]!;
      const result = model.step(state, operation.input, operation.output);
      // Whether the operation on top of the stack is of unknown outcome, for the blind-write rule.
      const afterUnknown =
        depth > 0 && operations[operationOf[stackEvents[depth - 1]!]!]!.output === undefined;
      const useful =
        result.ok &&
        searchLinearizationMoveUseful(
          model,
          operation,
          state,
          result.state,
          afterUnknown,
          stackStates[depth - 1],
        );
      if (useful && cache.add(index, result.state)) {
        stackEvents[depth] = event;
        stackStates[depth] = state;
        depth++;
        if (operation.output !== undefined) knownLeft--;
        if (knownCount - knownLeft > knownLinearizedMax) {
          knownLinearizedMax = knownCount - knownLeft;
          longestPrefix = stackPrefix(stackEvents, depth, operationOf);
        }
        state = result.state;
        searchLinearizationLift(list, event);
        event = next[HEAD]!;
      } else {
        event = next[event]!;
      }
    } else {
      // A return whose call is still in the list: that operation had to take
      // effect by now and did not, so undo the most recent choice.
      if (depth === 0) return { outcome: 'illegal', steps, longestPrefix };
      depth--;
      event = stackEvents[depth]!;
      state = stackStates[depth]!;
      const index = operationOf[event]!;
      if (operations[index]!.output !== undefined) knownLeft++;
      cache.unmark(index);
      searchLinearizationUnlift(list, event);
      event = next[event]!;
    }
    // Invariant: while a known operation is left, its return is in the list
    // and every call lies before its own return, so the walk meets a return
    // (and turns back) before it can run off the end.
    if (event === tail && knownLeft > 0) {
      throw new Error('Invariant broken: linearization search walked past the last return');
    }
  }
  return { outcome: 'ok', steps, longestPrefix };
}

/**
 * Whether linearizing `operation` now, moving the state from `before` to
 * `after`, may reach anything that a configuration the search reaches
 * anyway cannot (see {@link searchLinearization}).
 *
 * @param afterUnknown Whether the operation linearized last is of unknown outcome.
 * @param beforePrevious The state before that last operation (meaningless unless `afterUnknown`).
 */
function searchLinearizationMoveUseful<State, Input, Output>(
  model: Model<State, Input, Output>,
  operation: Operation<Input, Output>,
  before: State,
  after: State,
  afterUnknown: boolean,
  beforePrevious: State,
): boolean {
  // Operations of known outcome are always tried. The rule below is sound
  // for them too, but it defers the path to success in linearizable
  // histories to a sibling explored later, which measured up to 40 times
  // slower on generated histories; it pays off only for unknown ones.
  if (operation.output !== undefined) return true;
  // It changes nothing: the current configuration dominates the new one.
  if (model.equal(after, before)) return false;
  if (!afterUnknown) return true;
  // Skipping the previous unknown operation gives the same state: the
  // sibling configuration that skips it dominates the new one.
  const skipping = model.step(beforePrevious, operation.input, operation.output);
  return !(skipping.ok && model.equal(skipping.state, after));
}

/** The operations on the stack, bottom first. */
function stackPrefix(stackEvents: Int32Array, depth: number, operationOf: Int32Array): number[] {
  const prefix = new Array<number>(depth);
  for (let i = 0; i < depth; i++) prefix[i] = operationOf[stackEvents[i]!]!;
  return prefix;
}

/**
 * Builds the event list: each operation's call and return, sorted by time.
 * At equal times calls go first, so touching intervals count as concurrent
 * (as in Porcupine); the checker errs towards accepting. An operation whose
 * outcome is unknown returns after everything else: it may be linearized
 * anywhere after its call, and linearizing it last is the same as it never
 * having happened, since nothing follows it.
 */
function searchLinearizationEvents<Input, Output>(
  operations: readonly Operation<Input, Output>[],
): EventList {
  const count = operations.length;
  const times = new Float64Array(2 * count);
  for (let i = 0; i < count; i++) {
    const operation = operations[i]!;
    times[2 * i] = operation.call;
    times[2 * i + 1] = operationReturn(operation);
  }
  // Event e is operation e >> 1; even events are calls, odd ones returns.
  const order = Array.from({ length: 2 * count }, (_, e) => e);
  order.sort((a, b) => {
    const timeA = times[a]!;
    const timeB = times[b]!;
    if (timeA !== timeB) return timeA < timeB ? -1 : 1;
    if ((a & 1) !== (b & 1)) return (a & 1) - (b & 1);
    return a - b;
  });
  const tail = 2 * count + 1;
  const next = new Int32Array(tail + 1);
  const prev = new Int32Array(tail + 1);
  const matchOf = new Int32Array(tail + 1).fill(-1);
  const operationOf = new Int32Array(tail + 1).fill(-1);
  const nodeOfEvent = new Int32Array(2 * count);
  order.forEach((event, position) => {
    nodeOfEvent[event] = position + 1;
  });
  for (let node = HEAD; node < tail; node++) {
    next[node] = node + 1;
    prev[node + 1] = node;
  }
  for (let i = 0; i < count; i++) {
    const callNode = nodeOfEvent[2 * i]!;
    const returnNode = nodeOfEvent[2 * i + 1]!;
    matchOf[callNode] = returnNode;
    operationOf[callNode] = i;
    operationOf[returnNode] = i;
  }
  return { next, prev, matchOf, operationOf, tail };
}

/** Removes a call event and its return from the list (the operation is linearized). */
function searchLinearizationLift(list: EventList, call: number): void {
  const { next, prev, matchOf } = list;
  next[prev[call]!] = next[call]!;
  prev[next[call]!] = prev[call]!;
  const match = matchOf[call]!;
  next[prev[match]!] = next[match]!;
  prev[next[match]!] = prev[match]!;
}

/**
 * Puts back what {@link searchLinearizationLift} removed. The removed nodes
 * keep their own links, and lifts are undone in reverse order, so restoring
 * the return first and then the call rebuilds the list exactly (Knuth's
 * dancing links).
 */
function searchLinearizationUnlift(list: EventList, call: number): void {
  const { next, prev, matchOf } = list;
  const match = matchOf[call]!;
  next[prev[match]!] = match;
  prev[next[match]!] = match;
  next[prev[call]!] = call;
  prev[next[call]!] = call;
}

/**
 * The configurations (linearized operations, state) the search has reached,
 * compared by dominance (see {@link searchLinearization}). The linearized
 * operations are kept as two bitsets, one over the operations of known
 * outcome and one over the rest. The known bitset is encoded as a
 * fixed-length string of 16-bit units, so the key `known bitset + state
 * hash` is unambiguous; states whose hashes collide are told apart with
 * `model.equal`, and each key keeps the unknown bitsets reached with it.
 */
class ConfigurationCache<State, Input, Output> {
  readonly #model: Model<State, Input, Output>;
  /** For each operation, its bit: known operations count up from 0, unknown ones down from -1. */
  readonly #bitOf: Int32Array;
  // Invariant: an operation's bit is set exactly when it is on the search
  // stack (or is being tried by `add`).
  readonly #known: Uint32Array;
  readonly #knownUnits: Uint16Array;
  readonly #unknown: Uint32Array;
  readonly #seen = new Map<string, { state: State; unknown: Uint32Array }[]>();

  constructor(model: Model<State, Input, Output>, operations: readonly Operation<Input, Output>[]) {
    this.#model = model;
    this.#bitOf = new Int32Array(operations.length);
    let knownCount = 0;
    let unknownCount = 0;
    operations.forEach((operation, index) => {
      this.#bitOf[index] = operation.output === undefined ? -1 - unknownCount++ : knownCount++;
    });
    this.#known = new Uint32Array(Math.ceil(knownCount / 32));
    this.#knownUnits = new Uint16Array(this.#known.buffer);
    this.#unknown = new Uint32Array(Math.ceil(unknownCount / 32));
  }

  /**
   * Marks operation `index` linearized and records the configuration with
   * `state`. Returns false, leaving the mark unset, when a configuration
   * reached before dominates it.
   */
  add(index: number, state: State): boolean {
    this.#flip(index);
    const key = this.#knownKey() + this.#model.hash(state);
    const reached = this.#seen.get(key);
    if (reached === undefined) {
      this.#seen.set(key, [{ state, unknown: this.#unknown.slice() }]);
      return true;
    }
    for (const configuration of reached) {
      if (isSubset(configuration.unknown, this.#unknown) && this.#model.equal(configuration.state, state)) {
        this.#flip(index);
        return false;
      }
    }
    reached.push({ state, unknown: this.#unknown.slice() });
    return true;
  }

  /** Marks operation `index` as no longer linearized (the search backtracked over it). */
  unmark(index: number): void {
    this.#flip(index);
  }

  #flip(index: number): void {
    const bit = this.#bitOf[index]!;
    if (bit >= 0) this.#known[bit >>> 5]! ^= 1 << (bit & 31);
    else this.#unknown[(-1 - bit) >>> 5]! ^= 1 << ((-1 - bit) & 31);
  }

  #knownKey(): string {
    // One native call over a 16-bit view: building the string unit by unit
    // in a loop was the search's hot spot on partitions of thousands of operations.
    return String.fromCharCode.apply(null, this.#knownUnits as unknown as number[]);
  }
}

/** Whether every bit of `a` is set in `b` (same lengths). */
function isSubset(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if ((a[i]! & ~b[i]!) !== 0) return false;
  return true;
}
