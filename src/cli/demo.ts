/**
 * `tessera demo`: what `npm start` runs until the cluster exists. Jobs are
 * fanned out over a channel to a few async workers, each handing its job to
 * the worker-thread pool; a WaitGroup says when all are done.
 */
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { Channel } from '../concurrency/channel.ts';
import { WaitGroup } from '../concurrency/wait-group.ts';
import { WorkerPool } from '../concurrency/worker-pool.ts';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  jobs: number;
  rangeSize: number;
  workers: number;
  /** Where lines go (console.log by default). */
  print?: (line: string) => void;
}

/** What the demo computed. */
export interface DemoResult {
  primes: number;
  jobsDone: number;
  jobsPerWorker: number[];
}

/**
 * Counts the primes below `jobs * rangeSize`, in `jobs` ranges, on the pool.
 *
 * @throws {RangeError} when an option is not a positive integer.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const print = options.print ?? console.log;
  for (const [name, value] of Object.entries({
    jobs: options.jobs,
    rangeSize: options.rangeSize,
    workers: options.workers,
  })) {
    if (!(Number.isSafeInteger(value) && value > 0))
      throw new RangeError(`Cannot run demo: ${name} must be a positive integer, got ${value}`);
  }
  const threads = Math.max(1, Math.min(options.workers, availableParallelism()));
  // The worker file has this module's extension: .ts in a checkout, .js in the built package.
  const workerFile = new URL(`./demo-worker${extname(import.meta.url)}`, import.meta.url);
  const pool = new WorkerPool({ filename: workerFile, threadsMax: threads });
  const jobs = new Channel<{ id: number; from: number; to: number }>(options.workers);
  const group = new WaitGroup();
  const jobsPerWorker = new Array<number>(options.workers).fill(0);
  let primes = 0;
  const started = performance.now();
  print(
    `tessera demo: ${options.jobs} jobs over a Channel to ${options.workers} workers on ${threads} worker threads`,
  );
  try {
    for (let worker = 0; worker < options.workers; worker++) {
      group.add(1);
      void (async () => {
        try {
          for await (const job of jobs) {
            // Read `primes` only after the await: `primes += await ...` would read it before and lose updates.
            const count = await pool.run<number>({ from: job.from, to: job.to });
            primes += count;
            jobsPerWorker[worker] = (jobsPerWorker[worker] ?? 0) + 1;
          }
        } finally {
          group.done();
        }
      })();
    }
    for (let id = 0; id < options.jobs; id++) {
      await jobs.send({ id, from: id * options.rangeSize, to: (id + 1) * options.rangeSize });
    }
    jobs.close();
    await group.wait();
  } finally {
    await pool.destroy();
  }
  const limit = options.jobs * options.rangeSize;
  const seconds = (performance.now() - started) / 1000;
  print(`  primes below ${limit.toLocaleString('en-US')}: ${primes.toLocaleString('en-US')}`);
  print(`  jobs per worker: ${jobsPerWorker.join(', ')}`);
  print(`  ${seconds.toFixed(2)} s`);
  return { primes, jobsDone: jobsPerWorker.reduce((a, b) => a + b, 0), jobsPerWorker };
}
