/**
 * The `tessera` command.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { runDemo } from './demo.ts';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!(Number.isSafeInteger(parsed) && parsed > 0))
    throw new InvalidArgumentError(`expected a positive integer, got ${value}`);
  return parsed;
}

const program = new Command('tessera')
  .version(version)
  .description('Tessera: Go-style concurrency, typed RPC and (soon) Raft for Node.js');

program
  .command('demo')
  .description(
    'fan CPU-bound jobs out over a Channel to workers on the worker-thread pool, gathered with a WaitGroup',
  )
  .option('--jobs <n>', 'number of jobs', positiveInteger, 64)
  .option('--range <n>', 'numbers checked per job', positiveInteger, 50_000)
  .option('--workers <n>', 'async workers receiving from the channel', positiveInteger, 4)
  .action(async (options: { jobs: number; range: number; workers: number }) => {
    await runDemo({ jobs: options.jobs, rangeSize: options.range, workers: options.workers });
  });

await program.parseAsync();
