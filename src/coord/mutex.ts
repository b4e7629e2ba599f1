/**
 * {@link Mutex}: a distributed lock with fencing tokens (etcd's
 * `concurrency.Mutex`, plus fencing the store checks).
 *
 * Each contender puts a key `NAME/<lease hex>` attached to its session's
 * lease; the contender whose key has the lowest create revision holds the
 * lock, and that create revision is its **fencing token**. Tokens only grow
 * in grant order: a holder is always the oldest live key, so every later
 * holder's key is younger. A write fenced with `{ lock: NAME, token }` is
 * refused by the store (`FENCED`) once the token no longer holds the lock,
 * so a holder paused past its lease cannot overwrite its successor's work.
 *
 * @module
 */
import { SessionExpiredError } from '../base/errors.ts';
import { type Bytes, toBytes } from '../client/bytes.ts';
import type { RequestOptions } from '../client/request-options.ts';
import { compare } from '../client/txn-ops.ts';
import type { Compare, Fence } from '../kv/types.ts';
import {
  enqueue,
  prefixOf,
  type QueuedKey,
  retryIdempotent,
  sessionKey,
  waitForPredecessors,
} from './keys.ts';
import type { Session } from './session.ts';

/** A granted lock: what {@link Mutex.lock} resolves with. */
export interface LockGrant {
  /** The holder's key (`NAME/<lease hex>`). */
  readonly key: Uint8Array;
  /** The fencing token: the key's create revision. Larger for every later grant of the lock. */
  readonly token: number;
  /** `{ lock, token }` to pass as a write's `fence`. */
  readonly fence: Fence;
}

/** Options of {@link Mutex.lock}. */
export interface LockOptions {
  /** Stop waiting: the call rejects with `CancelledError` and leaves the queue. */
  readonly signal?: AbortSignal;
  /** Stop waiting after this many milliseconds: `DeadlineExceededError`, leaving the queue. Default: no limit. */
  readonly timeoutMs?: number;
}

/**
 * A distributed mutex over a {@link Session}. One `Mutex` object is one
 * contender; several sessions (or processes) make several contenders for
 * the same name.
 *
 * @example
 * ```ts
 * const session = await Session.create(client, { ttl: 10 });
 * const mutex = new Mutex(session, 'jobs');
 * const { token, fence } = await mutex.lock({ timeoutMs: 30_000 });
 * // Every write made under the lock carries the fence: once another holder is granted the lock, it fails.
 * await client.kv.put('jobs/state', 'done', { fence });
 * await mutex.unlock();
 * ```
 */
export class Mutex {
  /** The session whose lease the lock key is attached to. */
  readonly session: Session;
  /** The lock's name (its keys are under `name/`). */
  readonly name: Uint8Array;
  readonly #prefix: Uint8Array;
  readonly #key: Uint8Array;
  #grant: LockGrant | undefined;

  /**
   * @param name the lock's name: text or bytes, not empty.
   * @throws {TypeError} when the name is empty or not text or bytes.
   */
  constructor(session: Session, name: Bytes) {
    this.session = session;
    this.name = toBytes(name, 'lock name');
    this.#prefix = prefixOf(this.name, 'mutex');
    this.#key = sessionKey(this.#prefix, session);
  }

  /** This contender's key (`NAME/<lease hex>`). */
  get key(): Uint8Array {
    return this.#key;
  }

  /** The grant while this contender holds the lock (as far as it knows), else undefined. */
  get grant(): LockGrant | undefined {
    return this.#grant;
  }

  /**
   * Acquires the lock: queues this contender's key, then waits for the key
   * just before it to go, until it is the oldest. After the wait it reads
   * its key again, so a session lost while waiting is an error, not a
   * grant.
   *
   * @throws {SessionExpiredError} when the session ends (the lock is not held).
   * @throws {CancelledError} / {DeadlineExceededError} when `signal` aborts or
   *   `timeoutMs` passes; the key is deleted on the way out.
   */
  async lock(options: LockOptions = {}): Promise<LockGrant> {
    this.session.checkAlive('lock');
    const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
    const queued = await this.#enqueue(options);
    try {
      if (queued.first?.createRevision !== queued.revision) {
        await waitForPredecessors(this.session, this.#prefix, queued.revision - 1, {
          ...(options.signal === undefined ? {} : { signal: options.signal }),
          ...(deadline === undefined ? {} : { deadline }),
        });
        // The key may have gone with the session's lease while waiting: then this is no grant.
        const mine = await this.session.client.kv.get(this.#key);
        if (mine === undefined || mine.createRevision !== queued.revision) {
          this.session.checkAlive('lock');
          throw new SessionExpiredError('Cannot lock: the lock key went while waiting (its lease ended)');
        }
      }
      this.session.checkAlive('lock');
    } catch (error) {
      await this.#leave().catch(() => {
        // The key stays until the session's lease ends; the error that matters is the lock's.
      });
      throw error;
    }
    const grant = this.#grantOf(queued.revision);
    this.#grant = grant;
    return grant;
  }

  /**
   * Acquires the lock only when nobody holds it: resolves with the grant,
   * or undefined (and leaves no key behind) when it is held.
   */
  async tryLock(options: RequestOptions = {}): Promise<LockGrant | undefined> {
    this.session.checkAlive('lock');
    const queued = await this.#enqueue(options);
    if (queued.first !== undefined && queued.first.createRevision !== queued.revision) {
      await this.#leave(options);
      return undefined;
    }
    const grant = this.#grantOf(queued.revision);
    this.#grant = grant;
    return grant;
  }

  /**
   * Releases the lock (deletes this contender's key; the next in line is
   * granted it). Idempotent: unlocking a lock not held does nothing.
   */
  async unlock(options: RequestOptions = {}): Promise<void> {
    this.#grant = undefined;
    await this.#leave(options);
  }

  /**
   * A transaction compare that holds while this contender still holds the
   * lock (its key exists with the grant's create revision), as etcd's
   * `IsOwner()`. Prefer {@link LockGrant.fence} for writes; this is for
   * reads or for combining with other compares.
   *
   * @throws {Error} when the lock is not held.
   */
  isOwner(): Compare {
    const grant = this.#grant;
    if (grant === undefined) throw new Error('Cannot compare ownership: the lock is not held');
    return compare.createRevision(grant.key, 'equal', grant.token);
  }

  #grantOf(token: number): LockGrant {
    return { key: this.#key, token, fence: { lock: this.name, token } };
  }

  /** Queues the key. */
  #enqueue(options: RequestOptions): Promise<QueuedKey> {
    return retryIdempotent(this.session, options, () =>
      enqueue(this.session, this.#prefix, this.#key, '', options),
    );
  }

  /** Deletes the key. */
  async #leave(options: RequestOptions = {}): Promise<void> {
    await retryIdempotent(this.session, options, () => this.session.client.kv.delete(this.#key, options));
  }
}
