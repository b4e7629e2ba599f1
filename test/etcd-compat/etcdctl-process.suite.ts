/**
 * One `etcdctl` process (v3 API) whose output is watched as it comes, and
 * that ends in a transcript: what it wrote to stdout, then `--- stderr` and
 * what it wrote there, then `--- exit CODE` (or the signal that ended it).
 * Every process started is tracked until it exits, so a failed test can
 * kill what is left by PID. Not part of the build (`*.suite.ts`).
 *
 * (`etcdctlRunner` of `src/api/etcd/etcdctl-runner.suite.ts` runs a command
 * to its end only, and writes stdin without an error listener, so an
 * etcdctl that exits before reading it fails the test with EPIPE.)
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { ETCDCTL_ENV } from '../../src/api/etcd/etcd-cluster.suite.ts';

/** How long a command may take to print what a step waits for, by default, in milliseconds. */
export const ETCDCTL_WAIT_MS = 15_000;
/** How long a stopped command may take to exit before it is killed, by default, in milliseconds. */
export const ETCDCTL_STOP_MS = 5_000;

/** Every etcdctl started and not yet exited. */
const running = new Set<ChildProcess>();

/** SIGKILLs (by PID) every etcdctl still running. */
export function killStrayEtcdctls(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** A run's output as one text: stdout, then stderr, then the exit (code or signal). */
function transcript(stdout: string, stderr: string, exit: string): string {
  const ended = (text: string) =>
    text === '' || text.endsWith('\n') ? text : `${text}\n[no newline at end]\n`;
  return `${ended(stdout)}${stderr === '' ? '' : `--- stderr\n${ended(stderr)}`}--- exit ${exit}\n`;
}

/**
 * A running `etcdctl --endpoints ENDPOINTS ARGS`.
 *
 * @example
 * ```ts
 * const watch = new EtcdctlProcess(['watch', 'k'], ['127.0.0.1:2379']);
 * if (await watch.waitFor(/PUT\n/)) console.log(await watch.finish('SIGTERM'));
 * ```
 */
export class EtcdctlProcess {
  stdout = '';
  stderr = '';
  /** Resolves with how it exited (a code, or a signal's name) once its output is all read. */
  readonly exited: Promise<string>;
  readonly #child: ChildProcess;
  readonly #waiters = new Set<() => void>();

  /**
   * @param options.stdin written to its stdin, which is then ended unless
   *   `keepStdinOpen` (a command that reads until its stdin ends, `watch -i`).
   */
  constructor(
    args: readonly string[],
    endpoints: readonly string[],
    options: { readonly stdin?: string; readonly keepStdinOpen?: boolean } = {},
  ) {
    this.#child = spawn('etcdctl', ['--endpoints', endpoints.join(','), ...args], { env: ETCDCTL_ENV });
    running.add(this.#child);
    const wake = () => {
      for (const waiter of this.#waiters) waiter();
    };
    this.#child.stdout?.on('data', (chunk: Buffer) => {
      this.stdout += chunk.toString();
      wake();
    });
    this.#child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    // etcdctl may exit before it reads its stdin (EPIPE): what it printed says what happened.
    this.#child.stdin?.on('error', () => {});
    this.exited = new Promise((resolve) => {
      // 'close': the streams are drained, so everything printed is in stdout and stderr.
      this.#child.once('close', (code, signal) => {
        running.delete(this.#child);
        wake();
        resolve(signal ?? String(code));
      });
      this.#child.once('error', (error) => {
        this.stderr += `cannot run etcdctl: ${error.message}\n`;
      });
    });
    this.#child.stdin?.write(options.stdin ?? '');
    if (options.keepStdinOpen !== true) this.#child.stdin?.end();
  }

  get done(): boolean {
    return this.#child.exitCode !== null || this.#child.signalCode !== null;
  }

  /** Resolves true once stdout matches `pattern`; false when the command exits first or after `timeoutMs`. */
  async waitFor(pattern: RegExp, timeoutMs = ETCDCTL_WAIT_MS): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.stdout)) {
      if (this.done || Date.now() >= deadline) return pattern.test(this.stdout);
      await new Promise<void>((resolve) => {
        const waiter = () => {
          this.#waiters.delete(waiter);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(waiter, Math.max(0, deadline - Date.now()));
        this.#waiters.add(waiter);
      });
    }
    return true;
  }

  /**
   * Ends the command: `exit` waits for it to end by itself, `stdin` ends its
   * stdin, a signal is sent; it is killed when it has not exited within
   * `killAfterMs`. Resolves with its transcript.
   */
  async finish(how: 'exit' | 'stdin' | NodeJS.Signals, killAfterMs = ETCDCTL_STOP_MS): Promise<string> {
    if (!this.done) {
      if (how === 'stdin') this.#child.stdin?.end();
      else if (how !== 'exit') this.#child.kill(how);
    }
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), killAfterMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return transcript(this.stdout, this.stderr, exit);
  }
}
