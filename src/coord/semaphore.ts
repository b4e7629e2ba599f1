/**
 * {@link Semaphore}: at most `n` holders at once (a counting semaphore; etcd
 * has no such recipe, this one keeps the key layout of its others).
 *
 * Each party puts `NAME/<lease hex>` attached to its session's lease; the
 * order of create revisions is the queue, and the first `n` live keys hold
 * a permit each (a holder's token is its key's create revision).
 *
 * Waiting wakes one party per change that can admit one, not everyone:
 * - the first in line (exactly `n` keys ahead, all holders) watches the
 *   prefix for deletes of older keys: any holder's release admits it;
 * - a party further back watches only the key just ahead of it: that
 *   party's leaving (a delete) or admission (a put it makes on its own key
 *   once admitted, the "announce") is the only change that can make it
 *   first in line.
 * Watching the key `n` places ahead instead would miss an admission: with
 * holders A, B, C (n = 3) and a waiter D watching A, C's release frees a
 * permit and D would keep waiting for A.
 *
 * All parties must use the same `n`: it is not stored in the keys.
 *
 * @module
 */
import { SessionExpiredError } from '../base/errors.ts';
import { type Bytes, toBytes } from '../client/bytes.ts';
import type { RequestOptions } from '../client/request-options.ts';
import { compare, op } from '../client/txn-ops.ts';
import { prefixOf, retryIdempotent, sessionKey, spanOf } from './keys.ts';
import type { LockOptions } from './mutex.ts';
import type { Session } from './session.ts';
import { countCreatedUpTo, deadlineOf, untilStopped, waitForEvent } from './waiting.ts';

/** The most permits a semaphore may have. */
export const SEMAPHORE_PERMITS_MAX = 1_000_000;

/** A permit: what {@link Semaphore.acquire} resolves with. */
export interface SemaphoreGrant {
  /** The holder's key (`NAME/<lease hex>`). */
  readonly key: Uint8Array;
  /** The key's create revision: the holder's place in the queue, its own among the holders. */
  readonly token: number;
}

/** Options of {@link Semaphore.acquire}. */
export type AcquireOptions = LockOptions;

/** A key in the queue, and whether it holds a permit as it was queued. */
interface Queued {
  readonly revision: number;
  readonly admitted: boolean;
  /**
   * Whether parties queued later may have seen this key waiting: then its
   * admission must be announced (a put on the key) to wake the one behind.
   */
  readonly announce: boolean;
}

const ANNOUNCED_VALUE = 'held';

/**
 * A distributed counting semaphore over a {@link Session}. One `Semaphore`
 * object is one party holding at most one permit; several sessions (or
 * processes) make several parties for the same name.
 *
 * @example
 * ```ts
 * const session = await Session.create(client, { ttl: 10 });
 * const downloads = new Semaphore(session, 'downloads', 4); // at most 4 at once, cluster-wide
 * await downloads.acquire({ timeoutMs: 60_000 });
 * try {
 *   await download();
 * } finally {
 *   await downloads.release();
 * }
 * ```
 */
export class Semaphore {
  /** The session whose lease the permit key is attached to. */
  readonly session: Session;
  /** The semaphore's name (its keys are under `name/`). */
  readonly name: Uint8Array;
  /** How many parties may hold a permit at once. */
  readonly permits: number;
  readonly #prefix: Uint8Array;
  readonly #key: Uint8Array;
  #grant: SemaphoreGrant | undefined;

  /**
   * @param name the semaphore's name: text or bytes, not empty.
   * @param permits how many may hold at once: an integer in [1, {@link SEMAPHORE_PERMITS_MAX}].
   * @throws {TypeError} when the name is empty or not text or bytes.
   * @throws {RangeError} when `permits` is out of range.
   */
  constructor(session: Session, name: Bytes, permits: number) {
    if (!Number.isSafeInteger(permits) || permits < 1 || permits > SEMAPHORE_PERMITS_MAX) {
      throw new RangeError(
        `Cannot create semaphore: permits must be an integer in [1, ${SEMAPHORE_PERMITS_MAX}], got ${permits}`,
      );
    }
    this.session = session;
    this.name = toBytes(name, 'semaphore name');
    this.permits = permits;
    this.#prefix = prefixOf(this.name, 'semaphore');
    this.#key = sessionKey(this.#prefix, session);
  }

  /** This party's key (`NAME/<lease hex>`). */
  get key(): Uint8Array {
    return this.#key;
  }

  /** The grant while this party holds a permit (as far as it knows), else undefined. */
  get grant(): SemaphoreGrant | undefined {
    return this.#grant;
  }

  /**
   * Takes a permit: queues this party's key, then waits until fewer than
   * `permits` keys created before it are left.
   *
   * @throws {SessionExpiredError} when the session ends (no permit is held).
   * @throws {CancelledError} / {DeadlineExceededError} when `signal` aborts or
   *   `timeoutMs` passes; the key is deleted on the way out.
   */
  async acquire(options: AcquireOptions = {}): Promise<SemaphoreGrant> {
    this.session.checkAlive('acquire a permit');
    const deadline = deadlineOf(options.timeoutMs);
    const queued = await this.#enqueue(options);
    try {
      if (!queued.admitted) {
        await untilStopped(
          this.session,
          'acquire a permit',
          {
            ...(options.signal === undefined ? {} : { signal: options.signal }),
            ...(deadline === undefined ? {} : { deadline }),
          },
          (stop) => this.#waitForPermit(queued.revision, stop),
        );
      }
      if (queued.announce) await this.#announce(queued.revision, options);
      this.session.checkAlive('acquire a permit');
    } catch (error) {
      await this.#leave().catch(() => {
        // The key stays until the session's lease ends; the error that matters is the semaphore's.
      });
      throw error;
    }
    this.#grant = { key: this.#key, token: queued.revision };
    return this.#grant;
  }

  /**
   * Takes a permit only when one is free now: resolves with the grant, or
   * undefined (and leaves no key behind) when all are held.
   */
  async tryAcquire(options: RequestOptions = {}): Promise<SemaphoreGrant | undefined> {
    this.session.checkAlive('acquire a permit');
    const queued = await this.#enqueue(options);
    if (!queued.admitted) {
      await this.#leave(options);
      return undefined;
    }
    if (queued.announce) await this.#announce(queued.revision, options);
    this.#grant = { key: this.#key, token: queued.revision };
    return this.#grant;
  }

  /** Gives the permit back (deletes this party's key; the first in line takes it). Idempotent. */
  async release(options: RequestOptions = {}): Promise<void> {
    this.#grant = undefined;
    await this.#leave(options);
  }

  /**
   * Puts the key unless it exists (then it is this party's already: queued
   * before, or by a call whose answer was lost), reading in the same
   * transaction the newest `permits + 1` keys, to tell whether it holds a
   * permit at once.
   */
  #enqueue(options: RequestOptions): Promise<Queued> {
    const session = this.session;
    const newest = op.get({
      ...spanOf(this.#prefix),
      sortTarget: 'create',
      sortOrder: 'descend',
      limit: this.permits + 1,
      keysOnly: true,
    });
    return retryIdempotent(session, options, async () => {
      const response = await session.client.kv.txn(
        {
          compare: [compare.createRevision(this.#key, 'equal', 0)],
          success: [op.put(this.#key, '', { lease: session.lease }), newest],
          failure: [op.get(this.#key)],
        },
        options,
      );
      const [first, second] = response.responses;
      if (response.succeeded) {
        // The new key is the newest: the others in the reply are the keys ahead of it.
        const range = second?.type === 'range' ? second.response : undefined;
        if (range === undefined) throw new Error('Cannot acquire a permit: the queue read is missing');
        const admitted = !range.more && range.kvs.length <= this.permits;
        return { revision: response.revision, admitted, announce: !admitted };
      }
      const existing = first?.type === 'range' ? first.response.kvs[0] : undefined;
      if (existing === undefined)
        throw new Error('Cannot acquire a permit: the key vanished within one transaction');
      const ahead = await countCreatedUpTo(session.client, this.#prefix, {
        maxCreateRevision: existing.createRevision - 1,
        countMax: this.permits,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      return { revision: existing.createRevision, admitted: ahead.count < this.permits, announce: true };
    });
  }

  /**
   * Waits until fewer than `permits` keys created before `revision` are
   * left, watching only what can change that (see the module note).
   */
  async #waitForPermit(revision: number, stop: AbortSignal): Promise<void> {
    const client = this.session.client;
    for (;;) {
      const ahead = await countCreatedUpTo(client, this.#prefix, {
        maxCreateRevision: revision - 1,
        countMax: this.permits + 1,
        signal: stop,
      });
      if (ahead.count < this.permits) return;
      const fromRevision = ahead.revision + 1;
      if (ahead.count === this.permits) {
        // First in line: every key ahead holds a permit, and any of them going frees one.
        // Its own key going (the lease ended) wakes it too; the announce then fails.
        await waitForEvent(
          client,
          { prefix: this.#prefix },
          { fromRevision, signal: stop, prevKv: true, filters: ['noPut'] },
          (event) => event.prevKv === undefined || event.prevKv.createRevision <= revision,
        );
      } else {
        const justAhead = ahead.newest;
        if (justAhead === undefined)
          throw new Error('Cannot acquire a permit: the queue count has no newest key');
        await waitForEvent(client, justAhead.key, { fromRevision, signal: stop }, () => true);
      }
    }
  }

  /**
   * Marks the key as holding (a put that keeps its create revision), waking
   * the party just behind; fails when the key went with the session's lease.
   */
  async #announce(revision: number, options: RequestOptions): Promise<void> {
    const session = this.session;
    const response = await retryIdempotent(session, options, () =>
      session.client.kv.txn(
        {
          compare: [compare.createRevision(this.#key, 'equal', revision)],
          success: [op.put(this.#key, ANNOUNCED_VALUE, { lease: session.lease })],
        },
        options,
      ),
    );
    if (!response.succeeded) {
      session.checkAlive('acquire a permit');
      throw new SessionExpiredError('Cannot acquire a permit: the key went while waiting (its lease ended)');
    }
  }

  async #leave(options: RequestOptions = {}): Promise<void> {
    await retryIdempotent(this.session, options, () => this.session.client.kv.delete(this.#key, options));
  }
}
