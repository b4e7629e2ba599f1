/**
 * `tessera sim` (`npm run sim`): runs simulation seeds and reports.
 *
 * Each failing seed prints `seed=N` first, then what broke; the last line
 * is one JSON object. Exits non-zero when any violation was found (with
 * `--bug`, finding one is the expected outcome: it is reported the same way).
 */

import { checkHistory } from '../sim/check-history.ts';
import type { SimBug } from '../sim/sim-config.ts';
import { runSimulation } from '../sim/simulation.ts';

/** Options of {@link runSeeds}. */
export interface RunSeedsOptions {
  start: number;
  seeds: number;
  nodes?: 3 | 5;
  bugs: readonly SimBug[];
  /** Seeds per progress line. */
  batch?: number;
  print?: (line: string) => void;
}

/** What {@link runSeeds} found, as printed in the final JSON line. */
export interface RunSeedsSummary {
  runs: number;
  violations: number;
  failingSeeds: number[];
  opsChecked: number;
  /** Histories the checker gave up on (search budget spent): not counted as checked. */
  historiesUnknown: number;
  simTicks: number;
  /** Membership changes, leadership transfers and snapshot chunks the runs exercised. */
  confChanges: number;
  transfers: number;
  compactions: number;
  /** Revisions the watch clients received whole, all checked against what was applied. */
  watchRevisions: number;
  snapshotChunks: number;
  /** Leases granted, keep-alives acknowledged, and leases ended by a client's revoke or by expiry. */
  leaseGrants: number;
  leaseKeepAlives: number;
  /** Entries proposed with the keep-alives of two or more calls. */
  leaseKeepAliveBatches: number;
  leaseRevokes: number;
  leaseExpiries: number;
  wallSeconds: number;
}

/** Failing seeds listed in the summary at most; the count is always exact. */
export const FAILING_SEEDS_LISTED_MAX = 100;

/** Runs seeds `start .. start + seeds - 1`, checking each history for linearizability. */
export function runSeeds(options: RunSeedsOptions): RunSeedsSummary {
  const print = options.print ?? console.log;
  const batch = options.batch ?? 100;
  const started = performance.now();
  const summary: RunSeedsSummary = {
    runs: 0,
    violations: 0,
    failingSeeds: [],
    opsChecked: 0,
    historiesUnknown: 0,
    simTicks: 0,
    confChanges: 0,
    transfers: 0,
    compactions: 0,
    watchRevisions: 0,
    snapshotChunks: 0,
    leaseGrants: 0,
    leaseKeepAlives: 0,
    leaseKeepAliveBatches: 0,
    leaseRevokes: 0,
    leaseExpiries: 0,
    wallSeconds: 0,
  };
  for (let seed = options.start; seed < options.start + options.seeds; seed++) {
    const result = runSimulation({
      seed,
      bugs: options.bugs,
      ...(options.nodes === undefined ? {} : { nodes: options.nodes }),
    });
    const violations = [...result.violations];
    if (violations.length === 0) {
      const verdict = checkHistory(result.history);
      if (verdict.result === 'illegal') violations.push(`linearizability: ${verdict.report}`);
      else if (verdict.result === 'unknown') summary.historiesUnknown++;
      else summary.opsChecked += result.history.length;
    }
    summary.runs++;
    summary.simTicks += result.ticks;
    summary.confChanges += result.confChanges;
    summary.transfers += result.transfers;
    summary.compactions += result.compactions;
    summary.watchRevisions += result.watchRevisions;
    summary.snapshotChunks += result.snapshotChunks;
    summary.leaseGrants += result.leases.granted;
    summary.leaseKeepAlives += result.leases.keptAlive;
    summary.leaseKeepAliveBatches += result.leases.keptAliveBatches;
    summary.leaseRevokes += result.leases.revoked;
    summary.leaseExpiries += result.leases.expired;
    if (violations.length > 0) {
      summary.violations++;
      if (summary.failingSeeds.length < FAILING_SEEDS_LISTED_MAX) summary.failingSeeds.push(seed);
      print(`seed=${seed} nodes=${result.config.nodes} ${violations[0]}`);
    }
    if (summary.runs % batch === 0) {
      const seconds = (performance.now() - started) / 1000;
      print(
        `${summary.runs}/${options.seeds} seeds, ${summary.violations} failing, ${Math.round((summary.runs / seconds) * 60)} seeds/min`,
      );
    }
  }
  summary.wallSeconds = Number(((performance.now() - started) / 1000).toFixed(2));
  return summary;
}
