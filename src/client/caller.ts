/**
 * The one place a client's calls go through: which member to ask (the
 * leader when known, else the endpoints in turn), one connection per
 * member reused across calls, retries with backoff where the retry policy
 * allows them, deadlines, cancellation and closing. Every namespace of the
 * client (`kv`, `cluster`, and any added later) calls {@link Caller.call}
 * with an attempt that makes one RPC on the connection it is handed.
 *
 * Adding a namespace: a class taking the `Caller` (as `KvClient` does), a
 * field on `Client`, and a `CallKind` per method (`read` if repeating it
 * is harmless). Long-lived streams (watches) would need the connection to
 * a member for longer than one attempt; the leader tracking here is what
 * they would reuse to reconnect.
 *
 * @module
 */
import { type Clock, systemClock } from '../base/clock.ts';
import {
  CancelledError,
  DeadlineExceededError,
  NotLeaderError,
  OutcomeUnknownError,
} from '../base/errors.ts';
import { type Random, systemRandom } from '../base/random.ts';
import { ClusterService, type NodeStatus } from '../server/api.ts';
import { type BackoffOptions, backoffDelayMs } from '../transport/backoff.ts';
import { RpcClient, type RpcClientOptions } from '../transport/rpc-client.ts';
import type { CallOptions } from '../transport/service.ts';
import { checkAddress, checkTimeoutMs, type RequestOptions } from './request-options.ts';
import { type CallKind, failureVerdict } from './retry-policy.ts';

/**
 * Pauses between rounds of retries (a round asks every member once): short
 * at first, since an election takes a few hundred milliseconds, and capped
 * low, since the call's deadline bounds the whole wait anyway.
 */
export const RETRY_BACKOFF_DEFAULT: Readonly<Required<BackoffOptions>> = Object.freeze({
  initialMs: 25,
  multiplier: 2,
  jitter: 0.2,
  maxMs: 500,
});

/**
 * Reconnect backoff of each member's connection. Capped lower than the
 * transport's default (5 s): while a connection backs off, calls to that
 * member fail at once, so a restarted member would otherwise stay unused
 * for seconds.
 */
export const RECONNECT_BACKOFF_DEFAULT: Readonly<BackoffOptions> = Object.freeze({
  initialMs: 50,
  maxMs: 1000,
});

/** Most endpoints a client may be given. */
export const ENDPOINTS_MAX = 256;

/**
 * Most member addresses learned from the cluster (leader hints, member
 * directories) that the client keeps idle connections to, beyond its
 * endpoints.
 */
export const LEARNED_ENDPOINTS_MAX = 16;

/** How often, at most, a client asks a member that may not lead who does. */
export const DISCOVERY_INTERVAL_MS = 1000;

/** One try of a call: a single RPC on `rpc`, with `options` passed through. */
export type Attempt<T> = (rpc: RpcClient, options: CallOptions) => Promise<T>;

/** Where a call may go. */
export interface CallRoute {
  /** Ask only this member, once (no failover, no retry). */
  readonly pinned?: string;
  /**
   * When a member that may not lead answers, ask it in the background who
   * does (default true; false when the call itself asked for the status).
   */
  readonly discover?: boolean;
}

/** What a {@link Caller} needs. */
export interface CallerOptions {
  /** Client addresses (`host:port`) of members; at least one. */
  readonly endpoints: readonly string[];
  /** Default deadline of a call. */
  readonly timeoutMs: number;
  /** Pauses between retry rounds. */
  readonly retryBackoff: BackoffOptions;
  /** Options of each member's connection (its address aside). */
  readonly connection: Omit<RpcClientOptions, 'address'>;
  readonly clock?: Clock;
  readonly random?: Random;
}

/**
 * Makes calls to a cluster through its members' client endpoints. Calls
 * may run concurrently; they share the connections and the leader guess.
 */
export class Caller {
  readonly #endpoints: readonly string[];
  readonly #timeoutMs: number;
  readonly #retryBackoff: BackoffOptions;
  readonly #connectionOptions: Omit<RpcClientOptions, 'address'>;
  readonly #clock: Clock;
  readonly #random: Random;
  /** Invariant: holds every connection this caller opened and has not closed, by address. */
  readonly #connections = new Map<string, RpcClient>();
  /** Addresses learned from the cluster that are not endpoints, oldest first. */
  readonly #learned: string[] = [];
  /** The member calls go to first: the leader when {@link #leaderConfirmed}, else the last that answered. */
  #leader: string | undefined;
  #leaderConfirmed = false;
  /** Whether a status call to learn the leader is in flight (one at a time). */
  #discovering = false;
  /** When the last such call started (clock milliseconds). */
  #discoveredAtMs = Number.NEGATIVE_INFINITY;
  /** Wakes every call pausing between retry rounds (on close). */
  readonly #sleepers = new Set<() => void>();
  #closed = false;

  constructor(options: CallerOptions) {
    const endpoints = [...new Set(options.endpoints.map((e, i) => checkAddress(e, `endpoints[${i}]`)))];
    if (endpoints.length === 0)
      throw new RangeError('Cannot connect: endpoints must name at least one member');
    if (endpoints.length > ENDPOINTS_MAX) {
      throw new RangeError(
        `Cannot connect: ${endpoints.length} endpoints, over ENDPOINTS_MAX (${ENDPOINTS_MAX})`,
      );
    }
    this.#endpoints = endpoints;
    this.#timeoutMs = checkTimeoutMs(options.timeoutMs, 'connect');
    this.#retryBackoff = options.retryBackoff;
    this.#connectionOptions = options.connection;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    backoffDelayMs(0, this.#random, this.#retryBackoff); // validates the settings now, not at the first retry
  }

  /** The member calls go to first, or undefined before one answered (or after it failed). */
  get activeEndpoint(): string | undefined {
    return this.#leader;
  }

  /** Whether {@link activeEndpoint} is known to lead (from its status or another member's). */
  get leaderConfirmed(): boolean {
    return this.#leaderConfirmed;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Runs `attempt` against the cluster until it succeeds or may not be
   * retried. The leader (or the member that last answered) is asked first,
   * then the endpoints in order; a `NOT_LEADER` answer naming the leader's
   * client address is followed at once. After every member failed, the
   * call pauses (backoff) and goes round again, until its deadline.
   *
   * @param what the call, for messages ("put", "read"): "Cannot put: ...".
   * @throws {OutcomeUnknownError} when a write was sent and then its outcome was lost.
   * @throws {DeadlineExceededError} when no member took the call before the deadline
   *   (for a write, it then certainly did not take effect).
   * @throws {CancelledError} when `options.signal` aborted or the client closed.
   * @throws whatever the member answered that no retry can change (e.g. `InvalidArgumentError`).
   */
  async call<T>(
    kind: CallKind,
    what: string,
    attempt: Attempt<T>,
    options: RequestOptions = {},
    route: CallRoute = {},
  ): Promise<T> {
    const timeoutMs =
      options.timeoutMs === undefined ? this.#timeoutMs : checkTimeoutMs(options.timeoutMs, what);
    const signal = options.signal;
    this.#throwIfStopped(what, signal, undefined);
    const pinned = route.pinned === undefined ? undefined : checkAddress(route.pinned, 'endpoint');
    if (pinned !== undefined) this.#learn(pinned);
    const deadline = this.#clock.now() + timeoutMs;
    let lastError: unknown;
    // Bounded by the deadline: every round either pauses or makes at least one RPC that carries it.
    for (let round = 0; ; round++) {
      if (round > 0) {
        const delayMs = backoffDelayMs(round - 1, this.#random, this.#retryBackoff);
        if (this.#clock.now() + delayMs >= deadline) break;
        await this.#pause(delayMs, what, signal);
      }
      const queue = pinned === undefined ? this.#order() : [pinned];
      const tried = new Set<string>();
      while (queue.length > 0) {
        const address = queue.shift() as string;
        if (tried.has(address)) continue;
        tried.add(address);
        const remainingMs = deadline - this.#clock.now();
        if (remainingMs <= 0) break;
        try {
          const result = await attempt(this.#connection(address), {
            timeoutMs: Math.ceil(remainingMs),
            ...(signal === undefined ? {} : { signal }),
          });
          if (pinned === undefined) this.#answered(address, route.discover !== false);
          return result;
        } catch (error) {
          this.#throwIfStopped(what, signal, error);
          const verdict = failureVerdict(error, kind);
          if (pinned === undefined && verdict !== 'fail') this.#failed(address);
          if (verdict === 'outcomeUnknown') {
            throw new OutcomeUnknownError(
              `Cannot ${what}: the outcome is unknown, it may have taken effect (${(error as Error).message})`,
              { cause: error, details: { endpoint: address } },
            );
          }
          if (verdict === 'fail' || pinned !== undefined) throw error;
          lastError = error;
          const hint = leaderHint(error);
          if (hint !== undefined && !tried.has(hint)) {
            this.#learn(hint);
            queue.unshift(hint);
          }
        }
      }
    }
    const last = lastError instanceof Error ? `; the last error was: ${lastError.message}` : '';
    throw new DeadlineExceededError(`Cannot ${what}: no member took it within ${timeoutMs} ms${last}`, {
      cause: lastError,
    });
  }

  /**
   * Asks the members for their status until one answers, and from it
   * learns which member leads: calls then go there first.
   *
   * @throws as {@link call}.
   */
  async findLeader(options: RequestOptions = {}): Promise<NodeStatus> {
    const { status, address } = await this.call(
      'read',
      'find the cluster',
      async (rpc, callOptions) => ({
        status: await rpc.service(ClusterService).status(null, callOptions),
        address: rpc.address,
      }),
      options,
      { discover: false },
    );
    this.#adoptLeader(status, address);
    return status;
  }

  /** Closes every connection; calls in flight and later calls reject with `CancelledError`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const wake of [...this.#sleepers]) wake();
    this.#sleepers.clear();
    for (const connection of this.#connections.values()) connection.close();
    this.#connections.clear();
    this.#leader = undefined;
    this.#leaderConfirmed = false;
  }

  /** Where a round asks, in order: the leader (or last member that answered), then the endpoints. */
  #order(): string[] {
    const leader = this.#leader;
    return leader === undefined
      ? [...this.#endpoints]
      : [leader, ...this.#endpoints.filter((e) => e !== leader)];
  }

  /** The connection to `address`, opened on first use and kept until close. */
  #connection(address: string): RpcClient {
    let connection = this.#connections.get(address);
    if (connection === undefined) {
      connection = new RpcClient({ ...this.#connectionOptions, address });
      this.#connections.set(address, connection);
    }
    return connection;
  }

  /**
   * `address` took a call: it becomes the member asked first, and while it
   * is not known to lead, it is asked who does (at once when it is new,
   * then at most every {@link DISCOVERY_INTERVAL_MS}: a leader just elected
   * may not have published its address yet).
   */
  #answered(address: string, discover: boolean): void {
    if (this.#leader !== address) {
      this.#leader = address;
      this.#leaderConfirmed = false;
      this.#discoveredAtMs = Number.NEGATIVE_INFINITY;
    }
    if (!discover || this.#leaderConfirmed || this.#discovering) return;
    const nowMs = this.#clock.now();
    if (nowMs - this.#discoveredAtMs < DISCOVERY_INTERVAL_MS) return;
    this.#discoveredAtMs = nowMs;
    this.#discovering = true;
    void this.#discoverFrom(address).finally(() => {
      this.#discovering = false;
    });
  }

  /** A call to `address` failed: stop asking it first. */
  #failed(address: string): void {
    if (this.#leader !== address) return;
    this.#leader = undefined;
    this.#leaderConfirmed = false;
  }

  /** Asks `address` for its status in the background and adopts the leader it names; failures are ignored. */
  async #discoverFrom(address: string): Promise<void> {
    try {
      const connection = this.#connections.get(address);
      if (connection === undefined) return;
      const status = await connection.service(ClusterService).status(null, { timeoutMs: this.#timeoutMs });
      // Another call may have moved on meanwhile (a failover): only a guess still standing is refined.
      if (!this.#closed && this.#leader === address && !this.#leaderConfirmed)
        this.#adoptLeader(status, address);
    } catch {
      // The member went away: the next call fails over on its own.
    }
  }

  /** Takes the leader from a member's status: that member when it leads, else the leader's client address. */
  #adoptLeader(status: NodeStatus, address: string): void {
    if (status.role === 'leader') {
      this.#leader = address;
      this.#leaderConfirmed = true;
      return;
    }
    const leader = status.leaderId === 0 ? undefined : status.members.find((m) => m.id === status.leaderId);
    let client: string;
    try {
      client = checkAddress(leader?.client, 'the leader address');
    } catch {
      // No leader known yet, or it has not published its client address: keep asking `address` first.
      this.#leader ??= address;
      return;
    }
    this.#learn(client);
    this.#leader = client;
    this.#leaderConfirmed = true;
  }

  /**
   * Remembers an address the cluster named. Connections to learned
   * addresses beyond {@link LEARNED_ENDPOINTS_MAX} are closed, oldest
   * first, when idle.
   */
  #learn(address: string): void {
    if (this.#endpoints.includes(address) || this.#learned.includes(address)) return;
    this.#learned.push(address);
    for (let i = 0; this.#learned.length > LEARNED_ENDPOINTS_MAX && i < this.#learned.length; ) {
      const old = this.#learned[i] as string;
      const connection = this.#connections.get(old);
      if (old === this.#leader || old === address || (connection?.callsInFlight ?? 0) > 0) {
        i++;
        continue;
      }
      connection?.close();
      this.#connections.delete(old);
      this.#learned.splice(i, 1);
    }
  }

  /** Rejects a call the client's closing or the caller's signal stopped, keeping `cause` (an attempt's error). */
  #throwIfStopped(what: string, signal: AbortSignal | undefined, cause: unknown): void {
    if (this.#closed) {
      throw new CancelledError(`Cannot ${what}: the client is closed`, cause === undefined ? {} : { cause });
    }
    if (signal?.aborted === true) {
      if (cause instanceof CancelledError) throw cause;
      throw new CancelledError(`Cannot ${what}: cancelled`, { cause: signal.reason });
    }
  }

  /** Waits `delayMs` between retry rounds; rejects at once when the signal aborts or the client closes. */
  #pause(delayMs: number, what: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        this.#clock.clearTimer(timer);
        this.#sleepers.delete(stop);
        signal?.removeEventListener('abort', stop);
      };
      const stop = (): void => {
        finish();
        try {
          this.#throwIfStopped(what, signal, undefined);
          resolve();
        } catch (error) {
          reject(error);
        }
      };
      const timer = this.#clock.setTimer(() => {
        finish();
        resolve();
      }, delayMs);
      this.#sleepers.add(stop);
      signal?.addEventListener('abort', stop, { once: true });
    });
  }
}

/** The leader's client address from a `NOT_LEADER` answer, when it names one. */
function leaderHint(error: unknown): string | undefined {
  if (!(error instanceof NotLeaderError)) return undefined;
  const client = error.details?.['leaderClient'];
  try {
    return checkAddress(client, 'the leader hint');
  } catch {
    return undefined;
  }
}
