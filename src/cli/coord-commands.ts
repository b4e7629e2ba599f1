/**
 * `tessera lock` and `tessera elect`: the coordination recipes
 * (`tessera/coord`) from the shell, as etcdctl's commands of the same names.
 *
 * - `tessera lock NAME [--ttl S] -- CMD ARGS...` takes the lock, runs CMD
 *   with `TESSERA_LOCK_NAME`, `TESSERA_LOCK_KEY` and `TESSERA_LOCK_TOKEN`
 *   in its environment, releases the lock when CMD exits and exits with
 *   CMD's code. Without CMD it prints the key and token and holds the lock
 *   until SIGINT or SIGTERM.
 * - `tessera elect NAME PROPOSAL` campaigns and prints every leadership
 *   change it sees until interrupted, then resigns; `--listen` only
 *   observes.
 *
 * Exit codes: CMD's own (128 + N when a signal N killed it, 127 when it
 * cannot be found, 126 when it cannot be run); {@link EXIT_CODE_USAGE} for
 * bad usage, before anything is sent; {@link EXIT_CODE_SESSION_LOST} when
 * the session's lease was lost, waiting or holding (CMD, still running
 * then, was sent SIGTERM: it no longer holds the lock); 128 + N when
 * signal N interrupted the wait for the lock or the leadership; 0 when it
 * interrupted a held lock or leadership (then released); 1 for other
 * failures (no member reachable).
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { SessionExpiredError } from '../base/errors.ts';
import { type Client, connect, type KeyValue, text } from '../client/index.ts';
import { Election } from '../coord/election.ts';
import { type LockGrant, Mutex } from '../coord/mutex.ts';
import { SESSION_TTL_SECONDS_DEFAULT, Session, type SessionEnd } from '../coord/session.ts';
import { parseEndpoints } from './client-commands.ts';
import { formatLeaseId } from './lease-commands.ts';

/** Exit code of bad usage (no name, a bad `--ttl`...): nothing was sent. */
export const EXIT_CODE_USAGE = 2;
/** Exit code when the session's lease was lost while holding the lock or the leadership (sysexits' `EX_TEMPFAIL`: try again). */
export const EXIT_CODE_SESSION_LOST = 75;
/** Exit code when CMD cannot be found (as a shell's). */
export const EXIT_CODE_COMMAND_NOT_FOUND = 127;
/** Exit code when CMD was found but cannot be run (as a shell's). */
export const EXIT_CODE_COMMAND_NOT_RUNNABLE = 126;

/** A command line that cannot run; its message is shown as is, and the command exits {@link EXIT_CODE_USAGE}. */
export class CoordUsageError extends Error {
  override readonly name = 'CoordUsageError';
}

/** What `tessera lock` was asked, checked. */
export interface LockArguments {
  readonly endpoints: string[];
  readonly name: string;
  readonly ttl: number;
  /** CMD and its arguments; undefined: hold until interrupted. */
  readonly command: readonly [string, ...string[]] | undefined;
  readonly json: boolean;
}

/** What `tessera elect` was asked, checked. */
export interface ElectArguments {
  readonly endpoints: string[];
  readonly name: string;
  readonly ttl: number;
  /** The proposal to campaign with; undefined with `--listen`. */
  readonly proposal: string | undefined;
  readonly json: boolean;
}

/** The options of `tessera lock` and `tessera elect` as commander hands them over. */
export interface CoordOptions {
  readonly endpoints: string;
  readonly ttl?: string;
  readonly json?: boolean;
  readonly listen?: boolean;
}

/**
 * The session TTL `--ttl` asks for (default {@link SESSION_TTL_SECONDS_DEFAULT}, as etcdctl's 60 s).
 *
 * @throws {CoordUsageError} when it is not a whole number of seconds >= 1.
 */
export function parseTtl(value: string | undefined, command: string): number {
  if (value === undefined) return SESSION_TTL_SECONDS_DEFAULT;
  const ttl = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(ttl) || ttl < 1) {
    throw new CoordUsageError(
      `Cannot ${command}: --ttl must be a whole number of seconds >= 1, got ${JSON.stringify(value)}`,
    );
  }
  return ttl;
}

function checkName(name: string | undefined, command: string): string {
  if (name === undefined) throw new CoordUsageError(`Cannot ${command}: give the NAME`);
  if (name === '') throw new CoordUsageError(`Cannot ${command}: NAME is empty`);
  return name;
}

function checkEndpoints(endpoints: string, command: string): string[] {
  try {
    return parseEndpoints(endpoints);
  } catch (error) {
    throw new CoordUsageError(`Cannot ${command}: ${(error as Error).message}`);
  }
}

/**
 * Checks `tessera lock NAME [--ttl S] [--] [CMD ARGS...]`.
 *
 * @throws {CoordUsageError} on a missing or empty NAME, a bad `--ttl` or no endpoint.
 */
export function lockArguments(
  name: string | undefined,
  command: readonly string[],
  options: CoordOptions,
): LockArguments {
  const [program, ...rest] = command;
  return {
    name: checkName(name, 'lock'),
    ttl: parseTtl(options.ttl, 'lock'),
    endpoints: checkEndpoints(options.endpoints, 'lock'),
    command: program === undefined ? undefined : [program, ...rest],
    json: options.json === true,
  };
}

/**
 * Checks `tessera elect NAME PROPOSAL` and `tessera elect NAME --listen`.
 *
 * @throws {CoordUsageError} on a missing or empty NAME, a proposal missing
 *   without `--listen` or given with it, a bad `--ttl` or no endpoint.
 */
export function electArguments(
  name: string | undefined,
  proposal: string | undefined,
  options: CoordOptions,
): ElectArguments {
  const checkedName = checkName(name, 'elect');
  if (options.listen === true && proposal !== undefined) {
    throw new CoordUsageError('Cannot elect: --listen only observes; give no PROPOSAL with it');
  }
  if (options.listen !== true && proposal === undefined) {
    throw new CoordUsageError('Cannot elect: give a PROPOSAL to campaign with, or --listen to observe');
  }
  return {
    name: checkedName,
    ttl: parseTtl(options.ttl, 'elect'),
    endpoints: checkEndpoints(options.endpoints, 'elect'),
    proposal,
    json: options.json === true,
  };
}

/** The environment CMD runs in: the caller's and the lock's name, key and token. */
export function lockEnvironment(base: NodeJS.ProcessEnv, name: string, grant: LockGrant): NodeJS.ProcessEnv {
  return {
    ...base,
    TESSERA_LOCK_NAME: name,
    TESSERA_LOCK_KEY: text(grant.key),
    TESSERA_LOCK_TOKEN: String(grant.token),
  };
}

/** The exit code that passes on how CMD ended: its code, or 128 + the signal's number (as a shell). */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const number = signal === null ? undefined : constants.signals[signal];
  return number === undefined ? 1 : 128 + number;
}

/** A leader as `tessera elect --json` prints it: its key, proposal, create revision and lease (hex). */
export function leaderLine(leader: KeyValue): {
  key: string;
  value: string;
  revision: number;
  lease: string;
} {
  return {
    key: text(leader.key),
    value: text(leader.value),
    revision: leader.createRevision,
    lease: formatLeaseId(leader.lease),
  };
}

/** A leader as `tessera elect` prints it for people: the key line then the proposal line (etcdctl's layout). */
export function leaderText(leader: KeyValue): string {
  return `${text(leader.key)}\n${text(leader.value)}`;
}

/** SIGINT and SIGTERM, caught for as long as the command runs. */
interface Interrupts {
  /** Aborts at the first signal. */
  readonly signal: AbortSignal;
  /** The first signal received. */
  readonly received: NodeJS.Signals | undefined;
  /** Calls `listener` on every signal from now on (a command to pass them to). */
  forward(listener: (signal: NodeJS.Signals) => void): void;
  dispose(): void;
}

const INTERRUPT_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function catchInterrupts(): Interrupts {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const listeners: ((signal: NodeJS.Signals) => void)[] = [];
  // Every signal is caught while the command runs: a second Ctrl-C must not kill this process and leave CMD running.
  const onSignal = (signal: NodeJS.Signals): void => {
    received ??= signal;
    controller.abort();
    for (const listener of listeners) listener(signal);
  };
  for (const name of INTERRUPT_SIGNALS) process.on(name, onSignal);
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    forward(listener) {
      listeners.push(listener);
    },
    dispose() {
      for (const name of INTERRUPT_SIGNALS) process.off(name, onSignal);
    },
  };
}

/**
 * The exit code of a command that failed: 128 + N when signal N
 * interrupted it, {@link EXIT_CODE_SESSION_LOST} when its session was lost
 * (while it waited for the lock or the leadership).
 *
 * @throws `error` when it is neither (main reports it and exits 1).
 */
function failureExitCode(error: unknown, interrupts: Interrupts): number {
  if (interrupts.signal.aborted) return exitCodeOf(null, interrupts.received ?? 'SIGINT');
  if (!(error instanceof SessionExpiredError)) throw error;
  console.error(`tessera: ${error.message}`);
  return EXIT_CODE_SESSION_LOST;
}

function sessionLostMessage(end: SessionEnd, what: string): string {
  const why =
    end.reason === 'lease-lost' ? 'its lease expired or was revoked' : 'the cluster did not renew it in time';
  return `tessera: ${what}: the session was lost (${why})`;
}

/** Resolves with the session's end or the first interrupt, whichever comes first. */
function sessionEndOrInterrupt(
  session: Session,
  interrupts: Interrupts,
): Promise<SessionEnd | 'interrupted'> {
  if (interrupts.signal.aborted) return Promise.resolve('interrupted');
  return Promise.race([
    session.done,
    new Promise<'interrupted'>((resolve) =>
      interrupts.signal.addEventListener('abort', () => resolve('interrupted'), { once: true }),
    ),
  ]);
}

/**
 * `tessera lock`: checks the arguments (exit {@link EXIT_CODE_USAGE} on bad
 * usage), takes the lock, runs CMD under it or holds it, then releases it.
 * Sets `process.exitCode`.
 */
export async function runLockCommand(
  name: string | undefined,
  command: readonly string[],
  options: CoordOptions,
): Promise<void> {
  const args = usage(() => lockArguments(name, command, options));
  if (args === undefined) return;
  const interrupts = catchInterrupts();
  try {
    process.exitCode = await lockWithSession(args, interrupts);
  } catch (error) {
    process.exitCode = failureExitCode(error, interrupts);
  } finally {
    interrupts.dispose();
  }
}

async function lockWithSession(args: LockArguments, interrupts: Interrupts): Promise<number> {
  const client = await connect({ endpoints: args.endpoints, signal: interrupts.signal });
  try {
    const session = await Session.create(client, { ttl: args.ttl, signal: interrupts.signal });
    try {
      const mutex = new Mutex(session, args.name);
      const grant = await mutex.lock({ signal: interrupts.signal });
      const code =
        args.command === undefined
          ? await holdLock(session, grant, args.json, interrupts)
          : await runUnderLock(session, grant, args, args.command, interrupts);
      // Closing the session revokes its lease, which deletes the key all the same: an unlock that fails changes nothing.
      if (session.alive) await mutex.unlock({ timeoutMs: 5_000 }).catch(() => undefined);
      return code;
    } finally {
      await session.close();
    }
  } finally {
    client.close();
  }
}

async function holdLock(
  session: Session,
  grant: LockGrant,
  json: boolean,
  interrupts: Interrupts,
): Promise<number> {
  const key = text(grant.key);
  console.log(
    json
      ? JSON.stringify({ key, token: grant.token, lease: formatLeaseId(session.lease) })
      : `key ${key}\ntoken ${grant.token}`,
  );
  const ended = await sessionEndOrInterrupt(session, interrupts);
  if (ended === 'interrupted') return 0;
  console.error(sessionLostMessage(ended, `lock ${key} is no longer held`));
  return EXIT_CODE_SESSION_LOST;
}

/** Runs CMD with the lock's environment; resolves with the exit code to pass on. */
function runUnderLock(
  session: Session,
  grant: LockGrant,
  args: LockArguments,
  command: readonly [string, ...string[]],
  interrupts: Interrupts,
): Promise<number> {
  const [program, ...programArgs] = command;
  const child = spawn(program, programArgs, {
    stdio: 'inherit',
    env: lockEnvironment(process.env, args.name, grant),
  });
  let lost = false;
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  interrupts.forward((signal) => {
    if (running()) child.kill(signal);
  });
  void session.done.then((end) => {
    if (end.reason === 'closed' || !running()) return;
    lost = true;
    console.error(
      sessionLostMessage(end, `lock ${text(grant.key)} is no longer held`) +
        `; stopping ${program} (pid ${child.pid}) with SIGTERM`,
    );
    child.kill('SIGTERM');
  });
  return new Promise((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      // Spawning failed (no 'exit' follows): the shell's codes say why.
      console.error(`tessera: cannot run ${program}: ${error.message}`);
      resolve(error.code === 'ENOENT' ? EXIT_CODE_COMMAND_NOT_FOUND : EXIT_CODE_COMMAND_NOT_RUNNABLE);
    });
    child.once('exit', (code, signal) => resolve(lost ? EXIT_CODE_SESSION_LOST : exitCodeOf(code, signal)));
  });
}

/**
 * `tessera elect`: checks the arguments (exit {@link EXIT_CODE_USAGE} on
 * bad usage), prints every leadership change until interrupted, and with a
 * proposal campaigns, holds the leadership, then resigns. Sets
 * `process.exitCode`.
 */
export async function runElectCommand(
  name: string | undefined,
  proposal: string | undefined,
  options: CoordOptions,
): Promise<void> {
  const args = usage(() => electArguments(name, proposal, options));
  if (args === undefined) return;
  const interrupts = catchInterrupts();
  try {
    process.exitCode = await elect(args, interrupts);
  } catch (error) {
    process.exitCode = failureExitCode(error, interrupts);
  } finally {
    interrupts.dispose();
  }
}

async function elect(args: ElectArguments, interrupts: Interrupts): Promise<number> {
  const client = await connect({ endpoints: args.endpoints, signal: interrupts.signal });
  const stopObserving = new AbortController();
  const stop = (): void => stopObserving.abort();
  interrupts.signal.addEventListener('abort', stop, { once: true });
  try {
    const observing = observe(client, args, stopObserving.signal);
    if (args.proposal === undefined) {
      await observing;
      return 0;
    }
    // An observer that fails (history compacted) ends the command, whatever the campaign is doing.
    const observerFailed = new Promise<never>((_, reject) => {
      observing.catch(reject);
    });
    const session = await Session.create(client, { ttl: args.ttl, signal: interrupts.signal });
    try {
      const election = new Election(session, args.name);
      await Promise.race([election.campaign(args.proposal, { signal: interrupts.signal }), observerFailed]);
      const ended = await Promise.race([sessionEndOrInterrupt(session, interrupts), observerFailed]);
      // The observer stops first, so the last line printed is not the successor this resignation makes.
      stop();
      await observing;
      if (ended !== 'interrupted') {
        console.error(sessionLostMessage(ended, `the candidacy in ${args.name} is over`));
        return EXIT_CODE_SESSION_LOST;
      }
      if (session.alive) await election.resign({ timeoutMs: 5_000 }).catch(() => undefined);
      return 0;
    } finally {
      await session.close();
    }
  } finally {
    stop();
    interrupts.signal.removeEventListener('abort', stop);
    client.close();
  }
}

/** Prints each leader as it changes until `signal` aborts. */
async function observe(client: Client, args: ElectArguments, signal: AbortSignal): Promise<void> {
  try {
    for await (const leader of Election.observe(client, args.name, { signal })) {
      console.log(args.json ? JSON.stringify(leaderLine(leader)) : leaderText(leader));
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}

/** Runs `check`; on a {@link CoordUsageError}, prints it, sets exit code {@link EXIT_CODE_USAGE} and returns undefined. */
function usage<T>(check: () => T): T | undefined {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof CoordUsageError)) throw error;
    console.error(`tessera: ${error.message}`);
    process.exitCode = EXIT_CODE_USAGE;
    return undefined;
  }
}
