/**
 * The surroundings etcd3's documented examples run in, for
 * `etcd3-examples.test.ts`: the names an example takes from its file
 * (`require`, `console`, `setTimeout`, the `Etcd3` class) are supplied
 * here, so the example's text runs unchanged while the test sees what it
 * printed and ends what it left running. Not part of the build
 * (`*.suite.ts`).
 *
 * @module
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { format } from 'node:util';
import * as etcd3 from 'etcd3';

/** How long a test waits for what an example should do before failing: a bound against hangs, not a timing. */
export const WAIT_MS = 30_000;

/** Resolves once `done()` holds, polling; fails after {@link WAIT_MS}, saying what it waited for. */
export async function until(done: () => boolean | Promise<boolean>, what: () => string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await done())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The `console` an example prints to. */
export interface ExampleConsole {
  log(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/** The `require` an example loads its modules with: etcd3 and the one function of `os` they use. */
export interface ExampleRequire {
  (id: 'etcd3'): typeof etcd3;
  (id: 'os'): { hostname(): string };
}

/** A callback an example handed to `setTimeout`, kept rather than run: the test runs it when it chooses. */
export interface ScheduledCallback {
  readonly callback: () => void;
  readonly delayMs: number;
}

/** A lease, with how many of its keep-alives are still unanswered. */
interface TrackedLease {
  readonly lease: etcd3.Lease;
  unanswered: number;
}

/**
 * etcd3's own client, recording what an example starts and never ends
 * (leases and their keep-alives, election campaigns and observers,
 * watchers), so that {@link ExampleEtcd3.stop} can end them: closing the
 * client alone leaves their streams and timers running, and the test
 * process would not exit.
 */
export class ExampleEtcd3 extends etcd3.Etcd3 {
  readonly #leases: TrackedLease[] = [];
  readonly #campaigns: etcd3.Campaign[] = [];
  readonly #observers: etcd3.ElectionObserver[] = [];
  readonly #watchers: etcd3.Watcher[] = [];

  /** The watchers created through this client so far (its `create()` resolved). */
  get watchers(): readonly etcd3.Watcher[] {
    return this.#watchers;
  }

  override lease(ttl: number, options?: etcd3.ILeaseOptions): etcd3.Lease {
    return this.#track(super.lease(ttl, options));
  }

  /** A namespace whose leases are recorded too (an election's campaigns take theirs from one). */
  override namespace(prefix: string | Buffer): etcd3.Namespace {
    const namespace = super.namespace(prefix);
    const lease = namespace.lease.bind(namespace);
    namespace.lease = (ttl, options) => this.#track(lease(ttl, options));
    return namespace;
  }

  override election(name: string, ttl?: number): etcd3.Election {
    const election = super.election(name, ttl);
    const campaign = election.campaign.bind(election);
    election.campaign = (value) => {
      const started = campaign(value);
      this.#campaigns.push(started);
      return started;
    };
    const observe = election.observe.bind(election);
    election.observe = async () => {
      const observer = await observe();
      this.#observers.push(observer);
      return observer;
    };
    return election;
  }

  override watch(): etcd3.WatchBuilder {
    const builder = super.watch();
    const create = builder.create.bind(builder);
    builder.create = async () => {
      const watcher = await create();
      this.#watchers.push(watcher);
      return watcher;
    };
    return builder;
  }

  /**
   * Ends what the example left running, leaving the client open (an
   * example's campaign may still wait on another's key): stops every
   * lease's keep-alives once none is unanswered, cancels the observers,
   * resigns the campaigns, cancels the watchers and revokes the leases (a
   * revoked lease is not reported `lost`, so an example does not grant
   * another).
   */
  async stop(): Promise<void> {
    // etcd3 1.1.2 re-arms a lease's keep-alive timeout (its TTL) when an answer comes after the lease
    // closed, and that timer would hold the test process open: so no keep-alive may be in flight.
    await until(
      () => this.#leases.every(({ lease, unanswered }) => lease.revoked() || unanswered === 0),
      () => 'the keep-alives in flight to be answered',
    );
    for (const { lease } of this.#leases) lease.release();
    for (const observer of this.#observers.splice(0)) await observer.cancel();
    for (const campaign of this.#campaigns.splice(0)) await campaign.resign();
    for (const watcher of this.#watchers.splice(0)) await watcher.cancel();
    for (const { lease } of this.#leases.splice(0)) await lease.revoke();
  }

  #track(lease: etcd3.Lease): etcd3.Lease {
    const tracked: TrackedLease = { lease, unanswered: 0 };
    lease.on('keepaliveFired', () => {
      tracked.unanswered += 1;
    });
    lease.on('keepaliveSucceeded', () => {
      tracked.unanswered -= 1;
    });
    // The stream failed: what was in flight on it will not be answered.
    lease.on('keepaliveFailed', () => {
      tracked.unanswered = 0;
    });
    this.#leases.push(tracked);
    return lease;
  }
}

/**
 * One run of an example, as one program on one machine: what it printed,
 * what it scheduled, the clients it made. End it with {@link end}.
 */
export class ExampleSandbox {
  /** Each `console.log` / `console.error` call, formatted as Node's console formats it. */
  readonly printed: string[] = [];
  /** The arguments of each `console.log` / `console.error` call. */
  readonly logged: unknown[][] = [];
  /** What the example handed to `setTimeout`, in order. */
  readonly scheduled: ScheduledCallback[] = [];
  readonly console: ExampleConsole;
  readonly require: ExampleRequire;
  /** etcd3's `Etcd3`, recording each client made so {@link end} can end it. */
  readonly Etcd3: typeof etcd3.Etcd3;
  readonly setTimeout: (callback: () => void, delayMs: number) => void;
  readonly #clients: ExampleEtcd3[] = [];

  /** @param options.hostname what `os.hostname()` answers (the machine's own name by default). */
  constructor(options: { readonly hostname?: string } = {}) {
    const print = (...args: unknown[]) => {
      this.logged.push(args);
      this.printed.push(format(...args));
    };
    this.console = { log: print, error: print };
    const hostname = options.hostname;
    const osModule = hostname === undefined ? os : { hostname: () => hostname };
    const clients = this.#clients;
    const Etcd3 = class extends ExampleEtcd3 {
      constructor(clientOptions?: etcd3.IOptions) {
        super(clientOptions);
        clients.push(this);
      }
    };
    this.Etcd3 = Etcd3;
    const etcd3Module = { ...etcd3, Etcd3 };
    this.require = ((id: string) => {
      if (id === 'etcd3') return etcd3Module;
      if (id === 'os') return osModule;
      throw new RangeError(`Cannot require ${id}: the examples only load etcd3 and os`);
    }) as ExampleRequire;
    this.setTimeout = (callback, delayMs) => {
      this.scheduled.push({ callback, delayMs });
    };
  }

  /** The clients the example made, in order. */
  get clients(): readonly ExampleEtcd3[] {
    return this.#clients;
  }

  /** Stops what the example left running (see {@link ExampleEtcd3.stop}), leaving its clients open. */
  async stop(): Promise<void> {
    for (const client of this.#clients) await client.stop();
  }

  /** Closes the clients the example made. */
  close(): void {
    for (const client of this.#clients.splice(0)) client.close();
  }

  /** {@link stop}, then {@link close}. Safe to call twice. */
  async end(): Promise<void> {
    await this.stop();
    this.close();
  }
}
