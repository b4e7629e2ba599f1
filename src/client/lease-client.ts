/**
 * `client.lease`: leases (etcd v3's Lease API) through a {@link Caller}:
 * grant, revoke, keep-alive (once, or kept up in the background until
 * stopped), time-to-live and list.
 *
 * @module
 */
import { CancelledError } from '../base/errors.ts';
import type { LeaseGrantResponse, LeaseKeepAliveResponse, LeaseRevokeResponse } from '../kv/types.ts';
import { LeaseService, type LeaseTimeToLiveResponse } from '../server/api.ts';
import type { Caller } from './caller.ts';
import type { RequestOptions } from './request-options.ts';

/** Shortest pause between two renewals of a kept-alive lease. */
export const KEEP_ALIVE_INTERVAL_MIN_MS = 500;

/** Options of {@link LeaseClient.grant}. */
export interface GrantOptions extends RequestOptions {
  /** The lease id; absent or 0 lets the cluster pick one. */
  readonly id?: number;
}

/** Options of {@link LeaseClient.keepAlive}. */
export interface KeepAliveOptions {
  /** Aborting stops the renewals (the lease then expires after its TTL unless revoked). */
  readonly signal?: AbortSignal;
}

/**
 * A lease kept alive in the background: renewed a third of its TTL apart
 * (as etcd's clients do), each renewal retried on another member until the
 * TTL would run out. Iterate it (one reader at a time) to see each
 * renewal; `done` settles when the renewals stop.
 */
export interface KeepAlive extends AsyncIterable<LeaseKeepAliveResponse> {
  /**
   * Resolves when stopped ({@link stop} or the signal); rejects with the
   * error that ended the renewals: `InvalidArgumentError` with
   * `details.reason` `LEASE_NOT_FOUND` once the lease expired or was
   * revoked, or the last failure when no renewal succeeded within a TTL.
   */
  readonly done: Promise<void>;
  /** Stops renewing. Idempotent. */
  stop(): void;
}

/**
 * Leases: a key put with a lease is deleted when the lease ends, by revoke
 * or by expiry. Expiry is decided by the leader and goes through the log;
 * a renewal is answered once it is in the log, so a new leader keeps it.
 *
 * Grant, revoke and keep-alive are idempotent enough to be safe to retry
 * except `grant` without an id (a retry could create a second lease) and
 * `revoke` (the retry would answer `LEASE_NOT_FOUND`): those two reject
 * with `OutcomeUnknownError` when the answer was lost.
 *
 * Created by `connect`; reach it as `client.lease`.
 */
export class LeaseClient {
  readonly #caller: Caller;

  /** @internal Use `connect(...).lease`. */
  constructor(caller: Caller) {
    this.#caller = caller;
  }

  /**
   * Creates a lease of `ttl` seconds (raised to the cluster's minimum).
   *
   * @example
   * ```ts
   * const { id } = await client.lease.grant(10);
   * await client.kv.put('service/a', '127.0.0.1:8080', { lease: id });
   * ```
   */
  grant(ttl: number, options: GrantOptions = {}): Promise<LeaseGrantResponse> {
    const id = options.id ?? 0;
    return this.#caller.call(
      'write',
      'grant a lease',
      (rpc, callOptions) => rpc.service(LeaseService).grant({ ttl, id }, callOptions),
      options,
    );
  }

  /**
   * Ends a lease now, deleting its keys in one revision.
   *
   * @example
   * ```ts
   * const { deleted } = await client.lease.revoke(id);
   * ```
   */
  revoke(id: number, options: RequestOptions = {}): Promise<LeaseRevokeResponse> {
    return this.#caller.call(
      'write',
      'revoke a lease',
      (rpc, callOptions) => rpc.service(LeaseService).revoke({ id }, callOptions),
      options,
    );
  }

  /**
   * Renews a lease once: it has its full TTL again from the call.
   *
   * @throws {InvalidArgumentError} with `details.reason` `LEASE_NOT_FOUND` when it expired or was revoked.
   * @example
   * ```ts
   * const { ttl } = await client.lease.keepAliveOnce(id);
   * ```
   */
  keepAliveOnce(id: number, options: RequestOptions = {}): Promise<LeaseKeepAliveResponse> {
    // A renewal repeated renews again: harmless, so it is retried like a read.
    return this.#caller.call(
      'read',
      'keep a lease alive',
      (rpc, callOptions) => rpc.service(LeaseService).keepAlive({ id }, callOptions),
      options,
    );
  }

  /**
   * Keeps a lease alive until stopped: the first renewal goes out at once,
   * the next a third of the TTL later, and so on.
   *
   * @example
   * ```ts
   * const { id } = await client.lease.grant(10);
   * const keepAlive = client.lease.keepAlive(id);
   * keepAlive.done.catch((error) => console.error('lease lost:', error.message));
   * // ... later
   * keepAlive.stop();
   * ```
   */
  keepAlive(id: number, options: KeepAliveOptions = {}): KeepAlive {
    return new LeaseKeepAlive(
      id,
      (signal, timeoutMs) => this.keepAliveOnce(id, { signal, timeoutMs }),
      options,
    );
  }

  /**
   * What a lease has left on the leader's clock (`ttl` -1 when it does not
   * exist), its granted TTL, and with `keys` its keys.
   *
   * @example
   * ```ts
   * const { ttl, keys } = await client.lease.timeToLive(id, { keys: true });
   * ```
   */
  timeToLive(
    id: number,
    options: RequestOptions & { keys?: boolean } = {},
  ): Promise<LeaseTimeToLiveResponse> {
    const keys = options.keys === true;
    return this.#caller.call(
      'read',
      'read a lease',
      (rpc, callOptions) => rpc.service(LeaseService).timeToLive({ id, keys }, callOptions),
      options,
    );
  }

  /**
   * Every lease id, ascending.
   *
   * @example
   * ```ts
   * const ids = await client.lease.list();
   * ```
   */
  async list(options: RequestOptions = {}): Promise<number[]> {
    const response = await this.#caller.call(
      'read',
      'list leases',
      (rpc, callOptions) => rpc.service(LeaseService).leases(null, callOptions),
      options,
    );
    return response.leases;
  }
}

/** The renewals of one lease, and the responses waiting to be read (bounded: the latest few). */
class LeaseKeepAlive implements KeepAlive {
  readonly done: Promise<void>;
  readonly #stop = new AbortController();
  /** Responses not yet read; only the latest are kept, a slow reader misses none that matters. */
  #unread: LeaseKeepAliveResponse[] = [];
  #wake: (() => void) | undefined;
  #ended = false;

  constructor(
    id: number,
    renew: (signal: AbortSignal, timeoutMs: number) => Promise<LeaseKeepAliveResponse>,
    options: KeepAliveOptions,
  ) {
    const signal = options.signal;
    if (signal !== undefined) {
      if (signal.aborted) this.#stop.abort();
      else signal.addEventListener('abort', () => this.#stop.abort(), { once: true });
    }
    this.done = this.#run(id, renew);
    // `done` is for whoever wants it; an unobserved failure must not crash the process.
    this.done.catch(() => {});
  }

  stop(): void {
    this.#stop.abort();
  }

  async #run(
    _id: number,
    renew: (signal: AbortSignal, timeoutMs: number) => Promise<LeaseKeepAliveResponse>,
  ): Promise<void> {
    const stop = this.#stop.signal;
    // Until the first answer the TTL is unknown: a renewal may take the client's full deadline.
    let ttlMs: number | undefined;
    try {
      while (!stop.aborted) {
        let response: LeaseKeepAliveResponse;
        try {
          response = await renew(stop, ttlMs ?? 10_000);
        } catch (error) {
          if (stop.aborted && error instanceof CancelledError) return;
          throw error;
        }
        ttlMs = response.ttl * 1000;
        this.#push(response);
        await pause(Math.max(KEEP_ALIVE_INTERVAL_MIN_MS, ttlMs / 3), stop);
      }
    } finally {
      this.#ended = true;
      this.#wake?.();
    }
  }

  #push(response: LeaseKeepAliveResponse): void {
    this.#unread.push(response);
    if (this.#unread.length > 16) this.#unread.shift();
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<LeaseKeepAliveResponse> {
    for (;;) {
      const next = this.#unread.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.#ended) {
        await this.done;
        return;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }
}

/** @internal Waits `ms`, or less when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
