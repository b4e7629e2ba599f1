/**
 * Barriers (etcd's `recipes.Barrier` and `recipes.DoubleBarrier`).
 *
 * - {@link Barrier}: one key; while it exists, everyone who waits blocks;
 *   deleting it lets them all through.
 * - {@link DoubleBarrier}: `count` parties enter together and leave
 *   together. Each party puts `KEY/waiters/<lease hex>` on its session's
 *   lease; the one whose key makes `count` puts `KEY/ready`, which lets
 *   the others through `enter`. To leave, every party but the oldest
 *   deletes its key and waits for the oldest's to go; the oldest waits for
 *   the others' to go, then deletes `KEY/ready` and its own key. A party
 *   whose session ends has its key deleted with the lease, so the others
 *   are not stuck with it (when that was the oldest, the last party out
 *   deletes `KEY/ready` instead).
 *
 * @module
 */
import { LimitExceededError } from '../base/errors.ts';
import { type Bytes, toBytes } from '../client/bytes.ts';
import type { Client } from '../client/client.ts';
import type { RequestOptions } from '../client/request-options.ts';
import { compare, op } from '../client/txn-ops.ts';
import type { KeyValue } from '../kv/types.ts';
import { concat, prefixOf, retryIdempotent, retryLostAnswer, sessionKey, spanOf } from './keys.ts';
import type { Session } from './session.ts';
import { countCreatedUpTo, deadlineOf, untilStopped, waitForEvent } from './waiting.ts';

/** Options of a wait at a barrier. */
export interface BarrierWaitOptions {
  /** Stop waiting: the call rejects with `CancelledError`. */
  readonly signal?: AbortSignal;
  /** Stop waiting after this many milliseconds: `DeadlineExceededError`. Default: no limit. */
  readonly timeoutMs?: number;
}

/** The most parties a {@link DoubleBarrier} may wait for. */
export const DOUBLE_BARRIER_COUNT_MAX = 1_000_000;

const encoder = new TextEncoder();

/**
 * A barrier on one key: {@link hold} creates it, {@link release} deletes it,
 * {@link wait} blocks while it exists. The key has no lease: it outlives
 * whoever held it, until someone releases it.
 *
 * @example
 * ```ts
 * // Coordinator:
 * const gate = new Barrier(client, 'deploy/gate');
 * await gate.hold();
 * // ... prepare ...
 * await gate.release();
 *
 * // Workers (elsewhere): return once the gate is released (at once when not held).
 * await new Barrier(client, 'deploy/gate').wait({ timeoutMs: 60_000 });
 * ```
 */
export class Barrier {
  /** The client the barrier's calls go through. */
  readonly client: Client;
  /** The barrier's key. */
  readonly key: Uint8Array;

  /**
   * @param key the barrier's key: text or bytes, not empty.
   * @throws {TypeError} when the key is empty or not text or bytes.
   */
  constructor(client: Client, key: Bytes) {
    this.client = client;
    this.key = toBytes(key, 'barrier key');
    if (this.key.length === 0) throw new TypeError('Cannot create barrier: the key is empty');
  }

  /**
   * Creates the barrier key, so that waiters block.
   *
   * @returns true when this call created it, false when it existed already
   *   (etcd's `ErrKeyExists`); either way the barrier is held.
   * @throws {OutcomeUnknownError} when the answer was lost (not asked again:
   *   a second ask would answer false for a key this call created).
   */
  async hold(options: RequestOptions = {}): Promise<boolean> {
    const { succeeded } = await this.client.kv.txn(
      { compare: [compare.version(this.key, 'equal', 0)], success: [op.put(this.key, '')] },
      options,
    );
    return succeeded;
  }

  /** Deletes the barrier key, letting every waiter through. Idempotent (so asked again when its answer is lost). */
  async release(options: RequestOptions = {}): Promise<void> {
    await retryLostAnswer(options, () => this.client.kv.delete(this.key, options));
  }

  /**
   * Waits until the barrier key does not exist: at once when it does not
   * now, else until it is deleted.
   *
   * @throws {CancelledError} / {DeadlineExceededError} when `signal` aborts or `timeoutMs` passes.
   */
  async wait(options: BarrierWaitOptions = {}): Promise<void> {
    const deadline = deadlineOf(options.timeoutMs);
    const stopOptions = {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(deadline === undefined ? {} : { deadline }),
    };
    await untilStopped(undefined, 'wait at the barrier', stopOptions, async (stop) => {
      const { kvs, revision } = await this.client.kv.range(this.key, { signal: stop });
      if (kvs.length === 0) return;
      await waitForEvent(
        this.client,
        this.key,
        { fromRevision: revision + 1, signal: stop, filters: ['noPut'] },
        (event) => event.type === 'delete',
      );
    });
  }
}

/**
 * A barrier that `count` parties enter together and leave together, over
 * a {@link Session} (one party per object; use one session per party).
 *
 * Reuse a key for a new round only once every party of the previous one
 * has left: as etcd's, a party entering while others are still leaving
 * counts towards the old round.
 *
 * @example
 * ```ts
 * const session = await Session.create(client, { ttl: 10 });
 * const phase = new DoubleBarrier(session, 'jobs/phase-1', 3);
 * await phase.enter({ timeoutMs: 60_000 }); // returns once all 3 entered
 * await compute();
 * await phase.leave(); // returns once all 3 left
 * ```
 */
export class DoubleBarrier {
  /** The session whose lease this party's key is attached to. */
  readonly session: Session;
  /** The barrier's key (its keys are under `key/`). */
  readonly key: Uint8Array;
  /** How many parties enter together. */
  readonly count: number;
  readonly #waitersPrefix: Uint8Array;
  readonly #readyKey: Uint8Array;
  readonly #myKey: Uint8Array;

  /**
   * @param key the barrier's key: text or bytes, not empty.
   * @param count how many parties enter together: an integer in [1, {@link DOUBLE_BARRIER_COUNT_MAX}].
   * @throws {TypeError} when the key is empty or not text or bytes.
   * @throws {RangeError} when `count` is out of range.
   */
  constructor(session: Session, key: Bytes, count: number) {
    if (!Number.isSafeInteger(count) || count < 1 || count > DOUBLE_BARRIER_COUNT_MAX) {
      throw new RangeError(
        `Cannot create double barrier: count must be an integer in [1, ${DOUBLE_BARRIER_COUNT_MAX}], got ${count}`,
      );
    }
    this.session = session;
    this.key = toBytes(key, 'barrier key');
    this.count = count;
    const prefix = prefixOf(this.key, 'double barrier');
    this.#waitersPrefix = concat(prefix, encoder.encode('waiters/'));
    this.#readyKey = concat(prefix, encoder.encode('ready'));
    this.#myKey = sessionKey(this.#waitersPrefix, session);
  }

  /** This party's key (`KEY/waiters/<lease hex>`). */
  get myKey(): Uint8Array {
    return this.#myKey;
  }

  /**
   * Enters: puts this party's key, then waits until `count` parties
   * entered. The party that makes the count puts `KEY/ready` and returns.
   *
   * @throws {LimitExceededError} when `count` parties had entered already
   *   (etcd's `ErrTooManyClients`); the key is deleted.
   * @throws {SessionExpiredError} when the session ends.
   * @throws {CancelledError} / {DeadlineExceededError} when `signal` aborts or
   *   `timeoutMs` passes; the key is deleted on the way out.
   */
  async enter(options: BarrierWaitOptions = {}): Promise<void> {
    const what = 'enter the barrier';
    this.session.checkAlive(what);
    const deadline = deadlineOf(options.timeoutMs);
    const call = options.signal === undefined ? {} : { signal: options.signal };
    const entered = await this.#join(call);
    try {
      if (entered.count > this.count) {
        throw new LimitExceededError(
          `Cannot ${what}: ${entered.count} parties entered with this one, more than its count ${this.count}`,
          { details: { entered: entered.count, count: this.count } },
        );
      }
      if (entered.count === this.count) {
        await retryIdempotent(this.session, call, () => this.session.client.kv.put(this.#readyKey, '', call));
        return;
      }
      await untilStopped(
        this.session,
        what,
        { ...call, ...(deadline === undefined ? {} : { deadline }) },
        (stop) =>
          waitForEvent(
            this.session.client,
            this.#readyKey,
            { fromRevision: entered.revision + 1, signal: stop, filters: ['noDelete'] },
            (event) => event.type === 'put',
          ),
      );
    } catch (error) {
      await this.#deleteMine({}).catch(() => {
        // The key stays until the session's lease ends; the error that matters is the barrier's.
      });
      throw error;
    }
  }

  /**
   * Leaves: waits until every party that entered left. The oldest party
   * leaves last, deleting `KEY/ready` with its key for the next round.
   * When cancelled, the oldest party keeps its key (the others wait for
   * it): call `leave` again, or close the session.
   *
   * @throws {SessionExpiredError} when the session ends.
   * @throws {CancelledError} / {DeadlineExceededError} when `signal` aborts or `timeoutMs` passes.
   */
  async leave(options: BarrierWaitOptions = {}): Promise<void> {
    const what = 'leave the barrier';
    this.session.checkAlive(what);
    const deadline = deadlineOf(options.timeoutMs);
    const stopOptions = {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(deadline === undefined ? {} : { deadline }),
    };
    await untilStopped(this.session, what, stopOptions, (stop) => this.#leaveUntilAllLeft(stop));
  }

  async #leaveUntilAllLeft(stop: AbortSignal): Promise<void> {
    const client = this.session.client;
    const isDelete = (event: { type: string }): boolean => event.type === 'delete';
    // Each round waits for a key to go; a round that finds no key left ends it.
    for (;;) {
      const { oldest, newest, ready, revision } = await this.#ends(stop);
      if (oldest === undefined || newest === undefined) {
        // Everyone left; ready stays only when the oldest party's lease ended before it could
        // delete it. Delete it unless a new round has entered meanwhile.
        if (ready) await this.#deleteReadyWhenEmpty(stop);
        return;
      }
      const oldestIsMine = equalBytes(oldest.key, this.#myKey);
      if (oldestIsMine && equalBytes(newest.key, this.#myKey)) {
        // The last one in the barrier: ready goes with it, for the next round.
        await retryIdempotent(this.session, { signal: stop }, () =>
          client.kv.txn({ success: [op.delete(this.#readyKey), op.delete(this.#myKey)] }, { signal: stop }),
        );
        return;
      }
      const fromRevision = revision + 1;
      if (oldestIsMine) {
        await waitForEvent(client, newest.key, { fromRevision, signal: stop, filters: ['noPut'] }, isDelete);
        continue;
      }
      await this.#deleteMine({ signal: stop });
      await waitForEvent(client, oldest.key, { fromRevision, signal: stop, filters: ['noPut'] }, isDelete);
    }
  }

  /** Puts this party's key, and counts the keys created up to it. */
  #join(call: { signal?: AbortSignal }): Promise<{ revision: number; count: number }> {
    const session = this.session;
    return retryIdempotent(session, call, async () => {
      const response = await session.client.kv.txn(
        {
          compare: [compare.createRevision(this.#myKey, 'equal', 0)],
          success: [
            op.put(this.#myKey, '', { lease: session.lease }),
            op.get({ ...spanOf(this.#waitersPrefix), countOnly: true }),
          ],
          failure: [op.get(this.#myKey)],
        },
        call,
      );
      const [first, second] = response.responses;
      if (response.succeeded) {
        // Within the transaction, every key under the prefix was created at or before this one.
        const count = second?.type === 'range' ? second.response.count : undefined;
        if (count === undefined) throw new Error('Cannot enter the barrier: the count is missing');
        return { revision: response.revision, count };
      }
      const existing = first?.type === 'range' ? first.response.kvs[0] : undefined;
      if (existing === undefined)
        throw new Error('Cannot enter the barrier: the key vanished within one transaction');
      const upTo = await countCreatedUpTo(session.client, this.#waitersPrefix, {
        maxCreateRevision: existing.createRevision,
        countMax: this.count + 1,
        ...call,
      });
      return { revision: existing.createRevision, count: upTo.count };
    });
  }

  /** The oldest and newest keys of the parties still in the barrier, and whether ready exists, read together. */
  async #ends(stop: AbortSignal): Promise<{
    oldest: KeyValue | undefined;
    newest: KeyValue | undefined;
    ready: boolean;
    revision: number;
  }> {
    const end = (sortOrder: 'ascend' | 'descend') =>
      op.get({ ...spanOf(this.#waitersPrefix), sortTarget: 'create', sortOrder, limit: 1, keysOnly: true });
    const response = await this.session.client.kv.txn(
      { success: [end('ascend'), end('descend'), op.get({ key: this.#readyKey, keysOnly: true })] },
      { signal: stop },
    );
    const [oldest, newest, ready] = response.responses.map((reply) =>
      reply.type === 'range' ? reply.response.kvs[0] : undefined,
    );
    return { oldest, newest, ready: ready !== undefined, revision: response.revision };
  }

  /** Deletes ready while no party is in the barrier (an empty span compares as a missing key). */
  async #deleteReadyWhenEmpty(stop: AbortSignal): Promise<void> {
    await retryIdempotent(this.session, { signal: stop }, () =>
      this.session.client.kv.txn(
        {
          compare: [compare.createRevision(spanOf(this.#waitersPrefix), 'equal', 0)],
          success: [op.delete(this.#readyKey)],
        },
        { signal: stop },
      ),
    );
  }

  async #deleteMine(call: { signal?: AbortSignal }): Promise<void> {
    await retryIdempotent(this.session, call, () => this.session.client.kv.delete(this.#myKey, call));
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
