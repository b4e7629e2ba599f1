/**
 * Checks a simulation's client history for linearizability against the KV
 * machine's sequential behaviour, leases included, one key (or lease) at a
 * time.
 *
 * @module
 */
import { kvLeaseModel } from './kv-lease-model.ts';
import { checkLinearizable } from './linearizability.ts';
import type { HistoryOperation } from './simulation.ts';

/** The checker's verdict on a history, with a printable report when illegal. */
export type HistoryVerdict = { result: 'ok' } | { result: 'unknown' } | { result: 'illegal'; report: string };

/** Checks a simulation history. */
export function checkHistory(history: readonly HistoryOperation[]): HistoryVerdict {
  const verdict = checkLinearizable(kvLeaseModel, history);
  if (verdict.result === 'illegal') return { result: 'illegal', report: verdict.counterexample.report };
  return { result: verdict.result };
}
