/**
 * {@link RWMutex}: a distributed readers-writer lock (etcd's
 * `recipes.RWMutex`).
 *
 * A reader puts `NAME/read/<lease hex>` and a writer `NAME/write/<lease hex>`,
 * attached to the session's lease; the order of create revisions is one
 * queue for both kinds. A reader holds the lock once no writer key created
 * before its own is left (readers share); a writer once no key of either
 * kind created before its own is left (writers exclude everyone). Each
 * waits only for the last blocking key before its own to go, then looks
 * again, so a release wakes the parties right behind it, not everyone.
 * Writers queued behind readers are not overtaken by later readers: a
 * reader that queues after a waiting writer waits for that writer.
 *
 * @module
 */
import { SessionExpiredError } from '../base/errors.ts';
import { type Bytes, toBytes } from '../client/bytes.ts';
import type { RequestOptions } from '../client/request-options.ts';
import {
  concat,
  enqueue,
  prefixOf,
  type QueuedKey,
  retryIdempotent,
  sessionKey,
  waitForPredecessors,
} from './keys.ts';
import type { LockOptions } from './mutex.ts';
import type { Session } from './session.ts';
import { deadlineOf } from './waiting.ts';

/** A granted read or write lock: what {@link RWMutex.rLock} and {@link RWMutex.lock} resolve with. */
export interface RWLockGrant {
  /** The holder's key (`NAME/read/<lease hex>` or `NAME/write/<lease hex>`). */
  readonly key: Uint8Array;
  /** The key's create revision: its place in the queue. Larger for every later write grant. */
  readonly token: number;
}

/** Which side of a {@link RWMutex} a contender holds. */
export type RWLockMode = 'read' | 'write';

const encoder = new TextEncoder();

/**
 * A distributed readers-writer lock over a {@link Session}. One `RWMutex`
 * object is one contender, holding at most one side at a time; several
 * sessions (or processes) make several contenders for the same name. Two
 * objects on one session and one name share their keys: use one session
 * per contender.
 *
 * @example
 * ```ts
 * const session = await Session.create(client, { ttl: 10 });
 * const config = new RWMutex(session, 'config');
 * await config.rLock({ timeoutMs: 5_000 }); // shared with other readers
 * const current = await client.kv.get('config/value');
 * await config.rUnlock();
 *
 * await config.lock(); // alone: no reader nor writer holds it meanwhile
 * await client.kv.put('config/value', 'v2');
 * await config.unlock();
 * ```
 */
export class RWMutex {
  /** The session whose lease the lock keys are attached to. */
  readonly session: Session;
  /** The lock's name (its keys are under `name/`). */
  readonly name: Uint8Array;
  readonly #prefix: Uint8Array;
  readonly #writePrefix: Uint8Array;
  readonly #readKey: Uint8Array;
  readonly #writeKey: Uint8Array;
  #held: RWLockMode | undefined;
  #grant: RWLockGrant | undefined;

  /**
   * @param name the lock's name: text or bytes, not empty.
   * @throws {TypeError} when the name is empty or not text or bytes.
   */
  constructor(session: Session, name: Bytes) {
    this.session = session;
    this.name = toBytes(name, 'lock name');
    this.#prefix = prefixOf(this.name, 'rw-mutex');
    this.#writePrefix = concat(this.#prefix, encoder.encode('write/'));
    this.#readKey = sessionKey(concat(this.#prefix, encoder.encode('read/')), session);
    this.#writeKey = sessionKey(this.#writePrefix, session);
  }

  /** Which side this contender holds (as far as it knows), or undefined. */
  get held(): RWLockMode | undefined {
    return this.#held;
  }

  /** The grant while this contender holds either side, else undefined. */
  get grant(): RWLockGrant | undefined {
    return this.#grant;
  }

  /**
   * Acquires the lock shared with other readers: queues a read key, then
   * waits until no writer key created before it is left.
   *
   * @throws {Error} when this contender holds the write side.
   * @throws {SessionExpiredError} when the session ends (the lock is not held).
   * @throws {CancelledError} / {DeadlineExceededError} when `signal` aborts or
   *   `timeoutMs` passes; the key is deleted on the way out.
   */
  rLock(options: LockOptions = {}): Promise<RWLockGrant> {
    return this.#acquire('read', options);
  }

  /**
   * Acquires the lock alone: queues a write key, then waits until no key of
   * either kind created before it is left.
   *
   * @throws {Error} when this contender holds the read side.
   * @throws {SessionExpiredError} when the session ends (the lock is not held).
   * @throws {CancelledError} / {DeadlineExceededError} when `signal` aborts or
   *   `timeoutMs` passes; the key is deleted on the way out.
   */
  lock(options: LockOptions = {}): Promise<RWLockGrant> {
    return this.#acquire('write', options);
  }

  /** Releases the read side (deletes the read key). Idempotent. */
  rUnlock(options: RequestOptions = {}): Promise<void> {
    return this.#release('read', options);
  }

  /** Releases the write side (deletes the write key). Idempotent. */
  unlock(options: RequestOptions = {}): Promise<void> {
    return this.#release('write', options);
  }

  async #acquire(mode: RWLockMode, options: LockOptions): Promise<RWLockGrant> {
    const what = mode === 'read' ? 'read-lock' : 'write-lock';
    if (this.#held !== undefined && this.#held !== mode) {
      throw new Error(`Cannot ${what}: this contender holds the ${this.#held} side; release it first`);
    }
    this.session.checkAlive(what);
    const deadline = deadlineOf(options.timeoutMs);
    const key = mode === 'read' ? this.#readKey : this.#writeKey;
    // A reader is blocked by earlier writers only; a writer by every earlier key.
    const blockers = mode === 'read' ? this.#writePrefix : this.#prefix;
    const queued: QueuedKey = await retryIdempotent(this.session, options, () =>
      enqueue(this.session, blockers, key, '', options),
    );
    try {
      const blocked = queued.first !== undefined && queued.first.createRevision < queued.revision;
      if (blocked) {
        await waitForPredecessors(this.session, blockers, queued.revision - 1, {
          ...(options.signal === undefined ? {} : { signal: options.signal }),
          ...(deadline === undefined ? {} : { deadline }),
        });
        // The key may have gone with the session's lease while waiting: then this is no grant.
        const mine = await this.session.client.kv.get(key);
        if (mine === undefined || mine.createRevision !== queued.revision) {
          this.session.checkAlive(what);
          throw new SessionExpiredError(`Cannot ${what}: the lock key went while waiting (its lease ended)`);
        }
      }
      this.session.checkAlive(what);
    } catch (error) {
      await this.#leave(key, {}).catch(() => {
        // The key stays until the session's lease ends; the error that matters is the lock's.
      });
      throw error;
    }
    const grant: RWLockGrant = { key, token: queued.revision };
    this.#held = mode;
    this.#grant = grant;
    return grant;
  }

  async #release(mode: RWLockMode, options: RequestOptions): Promise<void> {
    if (this.#held === mode) {
      this.#held = undefined;
      this.#grant = undefined;
    }
    await this.#leave(mode === 'read' ? this.#readKey : this.#writeKey, options);
  }

  async #leave(key: Uint8Array, options: RequestOptions): Promise<void> {
    await retryIdempotent(this.session, options, () => this.session.client.kv.delete(key, options));
  }
}
