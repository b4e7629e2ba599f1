/**
 * {@link Session}: a lease kept alive in the background, the liveness every
 * coordination recipe hangs on (etcd's `concurrency.Session`). Locks,
 * semaphore slots and candidacies are keys attached to the session's lease:
 * when the session ends they go, and whoever waits on them moves on.
 *
 * The session decides it is lost on its own clock, conservatively: a
 * renewal sent at `t` and answered gives the lease until no earlier than
 * `t + ttl` on the leader (the leader restarts the TTL when it applies the
 * renewal, after `t`). So when no renewal has been answered by
 * `t + ttl` of the last one answered, the session ends itself, at or before
 * the moment the cluster may expire the lease — never after.
 *
 * @module
 */
import { CancelledError, SessionExpiredError, TesseraError } from '../base/errors.ts';
import type { Client } from '../client/client.ts';
import { pause } from '../client/lease-client.ts';

/** A session's TTL when none is given, in seconds (etcd's `defaultSessionTTL`). */
export const SESSION_TTL_SECONDS_DEFAULT = 60;

/** Options of {@link Session.create}. */
export interface SessionOptions {
  /** The lease's TTL in seconds (default {@link SESSION_TTL_SECONDS_DEFAULT}); the cluster may raise it to its minimum. */
  readonly ttl?: number;
  /** Use this existing lease instead of granting one (it is revoked on close all the same). */
  readonly lease?: number;
  /** Deadline of the grant, in milliseconds (default the client's). */
  readonly timeoutMs?: number;
  /** Aborts the grant; once the session exists, aborting does nothing (close it instead). */
  readonly signal?: AbortSignal;
}

/** Why a session ended. */
export type SessionEndReason =
  /** {@link Session.close} was called. */
  | 'closed'
  /** The cluster said the lease is gone (expired or revoked by someone else). */
  | 'lease-lost'
  /** No renewal was answered within the TTL: the cluster may have expired the lease. */
  | 'unreachable';

/** How a session ended: {@link Session.done}'s value. */
export interface SessionEnd {
  readonly reason: SessionEndReason;
  /** The failure behind `lease-lost` or `unreachable`. */
  readonly error?: Error;
}

/** Shortest pause between two renewals, in milliseconds. */
const RENEW_INTERVAL_MIN_MS = 100;

/**
 * A lease kept alive until {@link close} or until it is lost.
 *
 * @example
 * ```ts
 * import { connect } from 'tessera/client';
 * import { Mutex, Session } from 'tessera/coord';
 *
 * const client = await connect({ endpoints: ['127.0.0.1:2379'] });
 * const session = await Session.create(client, { ttl: 10 });
 * session.done.then(({ reason }) => console.error('session over:', reason));
 * const mutex = new Mutex(session, 'jobs/lock');
 * const { token } = await mutex.lock();
 * // ... work, fenced with token; pass session.signal to work that must stop when the session is lost
 * await mutex.unlock();
 * await session.close();
 * ```
 */
export class Session {
  /** The client the session's calls go through. */
  readonly client: Client;
  /** The lease id. */
  readonly lease: number;
  /** The lease's TTL in seconds, as granted. */
  readonly ttl: number;
  /** Settles (never rejects) when the session ends, with the reason. */
  readonly done: Promise<SessionEnd>;
  readonly #ended = new AbortController();
  #end: SessionEnd | undefined;
  #resolveDone!: (end: SessionEnd) => void;
  /** Clock milliseconds until which the lease is surely alive on the cluster. */
  #aliveUntil: number;

  private constructor(client: Client, lease: number, ttl: number, aliveUntil: number) {
    this.client = client;
    this.lease = lease;
    this.ttl = ttl;
    this.#aliveUntil = aliveUntil;
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
    void this.#keepAlive();
  }

  /**
   * Grants a lease (or adopts `options.lease`) and starts keeping it alive.
   *
   * @throws {RangeError} when `ttl` is not a whole number of seconds >= 1.
   * @throws what `client.lease.grant` (or `keepAliveOnce`, with `lease`) throws.
   */
  static async create(client: Client, options: SessionOptions = {}): Promise<Session> {
    const ttl = options.ttl ?? SESSION_TTL_SECONDS_DEFAULT;
    if (!Number.isSafeInteger(ttl) || ttl < 1) {
      throw new RangeError(`Cannot create session: ttl must be a whole number of seconds >= 1, got ${ttl}`);
    }
    const call = {
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    };
    const sentAt = Date.now();
    if (options.lease !== undefined) {
      const renewed = await client.lease.keepAliveOnce(options.lease, call);
      return new Session(client, options.lease, renewed.ttl, sentAt + renewed.ttl * 1000);
    }
    const granted = await client.lease.grant(ttl, call);
    return new Session(client, granted.id, granted.ttl, sentAt + granted.ttl * 1000);
  }

  /** Whether the session still holds its lease (as far as it can tell: see the module note). */
  get alive(): boolean {
    this.#endIfPastAliveUntil();
    return this.#end === undefined;
  }

  /** Aborted when the session ends; pass it to work that must stop then. `reason` is a {@link SessionExpiredError} or {@link CancelledError}. */
  get signal(): AbortSignal {
    return this.#ended.signal;
  }

  /**
   * Throws unless the session is alive.
   *
   * @throws {SessionExpiredError} when it was lost, {@link CancelledError} when closed.
   */
  checkAlive(what: string): void {
    this.#endIfPastAliveUntil();
    const end = this.#end;
    if (end === undefined) return;
    throw endError(end, what);
  }

  /**
   * Ends the session: stops the renewals and revokes the lease, which
   * deletes every key attached to it (locks held or waited for go at once,
   * not a TTL later). Idempotent; a failed revoke is not reported (the lease
   * then expires after its TTL).
   */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#end !== undefined) return;
    this.#finish({ reason: 'closed' });
    try {
      await this.client.lease.revoke(this.lease, { timeoutMs: options.timeoutMs ?? 5_000 });
    } catch {
      // Expired already, or the cluster is out of reach: the lease ends by its TTL.
    }
  }

  /**
   * Stops renewing the lease without revoking it (etcd's `Orphan`): its
   * keys stay until the lease's owner revokes it or lets it expire. For a
   * session made over someone else's lease (`options.lease`) that must
   * outlive this object. The session counts as closed.
   */
  orphan(): void {
    this.#finish({ reason: 'closed' });
  }

  /**
   * Ends the session once the clock passed the time the lease is surely
   * alive until. The renewal loop finds out only when its timer fires, and
   * timers fire late in a busy or paused process: whoever asks first must
   * not be told the session lives when the cluster may have expired it.
   */
  #endIfPastAliveUntil(): void {
    if (this.#end === undefined && Date.now() >= this.#aliveUntil) this.#finish({ reason: 'unreachable' });
  }

  #finish(end: SessionEnd): void {
    if (this.#end !== undefined) return;
    this.#end = end;
    this.#ended.abort(endError(end, 'use the session'));
    this.#resolveDone(end);
  }

  async #keepAlive(): Promise<void> {
    const stop = this.#ended.signal;
    const intervalMs = Math.max(RENEW_INTERVAL_MIN_MS, (this.ttl * 1000) / 3);
    while (!stop.aborted) {
      // After a failed renewal less than an interval may be left: wake by then, to end on time.
      await pause(Math.min(intervalMs, Math.max(0, this.#aliveUntil - Date.now())), stop);
      if (stop.aborted) return;
      const sentAt = Date.now();
      const remainingMs = this.#aliveUntil - sentAt;
      if (remainingMs <= 0) {
        this.#finish({ reason: 'unreachable' });
        return;
      }
      try {
        const renewed = await this.client.lease.keepAliveOnce(this.lease, {
          timeoutMs: remainingMs,
          signal: stop,
        });
        this.#aliveUntil = sentAt + renewed.ttl * 1000;
      } catch (error) {
        if (stop.aborted) return;
        const err = error instanceof Error ? error : new Error(String(error));
        if (isLeaseNotFound(error)) {
          this.#finish({ reason: 'lease-lost', error: err });
          return;
        }
        if (Date.now() >= this.#aliveUntil) {
          this.#finish({ reason: 'unreachable', error: err });
          return;
        }
        // A renewal failed with time left (a member going away): the next round tries again sooner.
      }
    }
  }
}

function isLeaseNotFound(error: unknown): boolean {
  return error instanceof TesseraError && error.details?.['reason'] === 'LEASE_NOT_FOUND';
}

function endError(end: SessionEnd, what: string): Error {
  if (end.reason === 'closed') return new CancelledError(`Cannot ${what}: the session was closed`);
  const why =
    end.reason === 'lease-lost'
      ? 'its lease expired or was revoked'
      : 'its lease was not renewed within its TTL';
  return new SessionExpiredError(
    `Cannot ${what}: the session is expired (${why})`,
    end.error === undefined ? {} : { cause: end.error },
  );
}
