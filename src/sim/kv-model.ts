/**
 * The sequential specification of a key-value store with get, put and
 * compare-and-set, for the linearizability checker.
 *
 * @module
 */
import { kvPartition } from './kv-partition.ts';
import type { Model, Operation, StepResult } from './linearizability-model.ts';

/** A call on the key-value store; the same shape the simulator's clients send. */
export type KvInput =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'delete'; readonly key: string }
  | {
      readonly op: 'cas';
      readonly key: string;
      /** The value the key must hold for the swap to happen; `undefined` means absent. */
      readonly expected: string | undefined;
      readonly value: string;
    };

/** What a get returns: the value, or `undefined` when the key is absent. */
export interface KvGetOutput {
  readonly value: string | undefined;
}

/** What a put or a delete returns: nothing. */
export type KvPutOutput = Readonly<Record<string, never>>;

/** What a compare-and-set returns: whether it swapped. */
export interface KvCasOutput {
  readonly ok: boolean;
}

/** What a call on the key-value store returns. */
export type KvOutput = KvGetOutput | KvPutOutput | KvCasOutput;

/**
 * The state of one key: its value, or `undefined` when absent. The model
 * holds one key only because {@link kvModel} always partitions by key.
 */
export type KvState = string | undefined;

/** One call on the key-value store, as recorded. */
export type KvOperation = Operation<KvInput, KvOutput>;

/**
 * The key-value store model: every key starts absent; `put` sets it;
 * `delete` makes it absent; `get` returns it; `cas` sets it to `value` and returns `{ ok: true }` exactly
 * when it holds `expected`, and otherwise returns `{ ok: false }`.
 *
 * Histories are partitioned per key, which is sound because the keys are
 * independent objects and linearizability is local (Herlihy & Wing 1990).
 * Operations of unknown outcome that cannot affect the verdict (gets, and
 * writes nothing observes) are dropped while partitioning: see
 * {@link kvPartition}, which also argues why that is sound.
 *
 * @throws {TypeError} From `step`, when an output does not have the shape
 *   its input calls for (a get whose `value` is not a string, a cas without
 *   a boolean `ok`): that is a recording bug, not a linearizability
 *   violation. A get output without `value` reads as absent, as it comes
 *   back from JSON.
 *
 * @example
 * ```ts
 * const verdict = checkLinearizable(kvModel, simulation.history);
 * ```
 */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => undefined,

  step(state, input, output): StepResult<KvState> {
    switch (input.op) {
      case 'get':
        return { ok: output === undefined || kvGetValue(output) === state, state };
      case 'put':
        return { ok: true, state: input.value };
      case 'delete':
        return { ok: true, state: undefined };
      case 'cas': {
        const swaps = state === input.expected;
        return {
          ok: output === undefined || kvCasSwapped(output) === swaps,
          state: swaps ? input.value : state,
        };
      }
    }
  },

  partition: kvPartition,

  equal: (a, b) => a === b,

  // Injective: the absent key is the empty string, a value is prefixed.
  hash: (state) => (state === undefined ? '' : `=${state}`),

  describeOperation(input, output) {
    const key = JSON.stringify(input.key);
    switch (input.op) {
      case 'get':
        return `get ${key} -> ${output === undefined ? '?' : describeValue(kvGetValue(output))}`;
      case 'put':
        return `put ${key} = ${JSON.stringify(input.value)}${output === undefined ? ' -> ?' : ''}`;
      case 'delete':
        return `delete ${key}${output === undefined ? ' -> ?' : ''}`;
      case 'cas': {
        const result = output === undefined ? '?' : kvCasSwapped(output) ? 'ok' : 'failed';
        return `cas ${key} ${describeValue(input.expected)} => ${JSON.stringify(input.value)} -> ${result}`;
      }
    }
  },

  describeState: describeValue,

  describePartition(operations) {
    const first = operations[0];
    return first === undefined ? 'no key' : `key ${JSON.stringify(first.input.key)}`;
  },
};

function describeValue(value: string | undefined): string {
  return value === undefined ? '(absent)' : JSON.stringify(value);
}

function kvGetValue(output: KvOutput): string | undefined {
  // A missing field reads as absent: JSON drops `value: undefined`, and
  // recorded histories are saved as JSON for replay.
  const value = 'value' in output ? output.value : undefined;
  if (value !== undefined && typeof value !== 'string') {
    throw new TypeError(
      `Cannot check get: its output value must be a string or absent, got ${JSON.stringify(output)}`,
    );
  }
  return value;
}

function kvCasSwapped(output: KvOutput): boolean {
  if (!('ok' in output) || typeof output.ok !== 'boolean') {
    throw new TypeError(
      `Cannot check cas: its output must have a boolean ok field, got ${JSON.stringify(output)}`,
    );
  }
  return output.ok;
}
