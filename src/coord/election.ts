/**
 * {@link Election}: leader election (etcd's `concurrency.Election` and its
 * v3election API). Candidates queue keys `NAME/<lease hex>` holding their
 * proposals; the oldest live key is the leader, and its value the leader's
 * proposal. A leader that loses its session loses its key, and the next
 * candidate in line leads.
 *
 * @module
 */
import { ElectionNoLeaderError, ElectionNotLeaderError, SessionExpiredError } from '../base/errors.ts';
import { type Bytes, toBytes } from '../client/bytes.ts';
import type { Client } from '../client/client.ts';
import type { RequestOptions } from '../client/request-options.ts';
import { compare, op } from '../client/txn-ops.ts';
import { compareBytes, keyIdOf } from '../kv/key-span.ts';
import type { KeyValue } from '../kv/types.ts';
import {
  enqueue,
  prefixOf,
  retryIdempotent,
  retryLostAnswer,
  sessionKey,
  spanOf,
  waitForPredecessors,
} from './keys.ts';
import type { LockOptions } from './mutex.ts';
import type { Session } from './session.ts';

/** The leadership a campaign won: what {@link Election.campaign} resolves with (etcd's `LeaderKey`). */
export interface Leadership {
  /** The election's name. */
  readonly name: Uint8Array;
  /** The leader's key (`NAME/<lease hex>`). */
  readonly key: Uint8Array;
  /** The key's create revision: grows with every new leader (a fencing token for the leadership). */
  readonly revision: number;
  /** The leader's session lease. */
  readonly lease: number;
}

/** Who leads an election: its key as the store has it (value = the proclaimed proposal). */
export type Leader = KeyValue;

/** Options of {@link Election.observe}. */
export interface ObserveOptions {
  /** Ends the iteration. */
  readonly signal?: AbortSignal;
}

/**
 * One candidate in an election, over a {@link Session}. {@link Election.leader}
 * and {@link Election.observe} need no session: any client may watch.
 *
 * @example
 * ```ts
 * const session = await Session.create(client, { ttl: 10 });
 * const election = new Election(session, 'scheduler');
 * await election.campaign('node-a'); // resolves once node-a leads
 * await election.proclaim('node-a, epoch 2');
 * for await (const leader of Election.observe(client, 'scheduler', { signal })) {
 *   console.log('leader:', text(leader.value));
 * }
 * await election.resign();
 * ```
 */
export class Election {
  /** The session whose lease the candidacy is attached to. */
  readonly session: Session;
  /** The election's name (its keys are under `name/`). */
  readonly name: Uint8Array;
  readonly #prefix: Uint8Array;
  readonly #key: Uint8Array;
  #leadership: Leadership | undefined;

  /** @throws {TypeError} when the name is empty or not text or bytes. */
  constructor(session: Session, name: Bytes) {
    this.session = session;
    this.name = toBytes(name, 'election name');
    this.#prefix = prefixOf(this.name, 'election');
    this.#key = sessionKey(this.#prefix, session);
  }

  /** The leadership while this candidate leads (as far as it knows), else undefined. */
  get leadership(): Leadership | undefined {
    return this.#leadership;
  }

  /**
   * Stands for election with `value` as the proposal, and waits until this
   * candidate leads. Campaigning again with the same session keeps its
   * place in the queue and updates the proposal.
   *
   * @throws {SessionExpiredError} when the session ends first.
   * @throws {CancelledError} / {DeadlineExceededError} on `signal` / `timeoutMs`:
   *   the candidacy is withdrawn.
   */
  async campaign(value: Bytes, options: LockOptions = {}): Promise<Leadership> {
    this.session.checkAlive('campaign');
    const proposal = toBytes(value, 'proposal');
    const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
    const queued = await retryIdempotent(this.session, options, () =>
      enqueue(this.session, this.#prefix, this.#key, proposal, options),
    );
    const leadership: Leadership = {
      name: this.name,
      key: this.#key,
      revision: queued.revision,
      lease: this.session.lease,
    };
    try {
      // Queued before (a second campaign): the proposal is the new one.
      if (!queued.created) await proclaimAs(this.session.client, leadership, proposal, options);
      await waitForPredecessors(this.session, this.#prefix, queued.revision - 1, {
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(deadline === undefined ? {} : { deadline }),
      });
      const mine = await this.session.client.kv.get(this.#key);
      if (mine === undefined || mine.createRevision !== queued.revision) {
        this.session.checkAlive('campaign');
        throw new SessionExpiredError(
          'Cannot campaign: the candidate key went while waiting (its lease ended)',
        );
      }
      this.session.checkAlive('campaign');
    } catch (error) {
      await this.#withdraw().catch(() => {
        // The key goes with the session's lease; the campaign's error is the one to report.
      });
      throw error;
    }
    this.#leadership = leadership;
    return leadership;
  }

  /**
   * Changes the leader's proposal (observers see it).
   *
   * @throws {ElectionNotLeaderError} when this candidate does not lead (any more).
   */
  async proclaim(value: Bytes, options: RequestOptions = {}): Promise<void> {
    const leadership = this.#leadership;
    if (leadership === undefined) {
      throw new ElectionNotLeaderError('Cannot proclaim: this candidate does not lead the election');
    }
    try {
      await proclaimAs(this.session.client, leadership, toBytes(value, 'proposal'), options);
    } catch (error) {
      if (error instanceof ElectionNotLeaderError) this.#leadership = undefined;
      throw error;
    }
  }

  /** Steps down (deletes the leader key), letting the next candidate lead. Does nothing when not leading. */
  async resign(options: RequestOptions = {}): Promise<void> {
    const leadership = this.#leadership;
    this.#leadership = undefined;
    if (leadership === undefined) return;
    await resignAs(this.session.client, leadership, options);
  }

  /** The current leader of this election. */
  leader(options: RequestOptions = {}): Promise<Leader> {
    return Election.leader(this.session.client, this.name, options);
  }

  /** Every change of this election's leadership (see {@link Election.observe}). */
  observe(options: ObserveOptions = {}): AsyncGenerator<Leader> {
    return Election.observe(this.session.client, this.name, options);
  }

  /**
   * The current leader of election `name`.
   *
   * @throws {ElectionNoLeaderError} when it has none.
   */
  static async leader(client: Client, name: Bytes, options: RequestOptions = {}): Promise<Leader> {
    const prefix = prefixOf(name, 'election');
    const { kvs } = await client.kv.range(
      { ...spanOf(prefix), sortTarget: 'create', sortOrder: 'ascend', limit: 1 },
      options,
    );
    const leader = kvs[0];
    if (leader === undefined) throw new ElectionNoLeaderError('The election has no leader');
    return leader;
  }

  /**
   * The leaders of election `name`, as they change: the current one first
   * (when there is one), then every new leader and every proclamation, in
   * revision order, none skipped (one watch on all candidates, resumed
   * after reconnects). Yields nothing while the election has no leader.
   *
   * @throws {CompactedError} when the watch falls behind a compaction.
   */
  static async *observe(client: Client, name: Bytes, options: ObserveOptions = {}): AsyncGenerator<Leader> {
    const prefix = prefixOf(name, 'election');
    const candidates = await readCandidates(client, prefix, options);
    let shown = leaderOf(candidates.byKey);
    if (shown !== undefined) yield shown;
    const watch = client.watch(spanOf(prefix), {
      startRevision: candidates.revision + 1,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    for await (const batch of watch) {
      for (const event of batch.events) {
        const id = keyIdOf(event.kv.key);
        if (event.type === 'put') candidates.byKey.set(id, event.kv);
        else candidates.byKey.delete(id);
        // A batch may hold several revisions: each leadership change is shown, in order.
        const next = leaderOf(candidates.byKey);
        if (next !== undefined && (shown === undefined || next.modRevision !== shown.modRevision)) {
          shown = next;
          yield next;
        }
        if (next === undefined) shown = undefined;
      }
    }
  }

  async #withdraw(): Promise<void> {
    await retryIdempotent(this.session, {}, () => this.session.client.kv.delete(this.#key));
  }
}

/**
 * Sets the proposal of the leader `leadership` names, as long as its key is
 * still the one it created (etcd's v3election `Proclaim`, which takes a
 * leader key rather than a session: the server-side API uses this).
 *
 * @throws {ElectionNotLeaderError} when the leader key is gone.
 */
export async function proclaimAs(
  client: Client,
  leadership: Leadership,
  value: Uint8Array,
  options: RequestOptions = {},
): Promise<void> {
  const { succeeded } = await retryLostAnswer(options, () =>
    client.kv.txn(
      {
        compare: [compare.createRevision(leadership.key, 'equal', leadership.revision)],
        success: [op.put(leadership.key, value, { lease: leadership.lease })],
      },
      options,
    ),
  );
  if (!succeeded) {
    throw new ElectionNotLeaderError(
      'Cannot proclaim: the leader key is gone (its lease ended, or it resigned)',
    );
  }
}

/** Deletes the leader key `leadership` names, if it is still the one it created (etcd's `Resign`). */
export async function resignAs(
  client: Client,
  leadership: Leadership,
  options: RequestOptions = {},
): Promise<void> {
  await retryLostAnswer(options, () =>
    client.kv.txn(
      {
        compare: [compare.createRevision(leadership.key, 'equal', leadership.revision)],
        success: [op.delete(leadership.key)],
      },
      options,
    ),
  );
}

/** Every candidate key under `prefix` at one revision (read page by page). */
async function readCandidates(
  client: Client,
  prefix: Uint8Array,
  options: ObserveOptions,
): Promise<{ revision: number; byKey: Map<string, KeyValue> }> {
  const byKey = new Map<string, KeyValue>();
  const span = spanOf(prefix);
  let from = span.key;
  let revision = 0;
  for (;;) {
    const page = await client.kv.range(
      { key: from, rangeEnd: span.rangeEnd, ...(revision === 0 ? {} : { revision }) },
      options.signal === undefined ? {} : { signal: options.signal },
    );
    if (revision === 0) revision = page.revision;
    for (const kv of page.kvs) byKey.set(keyIdOf(kv.key), kv);
    const last = page.kvs[page.kvs.length - 1];
    if (!page.more || last === undefined) return { revision, byKey };
    from = afterKey(last.key);
  }
}

function leaderOf(candidates: Map<string, KeyValue>): KeyValue | undefined {
  let leader: KeyValue | undefined;
  for (const kv of candidates.values()) {
    if (
      leader === undefined ||
      kv.createRevision < leader.createRevision ||
      (kv.createRevision === leader.createRevision && compareBytes(kv.key, leader.key) < 0)
    ) {
      leader = kv;
    }
  }
  return leader;
}

/** The smallest key after `key`. */
function afterKey(key: Uint8Array): Uint8Array {
  const next = new Uint8Array(key.length + 1);
  next.set(key);
  return next;
}
