/**
 * The `tessera` command.
 */
import { readFileSync } from 'node:fs';
import { Command, type CommanderError, InvalidArgumentError } from 'commander';
import { TesseraError } from '../base/errors.ts';
import { SIM_BUGS, type SimBug } from '../sim/sim-config.ts';
import type { CoordOptions } from './coord-commands.ts';
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
  .description('Tessera: Go-style concurrency, typed RPC and a Raft-replicated store for Node.js');

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
    `switch on a deliberate defect: ${SIM_BUGS.join(', ')}`,
    (value: string, previous: SimBug[]) => {
      if (!(SIM_BUGS as readonly string[]).includes(value)) {
        throw new InvalidArgumentError(`unknown bug ${value}; choose from ${SIM_BUGS.join(', ')}`);
      }
      return [...previous, value as SimBug];
    },
    [] as SimBug[],
  )
  .option('--json', 'print only failing seeds and the final JSON line')
  .action((options: { seeds: number; start: number; nodes?: 3 | 5; bug: SimBug[]; json?: boolean }) => {
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

const port = (value: string): number => {
  const parsed = Number(value);
  if (!(Number.isInteger(parsed) && parsed > 0 && parsed < 65_000)) {
    throw new InvalidArgumentError(`expected a port number, got ${value}`);
  }
  return parsed;
};

program
  .command('start')
  .description('run one member of a cluster (flags override TESSERA_* variables and --config)')
  .option('--config <file>', 'a YAML or JSON file of settings (the flags below, camelCase)')
  .option('--name <name>', "this member's name")
  .option('--data <dir>', 'data directory (WAL, snapshots, state)')
  .option('--listen-peer <host:port>', 'peer (Raft) address (default 127.0.0.1:2380)')
  .option('--listen-client <host:port>', 'client RPC address (default 127.0.0.1:2379)')
  .option(
    '--listen-http <host:port>',
    'HTTP address for /healthz, /v1/status, /metrics (default 127.0.0.1:2381)',
  )
  .option(
    '--listen-etcd <host:port>',
    "etcd v3 gRPC address, for etcdctl and etcd's clients (default: none, not served)",
  )
  .option('--initial-cluster <list>', 'founding members: name=peerHost:port,...')
  .option('--initial-cluster-state <state>', 'new (found a cluster) or existing (join after member add)')
  .option('--tick-ms <n>', 'milliseconds per Raft tick (default 100)')
  .option('--election-ticks <n>', 'ticks per election timeout (default 10)')
  .option(
    '--snapshot-entries <n>',
    'applied entries between snapshots (default 100000; sooner after 64 MiB of log)',
  )
  .option(
    '--snapshot-catchup-entries <n>',
    'entries kept behind a snapshot for slow followers (default 5000)',
  )
  .option(
    '--state-free-bytes-min <n>',
    'least free bytes on the state file system before a write, else the NOSPACE alarm (default 268435456; 0: no check)',
  )
  .option(
    '--auto-compaction-mode <mode>',
    'periodic (keep a duration of history), revision (keep a number of revisions) or off (default periodic)',
  )
  .option(
    '--auto-compaction-retention <value>',
    'periodic: a duration (30m, 1h, 1h30m) or hours; revision: revisions; 0: off (default 1h)',
  )
  .option('--log-level <level>', 'debug, info, warn or error (default info)')
  .option('--peer-cert <file>', 'PEM certificate this member presents to peers (mutual TLS)')
  .option('--peer-key <file>', 'PEM key of --peer-cert')
  .option('--peer-ca <file>', 'PEM CA every member certificate must be signed by')
  .action(async (options: Record<string, unknown>) => {
    const { runStart } = await import('./start.ts');
    await runStart(options);
  });

program
  .command('dev')
  .description('start a local cluster of member processes, print their endpoints, stop them on Ctrl-C')
  .option('--nodes <n>', 'members', positiveInteger, 3)
  .option('--data <dir>', 'data directory (one folder per member)', '.tessera')
  .option('--base-port <port>', "first member's client port; each member takes 4 ports, 10 apart", port, 2379)
  .option('--json', 'once ready, print one JSON line {"nodes":[{name,client,peer,http,etcd,pid}]}')
  .option('--log-level <level>', "members' log level", 'warn')
  .action(
    async (options: { nodes: number; data: string; basePort: number; json?: boolean; logLevel: string }) => {
      const { runDev } = await import('./dev.ts');
      await runDev({ ...options, json: options.json === true });
    },
  );

const endpointsOption = ['--endpoints <list>', 'client addresses host:port,...', '127.0.0.1:2379'] as const;

program
  .command('put <key> <value>')
  .description('set a key (replicated; answered once applied)')
  .option(...endpointsOption)
  .option('--lease <id>', 'attach the key to this lease (hexadecimal id): it goes when the lease does')
  .action(async (key: string, value: string, options: { endpoints: string; lease?: string }) => {
    const { putCommand, parseEndpoints } = await import('./client-commands.ts');
    const { parseLeaseId } = await import('./lease-commands.ts');
    const lease = options.lease === undefined ? 0 : parseLeaseId(options.lease);
    const { revision } = await putCommand(parseEndpoints(options.endpoints), key, value, lease);
    console.log(`OK (revision ${revision})`);
  });

program
  .command('get <key>')
  .description('read a key, or every key under a prefix (linearizable unless --serializable)')
  .option(...endpointsOption)
  .option('--prefix', 'every key that starts with KEY')
  .option('--rev <n>', 'read as of this revision', positiveInteger)
  .option('--limit <n>', 'at most this many keys', positiveInteger)
  .option('--serializable', "read the member's own state without a quorum round (may be stale)")
  .option(
    '--json',
    'print {"kvs":[{key,value,createRevision,modRevision,version,lease}],"revision","more","count"}',
  )
  .action(
    async (
      key: string,
      options: {
        endpoints: string;
        prefix?: boolean;
        rev?: number;
        limit?: number;
        serializable?: boolean;
        json?: boolean;
      },
    ) => {
      const { rangeCommand, parseEndpoints } = await import('./client-commands.ts');
      const result = await rangeCommand(parseEndpoints(options.endpoints), key, {
        prefix: options.prefix === true,
        ...(options.rev === undefined ? {} : { revision: options.rev }),
        ...(options.limit === undefined ? {} : { limit: options.limit }),
        serializable: options.serializable === true,
      });
      if (options.json === true) {
        console.log(JSON.stringify(result));
        return;
      }
      if (result.kvs.length === 0) process.exitCode = 1;
      // etcdctl's layout: a key line then its value line (one key: only the value).
      if (options.prefix !== true && result.kvs.length === 1) console.log(result.kvs[0]?.value);
      else for (const kv of result.kvs) console.log(`${kv.key}\n${kv.value}`);
    },
  );

program
  .command('del <key>')
  .description('delete a key, or every key under a prefix')
  .option(...endpointsOption)
  .option('--prefix', 'every key that starts with KEY')
  .action(async (key: string, options: { endpoints: string; prefix?: boolean }) => {
    const { deleteCommand, parseEndpoints } = await import('./client-commands.ts');
    const { deleted } = await deleteCommand(parseEndpoints(options.endpoints), key, options.prefix === true);
    console.log(deleted);
  });

program
  .command('txn')
  .description(
    'run a transaction read from stdin, as etcdctl txn: compares, an empty line, success requests, an empty line, failure requests',
  )
  .option(...endpointsOption)
  .option(
    '-i, --interactive',
    'prompt for each block on stderr and stop after the third (the default when stdin is a terminal)',
  )
  .option('--json', 'print {"succeeded","revision","responses":[{type,response}]} (keys and values as UTF-8)')
  .action(async (options: { endpoints: string; interactive?: boolean; json?: boolean }) => {
    const { parseEndpoints } = await import('./client-commands.ts');
    const { readTxn, txnCommand, txnResponseLine, txnResponseText, TxnInputError } = await import(
      './txn-command.ts'
    );
    const endpoints = parseEndpoints(options.endpoints);
    // etcdctl reads line by line when asked (-i); a person at a terminal gets that without asking.
    const interactive = options.interactive === true || process.stdin.isTTY === true;
    const prompt = (line: string) => process.stderr.write(`${line}\n`);
    const request = await readTxn(process.stdin, { interactive, prompt }).catch((error: unknown) => {
      if (!(error instanceof TxnInputError)) throw error;
      // Bad input is a usage error (exit 2), reported before anything reaches the cluster.
      console.error(`tessera: ${error.message}`);
      process.exitCode = 2;
      return undefined;
    });
    if (request === undefined) return;
    const response = await txnCommand(endpoints, request);
    console.log(
      options.json === true ? JSON.stringify(txnResponseLine(response)) : txnResponseText(response),
    );
  });

program
  .command('compact <revision>')
  .description('discard history before a revision (reads below it fail from then on)')
  .option(...endpointsOption)
  .action(async (revision: string, options: { endpoints: string }) => {
    const { compactCommand, parseEndpoints } = await import('./client-commands.ts');
    await compactCommand(parseEndpoints(options.endpoints), positiveInteger(revision));
    console.log(`compacted revision ${revision}`);
  });

program
  .command('watch <key>')
  .description('print changes to a key, or to every key under a prefix, as they happen (until Ctrl-C)')
  .option(...endpointsOption)
  .option('--prefix', 'every key that starts with KEY')
  .option('--rev <n>', 'start from this revision (replays history first)', positiveInteger)
  .option('--prev-kv', 'also print the value before each change')
  .option('--json', 'print one JSON object per change')
  .action(
    async (
      key: string,
      options: { endpoints: string; prefix?: boolean; rev?: number; prevKv?: boolean; json?: boolean },
    ) => {
      const { parseEndpoints } = await import('./client-commands.ts');
      const { watchCommand, eventLine } = await import('./watch-command.ts');
      const { text } = await import('../client/index.ts');
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      const watchOptions = {
        prefix: options.prefix === true,
        prevKv: options.prevKv === true,
        ...(options.rev === undefined ? {} : { revision: options.rev }),
      };
      await watchCommand(parseEndpoints(options.endpoints), key, watchOptions, stop.signal, (event) => {
        if (options.json === true) {
          console.log(JSON.stringify(eventLine(event)));
          return;
        }
        // etcdctl's layout: the kind, the previous key and value (with --prev-kv), the key and value.
        const lines = [event.type.toUpperCase()];
        if (event.prevKv !== undefined) lines.push(text(event.prevKv.key), text(event.prevKv.value));
        lines.push(text(event.kv.key));
        if (event.type === 'put') lines.push(text(event.kv.value));
        console.log(lines.join('\n'));
      });
    },
  );

// Bad usage of lock and elect exits 2 whoever finds it (commander or the command), before anything is sent.
const exitOnUsageError = (error: CommanderError): never => process.exit(error.exitCode === 0 ? 0 : 2);
const ttlOption = [
  '--ttl <seconds>',
  "the session lease's TTL: how long the lock or leadership outlives a holder that died (default 60)",
] as const;

program
  .command('lock [name] [command...]')
  .description(
    'take a distributed lock and run a command under it (NAME -- CMD ARGS...: exits with its code), or print the key and fencing token and hold the lock until Ctrl-C',
  )
  .option(...endpointsOption)
  .option(...ttlOption)
  .option('--json', 'without a command: print {"key","token","lease"} as one JSON line')
  .exitOverride(exitOnUsageError)
  .action(async (name: string | undefined, command: string[], options: CoordOptions) => {
    const { runLockCommand } = await import('./coord-commands.ts');
    await runLockCommand(name, command, options);
  });

program
  .command('elect [name] [proposal]')
  .description(
    'campaign in an election with PROPOSAL, print every leadership change, and resign on Ctrl-C; --listen only prints',
  )
  .option(...endpointsOption)
  .option(...ttlOption)
  .option('-l, --listen', 'only observe: print every leadership change')
  .option('--json', 'print each leader as one JSON line {"key","value","revision","lease"}')
  .exitOverride(exitOnUsageError)
  .action(async (name: string | undefined, proposal: string | undefined, options: CoordOptions) => {
    const { runElectCommand } = await import('./coord-commands.ts');
    await runElectCommand(name, proposal, options);
  });

const lease = program
  .command('lease')
  .description('grant, revoke, keep alive and inspect leases (ids in hexadecimal, as etcdctl)');
lease
  .command('grant <ttl>')
  .description('create a lease of TTL seconds; prints its id')
  .option(...endpointsOption)
  .option('--id <id>', 'the lease id (hexadecimal); by default the cluster picks one')
  .action(async (ttl: string, options: { endpoints: string; id?: string }) => {
    const { parseEndpoints } = await import('./client-commands.ts');
    const { leaseGrantCommand, parseLeaseId, formatLeaseId } = await import('./lease-commands.ts');
    const ttlSeconds = Number(ttl);
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 0)
      throw new InvalidArgumentError(`expected a TTL in whole seconds, got ${ttl}`);
    const id = options.id === undefined ? 0 : parseLeaseId(options.id);
    const granted = await leaseGrantCommand(parseEndpoints(options.endpoints), ttlSeconds, id);
    console.log(`lease ${formatLeaseId(granted.id)} granted with TTL(${granted.ttl}s)`);
  });
lease
  .command('revoke <id>')
  .description('end a lease now, deleting its keys')
  .option(...endpointsOption)
  .action(async (id: string, options: { endpoints: string }) => {
    const { parseEndpoints } = await import('./client-commands.ts');
    const { leaseRevokeCommand, parseLeaseId, formatLeaseId } = await import('./lease-commands.ts');
    const leaseId = parseLeaseId(id);
    const { deleted } = await leaseRevokeCommand(parseEndpoints(options.endpoints), leaseId);
    console.log(`lease ${formatLeaseId(leaseId)} revoked (${deleted} keys deleted)`);
  });
lease
  .command('keep-alive <id>')
  .description('renew a lease a third of its TTL apart until interrupted (or once, with --once)')
  .option(...endpointsOption)
  .option('--once', 'renew once and exit')
  .action(async (id: string, options: { endpoints: string; once?: boolean }) => {
    const { parseEndpoints } = await import('./client-commands.ts');
    const { leaseKeepAliveCommand, parseLeaseId, formatLeaseId } = await import('./lease-commands.ts');
    const leaseId = parseLeaseId(id);
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    process.once('SIGTERM', () => stop.abort());
    await leaseKeepAliveCommand(parseEndpoints(options.endpoints), leaseId, stop.signal, (ttl) => {
      console.log(`lease ${formatLeaseId(leaseId)} keepalived with TTL(${ttl})`);
      if (options.once === true) stop.abort();
    });
  });
lease
  .command('timetolive <id>')
  .description("what a lease has left, on the leader's clock")
  .option(...endpointsOption)
  .option('--keys', 'also list the keys attached')
  .option('--json', 'print {"id","ttl","grantedTtl","keys"} (ttl -1: no such lease)')
  .action(async (id: string, options: { endpoints: string; keys?: boolean; json?: boolean }) => {
    const { parseEndpoints } = await import('./client-commands.ts');
    const { leaseTimeToLiveCommand, parseLeaseId, formatLeaseId } = await import('./lease-commands.ts');
    const info = await leaseTimeToLiveCommand(
      parseEndpoints(options.endpoints),
      parseLeaseId(id),
      options.keys === true,
    );
    if (options.json === true) {
      console.log(JSON.stringify(info));
    } else if (info.ttl === -1) {
      console.log(`lease ${formatLeaseId(info.id)} already expired`);
      process.exitCode = 1;
    } else {
      const keys = options.keys === true ? `, attached keys(${JSON.stringify(info.keys)})` : '';
      console.log(
        `lease ${formatLeaseId(info.id)} granted with TTL(${info.grantedTtl}s), remaining(${info.ttl}s)${keys}`,
      );
    }
  });
lease
  .command('list')
  .description('every lease id')
  .option(...endpointsOption)
  .option('--json', 'print {"leases":[id,...]} (decimal ids)')
  .action(async (options: { endpoints: string; json?: boolean }) => {
    const { parseEndpoints } = await import('./client-commands.ts');
    const { leaseListCommand, formatLeaseId } = await import('./lease-commands.ts');
    const leases = await leaseListCommand(parseEndpoints(options.endpoints));
    if (options.json === true) {
      console.log(JSON.stringify({ leases }));
      return;
    }
    console.log(`found ${leases.length} leases`);
    for (const id of leases) console.log(formatLeaseId(id));
  });

program
  .command('status')
  .description("each member's role, term, commit and applied index, and the leader")
  .option(...endpointsOption)
  .option('--json', 'print one JSON object')
  .action(async (options: { endpoints: string; json?: boolean }) => {
    const { statusCommand, parseEndpoints } = await import('./client-commands.ts');
    const status = await statusCommand(parseEndpoints(options.endpoints));
    if (options.json === true) {
      console.log(JSON.stringify(status));
      return;
    }
    console.log(
      `leader: ${status.leader === null ? '(none)' : `${status.leader.name} (${status.leader.id})`}`,
    );
    for (const m of status.members) {
      console.log(
        m.error === undefined
          ? `  ${m.name}  ${m.role}  term ${m.term}  commit ${m.commit}  applied ${m.applied}  pid ${m.pid}  ${m.endpoint}`
          : `  ${m.endpoint}  unreachable: ${m.error}`,
      );
    }
  });

const member = program.command('member').description('list, add, remove or promote members');
member
  .command('list')
  .option(...endpointsOption)
  .option('--json', 'print JSON')
  .action(async (options: { endpoints: string; json?: boolean }) => {
    const { memberListCommand, parseEndpoints } = await import('./client-commands.ts');
    const members = await memberListCommand(parseEndpoints(options.endpoints));
    if (options.json === true) console.log(JSON.stringify(members));
    else
      for (const m of members)
        console.log(`${m.name}  ${m.id}  ${m.role}  client ${m.client}  peer ${m.peer}  http ${m.http}`);
  });
member
  .command('add <name>')
  .description('add a member as a learner (or --voter); then start it with --initial-cluster-state existing')
  .requiredOption('--peer <host:port>', 'its peer address')
  .requiredOption('--client <host:port>', 'its client address')
  .requiredOption('--http <host:port>', 'its HTTP address')
  .option('--voter', 'add as a voter at once instead of a learner')
  .option(...endpointsOption)
  .action(
    async (
      name: string,
      options: { peer: string; client: string; http: string; voter?: boolean; endpoints: string },
    ) => {
      const { memberAddCommand, parseEndpoints } = await import('./client-commands.ts');
      const added = await memberAddCommand(parseEndpoints(options.endpoints), {
        name,
        peer: options.peer,
        client: options.client,
        http: options.http,
        voter: options.voter === true,
      });
      console.log(`added ${added.name} (${added.id}) as ${added.role}`);
    },
  );
for (const action of ['remove', 'promote'] as const) {
  member
    .command(`${action} <member>`)
    .description(`${action} a member, by name or id`)
    .option(...endpointsOption)
    .action(async (target: string, options: { endpoints: string }) => {
      const { memberChangeCommand, parseEndpoints } = await import('./client-commands.ts');
      await memberChangeCommand(parseEndpoints(options.endpoints), action, target);
      console.log(`${action === 'remove' ? 'removed' : 'promoted'} ${target}`);
    });
}

program
  .command('move-leader <member>')
  .description('hand leadership to a voter, by name or id (Raft leadership transfer)')
  .option(...endpointsOption)
  .action(async (target: string, options: { endpoints: string }) => {
    const { moveLeaderCommand, parseEndpoints } = await import('./client-commands.ts');
    await moveLeaderCommand(parseEndpoints(options.endpoints), target);
    console.log(`asked the leader to hand over to ${target}`);
  });

try {
  await program.parseAsync();
} catch (error) {
  // Typed errors (bad configuration, a refused request) are the user's to read, without a stack trace.
  if (error instanceof TesseraError || error instanceof RangeError) {
    console.error(`tessera: ${error instanceof TesseraError ? `${error.code}: ` : ''}${error.message}`);
  } else {
    console.error(error);
  }
  process.exitCode = 1;
}
