/**
 * Checks a simulation's client history for linearizability against the KV
 * machine's sequential behaviour, one key at a time.
 *
 * @module
 */
import type { KvCommand, KvOutput } from './kv-machine.ts';
import { checkLinearizable } from './linearizability.ts';
import type { Model, Operation } from './linearizability-model.ts';
import type { HistoryOperation } from './simulation.ts';

/** One key's value; undefined when unset. */
type KeyState = string | undefined;

/**
 * The KV machine as a sequential specification. Histories are split per key
 * (linearizability is local), so the state is one key's value.
 */
export const kvHistoryModel: Model<KeyState, KvCommand, KvOutput> = {
  init: () => undefined,
  step(state, input, output) {
    switch (input.op) {
      case 'get':
        return { ok: output === undefined || (output as { value?: string }).value === state, state };
      case 'put':
        return { ok: true, state: input.value };
      case 'cas': {
        const matches = state === input.expected;
        if (output === undefined) return { ok: true, state: matches ? input.value : state };
        const succeeded = (output as { ok?: boolean }).ok === true;
        return { ok: succeeded === matches, state: succeeded ? input.value : state };
      }
    }
  },
  partition(history) {
    const byKey = new Map<string, Operation<KvCommand, KvOutput>[]>();
    for (const operation of history) {
      const part = byKey.get(operation.input.key);
      if (part === undefined) byKey.set(operation.input.key, [operation]);
      else part.push(operation);
    }
    return [...byKey.values()];
  },
  equal: (a, b) => a === b,
  hash: (state) => (state === undefined ? '-' : `=${state}`),
  describeOperation(input, output) {
    const result = output === undefined ? ' -> ?' : ` -> ${JSON.stringify(output)}`;
    switch (input.op) {
      case 'get':
        return `get ${input.key}${result}`;
      case 'put':
        return `put ${input.key}=${input.value}${result}`;
      case 'cas':
        return `cas ${input.key} ${String(input.expected)}->${input.value}${result}`;
    }
  },
  describeState: (state) => (state === undefined ? '(unset)' : JSON.stringify(state)),
  describePartition: (operations) => `key ${operations[0]?.input.key ?? '?'}`,
};

/** The checker's verdict on a history, with a printable report when illegal. */
export type HistoryVerdict = { result: 'ok' } | { result: 'unknown' } | { result: 'illegal'; report: string };

/** Checks a simulation history. */
export function checkHistory(history: readonly HistoryOperation[]): HistoryVerdict {
  const verdict = checkLinearizable(kvHistoryModel, history);
  if (verdict.result === 'illegal') return { result: 'illegal', report: verdict.counterexample.report };
  return { result: verdict.result };
}
