/**
 * Checks a simulation's client history for linearizability against the KV
 * machine's sequential behaviour, leases included, one key (or lease) at a
 * time. Ranges and multi-key transactions are left to the revision checker
 * (`revision-checker.ts`, run by the simulation): they write only keys no
 * per-key call names (`sim-range-txn-workload.ts`), so leaving them out
 * hides no write from any key checked here, and a projection of a
 * linearizable history stays linearizable.
 *
 * @module
 */
import { type KvLeaseOperation, kvLeaseModel } from './kv-lease-model.ts';
import { checkLinearizable } from './linearizability.ts';
import type { HistoryOperation } from './simulation.ts';

/** The checker's verdict on a history, with a printable report when illegal. */
export type HistoryVerdict = { result: 'ok' } | { result: 'unknown' } | { result: 'illegal'; report: string };

/** Checks a simulation history. */
export function checkHistory(history: readonly HistoryOperation[]): HistoryVerdict {
  const verdict = checkLinearizable(kvLeaseModel, history.filter(isPerKeyOperation));
  if (verdict.result === 'illegal') return { result: 'illegal', report: verdict.counterexample.report };
  return { result: verdict.result };
}

/** Whether the per-key model specifies `operation` (everything but ranges and transactions). */
function isPerKeyOperation(operation: HistoryOperation): operation is HistoryOperation & KvLeaseOperation {
  return operation.input.op !== 'range' && operation.input.op !== 'txn';
}
