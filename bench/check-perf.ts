/**
 * `etcdctl check perf` against a cluster's etcd v3 gRPC endpoints, and the
 * verdict and figures it prints, parsed.
 *
 * What the check does (etcd 3.4, `etcdctl/ctlv3/command/check.go`): it
 * refuses to start when its prefix (`--prefix`, default
 * `/etcdctl-check-perf/`) holds keys; opens one client per simulated user
 * (50, 200, 500 or 1,000 for `s`, `m`, `l`, `xl`), spread over the
 * endpoints; for 60 s puts 1 KiB values under random 256 B keys at a fixed
 * rate (150, 1,000, 8,000 or 15,000 writes/s); deletes the prefix; and
 * passes when the throughput reached more than 90 % of the rate, no request
 * took over 500 ms, the latencies' standard deviation stayed under 100 ms,
 * and no request failed. It compacts and defragments only when asked
 * (`--auto-compact`, `--auto-defrag`, both off here).
 *
 * @module
 */
import { spawn } from 'node:child_process';

/** The workload models of `etcdctl check perf --load`. */
export type CheckPerfLoad = 's' | 'm' | 'l' | 'xl';

/**
 * Each load's model: the rate it puts at (writes/s; the check passes above
 * 90 % of it) and the clients it opens.
 */
export const CHECK_PERF_LOADS: Record<CheckPerfLoad, { writesPerSecond: number; clients: number }> = {
  s: { writesPerSecond: 150, clients: 50 },
  m: { writesPerSecond: 1000, clients: 200 },
  l: { writesPerSecond: 8000, clients: 500 },
  xl: { writesPerSecond: 15_000, clients: 1000 },
};

/** How long each load puts, in seconds (fixed by etcdctl). */
export const CHECK_PERF_SECONDS = 60;

/**
 * How long past its {@link CHECK_PERF_SECONDS} a check may run before it is
 * killed: room for 1,000 clients to connect and for the final delete of up
 * to a million keys.
 */
const CHECK_PERF_OVERRUN_MS = 120_000;

/** What a check printed (latencies in ms; NaN for a figure it did not print). */
export interface CheckPerfResult {
  /** The check's own verdict, or `ERROR` when it printed none (it could not run, or was killed). */
  readonly verdict: 'PASS' | 'FAIL' | 'ERROR';
  readonly writesPerSecond: number;
  readonly throughputPass: boolean;
  readonly slowestMs: number;
  readonly slowestPass: boolean;
  readonly stddevMs: number;
  readonly stddevPass: boolean;
  /** Requests that failed (etcdctl's `FAIL: ERROR(...) -> n` lines, summed). */
  readonly errors: number;
  /** Why there is no verdict, or the first error etcdctl reported; empty otherwise. */
  readonly message: string;
}

/**
 * Parses what `etcdctl check perf` printed: `PASS: Throughput is 1000
 * writes/s` or `FAIL: Throughput too low: ...`, `PASS: Slowest request took
 * 0.1s` or `Slowest request took too long: ...`, `PASS: Stddev is ...` or
 * `Stddev too high: ...`, error counts, then `PASS` or `FAIL` on a line of
 * its own. The progress bar is redrawn with carriage returns from a
 * goroutine of its own, so its last frame may run into the first line of
 * the results: lines are matched by what they end with.
 */
export function parseCheckPerf(output: string): CheckPerfResult {
  const lines = output.split(/[\r\n]+/).map((line) => line.trim());
  const throughput = /(PASS|FAIL): Throughput (?:is|too low:) (\d+) writes\/s$/;
  const slowest = /(PASS: )?Slowest request took (?:too long: )?([\d.]+)s$/;
  const stddev = /(PASS: )?Stddev (?:is|too high:) ([\d.]+)s$/;
  const failedRequests = /FAIL: ERROR\((.*)\) -> (\d+)$/;
  let verdict: CheckPerfResult['verdict'] = 'ERROR';
  let writesPerSecond = Number.NaN;
  let throughputPass = false;
  let slowestMs = Number.NaN;
  let slowestPass = false;
  let stddevMs = Number.NaN;
  let stddevPass = false;
  let errors = 0;
  let message = '';
  for (const line of lines) {
    const verdictMatch = /(PASS|FAIL)$/.exec(line);
    if (verdictMatch !== null) {
      verdict = verdictMatch[1] as 'PASS' | 'FAIL';
      continue;
    }
    const throughputMatch = throughput.exec(line);
    const slowestMatch = slowest.exec(line);
    const stddevMatch = stddev.exec(line);
    const failedMatch = failedRequests.exec(line);
    if (throughputMatch !== null) {
      throughputPass = throughputMatch[1] === 'PASS';
      writesPerSecond = Number(throughputMatch[2]);
    } else if (slowestMatch !== null) {
      slowestPass = slowestMatch[1] !== undefined;
      slowestMs = Number(slowestMatch[2]) * 1000;
    } else if (stddevMatch !== null) {
      stddevPass = stddevMatch[1] !== undefined;
      stddevMs = Number(stddevMatch[2]) * 1000;
    } else if (failedMatch !== null) {
      errors += Number(failedMatch[2]);
      if (message === '') message = failedMatch[1] as string;
    } else if (message === '' && /^(Error|\{"level":"(warn|error)")/.test(line)) message = line;
  }
  return {
    verdict,
    writesPerSecond,
    throughputPass,
    slowestMs,
    slowestPass,
    stddevMs,
    stddevPass,
    errors,
    message,
  };
}

/**
 * Runs `ETCDCTL_API=3 etcdctl check perf --load=<load> --prefix=<prefix>`
 * against `endpoints` (etcd v3 gRPC addresses `host:port`) and parses what
 * it printed; kills it (by PID) when it overruns.
 *
 * @throws {Error} when `etcdctl` cannot be started.
 */
export async function runCheckPerf(
  endpoints: readonly string[],
  options: { readonly load: CheckPerfLoad; readonly prefix: string },
): Promise<CheckPerfResult> {
  const child = spawn(
    'etcdctl',
    [
      `--endpoints=${endpoints.join(',')}`,
      'check',
      'perf',
      `--load=${options.load}`,
      `--prefix=${options.prefix}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCDCTL_API: '3' } },
  );
  let output = '';
  const collect = (chunk: Buffer): void => {
    output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let killed = false;
  const timer = setTimeout(
    () => {
      killed = true;
      child.kill('SIGKILL');
    },
    CHECK_PERF_SECONDS * 1000 + CHECK_PERF_OVERRUN_MS,
  );
  const exit = await new Promise<number | string | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve(signal ?? code));
  }).finally(() => clearTimeout(timer));
  const result = parseCheckPerf(output);
  if (killed) {
    return {
      ...result,
      verdict: 'ERROR',
      message: `killed after ${CHECK_PERF_SECONDS} s + ${CHECK_PERF_OVERRUN_MS} ms`,
    };
  }
  if (result.verdict === 'ERROR' && result.message === '') {
    return { ...result, message: `exit ${exit}: ${output.trim().split('\n').slice(-3).join(' | ')}` };
  }
  return result;
}
