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
 *
 * @module
 */
import type { Model, Operation } from './linearizability-model.ts';

/** How the search of one partition ended. */
export interface LinearizationSearchResult {
  /** `ok`: a linearization exists; `illegal`: none does; `unknown`: the step budget ran out. */
  readonly outcome: 'ok' | 'illegal' | 'unknown';
  /** Loop iterations spent; never more than the budget. */
  readonly steps: number;
  /**
   * The longest sequence of operations (indices into the partition, in
   * linearization order) the search managed to linearize. For `ok` it is a
   * full linearization of every operation.
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
 * most `stepsMax` loop iterations.
 *
 * The cache holds at most one entry per step, so `stepsMax` also bounds
 * memory: about `operations.length / 8` bytes plus one state per step.
 */
export function searchLinearization<State, Input, Output>(
  model: Model<State, Input, Output>,
  operations: readonly Operation<Input, Output>[],
  stepsMax: number,
): LinearizationSearchResult {
  const list = searchLinearizationEvents(operations);
  const { next, matchOf, operationOf, tail } = list;
  const cache = new ConfigurationCache(model, operations.length);
  // The stack of linearized calls and the state before each, for backtracking.
  const stackEvents = new Int32Array(operations.length);
  const stackStates: State[] = [];
  let depth = 0;
  let longestPrefix: number[] = [];
  let state = model.init();
  let event = next[HEAD]!;
  let steps = 0;

  while (next[HEAD] !== tail) {
    if (steps >= stepsMax) return { outcome: 'unknown', steps, longestPrefix };
    steps++;
    const match = matchOf[event]!;
    if (match >= 0) {
      // A call: try to linearize its operation here.
      const index = operationOf[event]!;
      const operation = operations[index]!;
      const result = model.step(state, operation.input, operation.output);
      if (result.ok && cache.add(index, result.state)) {
        stackEvents[depth] = event;
        stackStates[depth] = state;
        depth++;
        if (depth > longestPrefix.length) longestPrefix = stackPrefix(stackEvents, depth, operationOf);
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
      cache.unmark(operationOf[event]!);
      searchLinearizationUnlift(list, event);
      event = next[event]!;
    }
    // Invariant: the last event in a non-empty list is a return, so the walk
    // meets it (and backtracks) before it can run off the end.
    if (event === tail && next[HEAD] !== tail) {
      throw new Error('Invariant broken: linearization search walked past the last return');
    }
  }
  return { outcome: 'ok', steps, longestPrefix };
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
    times[2 * i + 1] = operation.output === undefined ? Number.POSITIVE_INFINITY : operation.ret;
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
 * The set of configurations (linearized operations, state) the search has
 * reached. The linearized set is kept here as a bitset and encoded as a
 * fixed-length string of 16-bit units, so the cache key
 * `bitset string + state hash` is unambiguous; states whose hashes collide
 * are told apart with `model.equal`.
 */
class ConfigurationCache<State, Input, Output> {
  readonly #model: Model<State, Input, Output>;
  // Invariant: bit i is set exactly when operation i is on the search stack
  // (or is being tried by `add`).
  readonly #linearized: Uint32Array;
  readonly #seen = new Map<string, State[]>();

  constructor(model: Model<State, Input, Output>, operations: number) {
    this.#model = model;
    this.#linearized = new Uint32Array(Math.ceil(operations / 32));
  }

  /**
   * Marks operation `index` linearized and records the configuration with
   * `state`. Returns false, leaving the mark unset, when the configuration
   * was seen before.
   */
  add(index: number, state: State): boolean {
    const word = index >>> 5;
    const bit = 1 << (index & 31);
    this.#linearized[word]! |= bit;
    const key = this.#bitsetKey() + this.#model.hash(state);
    const states = this.#seen.get(key);
    if (states === undefined) {
      this.#seen.set(key, [state]);
      return true;
    }
    for (const seen of states) {
      if (this.#model.equal(seen, state)) {
        this.#linearized[word]! &= ~bit;
        return false;
      }
    }
    states.push(state);
    return true;
  }

  /** Marks operation `index` as no longer linearized (the search backtracked over it). */
  unmark(index: number): void {
    this.#linearized[index >>> 5]! &= ~(1 << (index & 31));
  }

  #bitsetKey(): string {
    let key = '';
    for (const word of this.#linearized) key += String.fromCharCode(word & 0xffff, word >>> 16);
    return key;
  }
}
