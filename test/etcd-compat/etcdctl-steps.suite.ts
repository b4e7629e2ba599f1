/**
 * What one step of the etcdctl script is, and how it runs against one
 * cluster: a plain etcdctl command (with stdin), or a long-running one
 * (`watch`, `lease keep-alive`, `elect`, `lock` without a command) left
 * running while a writer runs other commands, then stopped. Either way the
 * step gives a transcript: what etcdctl wrote to stdout, then to stderr,
 * then how it exited, then the same for each writer command. Not part of
 * the build (`*.suite.ts`).
 *
 * @module
 */
import type { ComparedSide } from './etcdctl-clusters.suite.ts';
import type { Rewrite } from './etcdctl-normalize.suite.ts';
import { EtcdctlProcess } from './etcdctl-process.suite.ts';

/** How long a command that ends by itself may take, in milliseconds (it is given a 15 s command timeout). */
const PLAIN_RUN_TIMEOUT_MS = 30_000;
/** How long `check perf --load=s` (a minute of load, then cleanup) may take, in milliseconds. */
export const CHECK_PERF_TIMEOUT_MS = 150_000;

/** One etcdctl run; `{name}` in `args` and `stdin` is the side's captured variable `name`. */
export interface EtcdctlCommand {
  readonly args: readonly string[];
  /** Written to its stdin. */
  readonly stdin?: string;
  /** `first`: only the first member's address (`snapshot save` takes one endpoint); default all. */
  readonly endpoints?: 'all' | 'first';
}

/** A writer's command; with `until`, one that does not end by itself (SIGINT once its output matches). */
export interface WriterCommand extends EtcdctlCommand {
  readonly until?: RegExp;
}

/** How a long-running command is driven. */
export interface Concurrent {
  /** The writer starts once the command's stdout matches this. */
  readonly readyWhen: RegExp;
  /** Commands run one after the other once the command is ready; their transcripts follow its own. */
  readonly writer: readonly WriterCommand[];
  /** The command is stopped once its stdout matches this (unless it exited first). */
  readonly doneWhen: RegExp;
  /**
   * How it is stopped then: it ends by itself (`exit`), its stdin is ended
   * (it is held open until then), or a signal.
   */
  readonly stop: 'exit' | 'stdin' | 'SIGINT' | 'SIGTERM';
}

/** One step of the script. */
export interface Step extends EtcdctlCommand {
  /** Unique; the known-differences table names steps by it. */
  readonly name: string;
  readonly concurrent?: Concurrent;
  /** Variables taken from the step's raw transcript (the first group), e.g. a granted lease id. */
  readonly capture?: Readonly<Record<string, RegExp>>;
  /** Tessera's transcript after normalization: literally, or matching the pattern. */
  readonly expected: string | RegExp;
  /**
   * Rewrites of both normalized transcripts before they are compared, for
   * values that differ between any two clusters by nature (hash values,
   * database sizes, Raft indexes, etcd's random member order); `expected`
   * still sees them.
   */
  readonly compareAs?: readonly Rewrite[];
  /**
   * The step runs no sooner than this long after the cluster was up, in
   * milliseconds: etcd refuses a member change ("unhealthy cluster") until
   * its leader has been connected to every member for 5 s (HealthInterval).
   */
  readonly upForMs?: number;
  /** A property of the raw transcript checked on both sides; returns what is wrong with it. */
  readonly invariant?: (transcript: string) => string | undefined;
}

/** `text` with `{name}` replaced by the side's variable `name`, and `{id:MEMBER}` by the member's id in hex. */
function substituted(text: string, side: ComparedSide, step: string): string {
  return text.replace(/\{(id:)?(\w+)\}/g, (_all, id: string | undefined, name: string) => {
    const value =
      id === undefined ? side.vars.get(name) : side.members.find((m) => m.name === name)?.id.toString(16);
    if (value === undefined)
      throw new Error(`Cannot run step ${step}: {${name}} was not captured on ${side.name}`);
    return value;
  });
}

/** The endpoints a command is given on `side`. */
function endpointsOf(command: EtcdctlCommand, side: ComparedSide): string[] {
  const all = side.members.map((m) => m.client);
  return command.endpoints === 'first' ? all.slice(0, 1) : all;
}

/** Runs one writer command; its transcript under a heading that names it. */
async function runWriter(command: WriterCommand, side: ComparedSide, step: string): Promise<string> {
  const args = command.args.map((arg) => substituted(arg, side, step));
  const heading = `--- writer: etcdctl ${args.join(' ')}\n`;
  if (command.until === undefined) return heading + (await runPlain(command, side, step));
  const writer = new EtcdctlProcess(args, endpointsOf(command, side));
  const seen = await writer.waitFor(command.until);
  return `${heading}${await writer.finish('SIGINT')}${seen ? '' : `--- gave up waiting for ${command.until}\n`}`;
}

/** Runs a command to its end (with a command timeout, as users run etcdctl in scripts). */
function runPlain(command: EtcdctlCommand, side: ComparedSide, step: string): Promise<string> {
  const args = command.args.map((arg) => substituted(arg, side, step));
  const stdin = substituted(command.stdin ?? '', side, step);
  const run = new EtcdctlProcess(['--command-timeout', '15s', ...args], endpointsOf(command, side), {
    stdin,
  });
  return run.finish('exit', PLAIN_RUN_TIMEOUT_MS);
}

/** Runs a long-running command with its writer. */
async function runConcurrent(step: Step, concurrent: Concurrent, side: ComparedSide): Promise<string> {
  const args = step.args.map((arg) => substituted(arg, side, step.name));
  const main = new EtcdctlProcess(args, endpointsOf(step, side), {
    stdin: substituted(step.stdin ?? '', side, step.name),
    // Stopped by ending its stdin, the command reads it until then (`watch -i`).
    keepStdinOpen: concurrent.stop === 'stdin',
  });
  const notes: string[] = [];
  const writers: string[] = [];
  if (await main.waitFor(concurrent.readyWhen)) {
    for (const command of concurrent.writer) writers.push(await runWriter(command, side, step.name));
    if (!(await main.waitFor(concurrent.doneWhen)))
      notes.push(`--- gave up waiting for ${concurrent.doneWhen}\n`);
  } else {
    notes.push(`--- gave up waiting for ${concurrent.readyWhen}\n`);
  }
  return [await main.finish(concurrent.stop), ...notes, ...writers].join('');
}

/**
 * Runs `step` against `side`, captures its variables there, and gives its
 * raw transcript (not yet normalized).
 *
 * @throws {Error} when the step uses a variable not captured on the side.
 */
export async function runStep(step: Step, side: ComparedSide): Promise<string> {
  const early = side.upSinceMs + (step.upForMs ?? 0) - Date.now();
  if (early > 0) await new Promise((resolve) => setTimeout(resolve, early));
  const output =
    step.concurrent === undefined
      ? await runPlain(step, side, step.name)
      : await runConcurrent(step, step.concurrent, side);
  for (const [name, pattern] of Object.entries(step.capture ?? {})) {
    const value = pattern.exec(output)?.[1];
    if (value !== undefined) side.vars.set(name, value);
  }
  return output;
}

/** Runs `etcdctl check perf --load=s` (about a minute) against `side`; its transcript. */
export function runCheckPerf(side: ComparedSide): Promise<string> {
  const perf = new EtcdctlProcess(['check', 'perf', '--load=s'], endpointsOf({ args: [] }, side));
  return perf.finish('exit', CHECK_PERF_TIMEOUT_MS);
}
