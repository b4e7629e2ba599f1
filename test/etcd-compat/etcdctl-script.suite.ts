/**
 * The etcdctl script the comparison runs, step by step, against etcd and
 * Tessera: keys, transactions, watches and leases
 * (`etcdctl-script-kv.suite.ts`), then members, endpoints, lock and
 * election, maintenance and compaction (`etcdctl-script-cluster.suite.ts`).
 * `check perf` runs on its own, last. Not part of the build (`*.suite.ts`).
 *
 * @module
 */
import { CLUSTER_SCRIPT, ELECTION_NAME, LOCK_NAME } from './etcdctl-script-cluster.suite.ts';
import { KV_SCRIPT } from './etcdctl-script-kv.suite.ts';
import type { Step } from './etcdctl-steps.suite.ts';

/** Every step, in order. */
export const SCRIPT: readonly Step[] = [...KV_SCRIPT, ...CLUSTER_SCRIPT];

/** The lock and election names of the script: their keys end in a lease id the normalizer hides. */
export const RECIPE_NAMES: readonly string[] = [LOCK_NAME, ELECTION_NAME];
