/**
 * Checks a simulation's client history for linearizability against the KV
 * machine's sequential behaviour, one key at a time.
 *
 * @module
 */
import { kvModel } from './kv-model.ts';
import { checkLinearizable } from './linearizability.ts';
import type { HistoryOperation } from './simulation.ts';

/** The checker's verdict on a history, with a printable report when illegal. */
export type HistoryVerdict = { result: 'ok' } | { result: 'unknown' } | { result: 'illegal'; report: string };

/** Checks a simulation history. */
export function checkHistory(history: readonly HistoryOperation[]): HistoryVerdict {
  const verdict = checkLinearizable(kvModel, history);
  if (verdict.result === 'illegal') return { result: 'illegal', report: verdict.counterexample.report };
  return { result: verdict.result };
}
