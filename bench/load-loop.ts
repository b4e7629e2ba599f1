/**
 * What the load generators of the cluster benchmarks (`kv-load.ts`,
 * `coord-load.ts`) share: closed loops that measure throughput, latency
 * percentiles and this process's CPU time per operation, and the process
 * entry point that reads the spec and prints `result=<JSON>`.
 *
 * @module
 */
import { percentile } from './report.ts';

/** How long and how wide to run a closed loop. */
export interface LoopSpec {
  /** Loops running at once (each waits for its operation before starting the next). */
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly measureMs: number;
}

/** What a measured loop saw (latencies in ms; CPU time of this process per operation in µs). */
export interface LoopResult {
  readonly operations: number;
  readonly errors: number;
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuUsPerOp: number;
}

/**
 * One operation of loop `worker`. When it resolves with a number, that is
 * the latency recorded (ms, for an operation whose interesting part is not
 * all of it); otherwise its whole duration is.
 */
export type LoopOperation = (worker: number, sequence: number) => Promise<unknown>;

/** Runs `operation` from `concurrency` loops for `durationMs`, recording latencies when asked. */
export async function closedLoop(
  concurrency: number,
  durationMs: number,
  operation: LoopOperation,
  latencies: number[] | undefined,
): Promise<{ operations: number; errors: number }> {
  let operations = 0;
  let errors = 0;
  let sequence = 0;
  const endAt = performance.now() + durationMs;
  const loop = async (worker: number): Promise<void> => {
    while (performance.now() < endAt) {
      const begin = performance.now();
      try {
        const latency = await operation(worker, sequence++);
        latencies?.push(typeof latency === 'number' ? latency : performance.now() - begin);
        operations++;
      } catch (error) {
        if (errors++ === 0) console.error('bench operation failed:', error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, worker) => loop(worker)));
  return { operations, errors };
}

/** Warms up, then measures `operation` in a closed loop. */
export async function measured(spec: LoopSpec, operation: LoopOperation): Promise<LoopResult> {
  await closedLoop(spec.concurrency, spec.warmupMs, operation, undefined);
  const latencies: number[] = [];
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  const { operations, errors } = await closedLoop(spec.concurrency, spec.measureMs, operation, latencies);
  const elapsedSeconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = Float64Array.from(latencies).sort();
  return {
    operations,
    errors,
    opsPerSecond: operations / elapsedSeconds,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    cpuUsPerOp: (cpu.user + cpu.system) / Math.max(1, operations),
  };
}

/**
 * The load generator's process: runs `run` on the spec given as the first
 * argument (JSON), prints `result=<JSON>` and exits (open client handles
 * do not keep it alive).
 */
export async function runLoadMain<Spec, Result>(run: (spec: Spec) => Promise<Result>): Promise<never> {
  const spec = JSON.parse(process.argv[2] ?? '') as Spec;
  const result = await run(spec);
  console.log(`result=${JSON.stringify(result)}`);
  process.exit(0);
}
