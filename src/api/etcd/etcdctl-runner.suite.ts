/**
 * Runs etcd's own `etcdctl` (v3 API) for the etcd front door's tests: a
 * runner bound to a cluster's etcd endpoints that gives each run's exit
 * code and output (whether etcdctl is installed: `etcd-cluster.suite.ts`).
 *
 * Not part of the build (`*.suite.ts`).
 *
 * @module
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { ETCDCTL_ENV } from './etcd-cluster.suite.ts';

/** What an etcdctl run printed, and how it exited. */
export interface EtcdctlRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of one run. */
export interface EtcdctlRunOptions {
  /** The endpoints to give it; default the runner's. */
  readonly endpoints?: readonly string[];
  /** Written to its stdin. */
  readonly input?: string;
}

/** Runs etcdctl against a cluster. */
export interface EtcdctlRunner {
  /** Runs `etcdctl ARGS` (with `--endpoints` and a command timeout). */
  run(args: readonly string[], options?: EtcdctlRunOptions): Promise<EtcdctlRun>;
  /** Runs `etcdctl ARGS` against the runner's endpoints and gives its stdout, failing the test on a non-zero exit. */
  ok(...args: string[]): Promise<string>;
}

/**
 * A runner of `etcdctl` against `endpoints()` (read at each run, so it can
 * be made before the cluster starts).
 *
 * @example
 * ```ts
 * const etcdctl = etcdctlRunner(() => cluster.etcdEndpoints);
 * assert.equal(await etcdctl.ok('put', 'k', 'v'), 'OK\n');
 * ```
 */
export function etcdctlRunner(endpoints: () => readonly string[]): EtcdctlRunner {
  const run = (args: readonly string[], options: EtcdctlRunOptions = {}): Promise<EtcdctlRun> =>
    new Promise((resolve) => {
      const child = execFile(
        'etcdctl',
        ['--endpoints', (options.endpoints ?? endpoints()).join(','), '--command-timeout', '15s', ...args],
        { env: ETCDCTL_ENV, timeout: 30_000 },
        (_error, stdout, stderr) => resolve({ code: child.exitCode ?? -1, stdout, stderr }),
      );
      // etcdctl may exit before it reads its input: an EPIPE on stdin is not the test's failure.
      child.stdin?.on('error', () => {});
      child.stdin?.end(options.input ?? '');
    });
  return {
    run,
    ok: async (...args) => {
      const done = await run(args);
      assert.equal(done.code, 0, `etcdctl ${args.join(' ')}: ${done.stderr}`);
      return done.stdout;
    },
  };
}
