/**
 * The `tessera` command.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { RAFT_BUGS, type RaftBug } from '../raft/raft.ts';
import { runDemo } from './demo.ts';
import { runSeeds } from './sim.ts';

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

program
  .command('sim')
  .description(
    'run deterministic simulation seeds of a Raft cluster under faults, checking safety, liveness and linearizability',
  )
  .option('--seeds <n>', 'how many seeds', positiveInteger, 200)
  .option('--start <n>', 'first seed', (value: string) => Number(value), 1)
  .option('--nodes <n>', 'cluster size, 3 or 5 (default: the seed picks)', (value: string) => {
    if (value !== '3' && value !== '5') throw new InvalidArgumentError(`expected 3 or 5, got ${value}`);
    return Number(value) as 3 | 5;
  })
  .option(
    '--bug <name>',
    `switch on a deliberate defect: ${RAFT_BUGS.join(', ')}`,
    (value: string, previous: RaftBug[]) => {
      if (!(RAFT_BUGS as readonly string[]).includes(value)) {
        throw new InvalidArgumentError(`unknown bug ${value}; choose from ${RAFT_BUGS.join(', ')}`);
      }
      return [...previous, value as RaftBug];
    },
    [] as RaftBug[],
  )
  .option('--json', 'print only failing seeds and the final JSON line')
  .action((options: { seeds: number; start: number; nodes?: 3 | 5; bug: RaftBug[]; json?: boolean }) => {
    if (!Number.isSafeInteger(options.start)) throw new InvalidArgumentError(`--start must be an integer`);
    const print =
      options.json === true ? (line: string) => line.startsWith('seed=') && console.log(line) : undefined;
    const summary = runSeeds({
      start: options.start,
      seeds: options.seeds,
      bugs: options.bug,
      ...(options.nodes === undefined ? {} : { nodes: options.nodes }),
      ...(print === undefined ? {} : { print }),
    });
    console.log(JSON.stringify(summary));
    if (summary.violations > 0) process.exitCode = 1;
  });

await program.parseAsync();
