/**
 * {@link runStm}: software transactional memory over the store (etcd's
 * `concurrency.NewSTM`). The caller's function reads and writes keys
 * through an {@link Stm}; reads go to the store (once per key per
 * attempt), writes are buffered; at the end, one transaction writes them
 * all if what was read is still current, and otherwise the function runs
 * again on fresh reads.
 *
 * Isolation levels (etcd's names in brackets):
 * - `serializable` [`Serializable`]: every read of an attempt is made at
 *   the revision of its first read, so the function sees one snapshot; the
 *   commit checks that no key read changed since (its `modRevision`).
 * - `snapshot` [`SerializableSnapshot`, etcd's default and ours]: as
 *   `serializable`, and the commit also checks that no key written was
 *   changed after the read revision, so two attempts that write the same
 *   key without reading it cannot both commit (no write skew on it).
 * - `readCommitted` [`ReadCommitted`]: each key is read at the current
 *   revision; the commit checks nothing, so it never conflicts.
 *
 * In the two serializable levels a failed commit reads the keys read again
 * in the same transaction (its `failure` branch), and the next attempt
 * starts from those values at that revision, saving a round trip (as
 * etcd's prefetch on conflict).
 *
 * @module
 */
import { CancelledError, LimitExceededError } from '../base/errors.ts';
import { type Bytes, toBytes } from '../client/bytes.ts';
import type { Client } from '../client/client.ts';
import { compare, op } from '../client/txn-ops.ts';
import { TXN_OPS_MAX } from '../kv/limits.ts';
import type { Compare, KeyValue, RequestOp } from '../kv/types.ts';

/** How an {@link runStm} transaction is isolated from concurrent writes (see the module note). */
export type StmIsolation = 'serializable' | 'snapshot' | 'readCommitted';

/** Retries of a conflicting commit when none is given (etcd retries without bound). */
export const STM_RETRIES_MAX_DEFAULT = 32;

/**
 * The most distinct keys one attempt may read, and may write: its commit
 * compares and writes them in one transaction, which the store bounds to
 * `TXN_OPS_MAX` compares and requests per branch.
 */
export const STM_KEYS_MAX = TXN_OPS_MAX;

/** Options of {@link runStm}. */
export interface StmOptions {
  /** The isolation level; default `snapshot` (etcd's default). */
  readonly isolation?: StmIsolation;
  /** Attempts after the first when the commit conflicts; default {@link STM_RETRIES_MAX_DEFAULT}. */
  readonly retriesMax?: number;
  /** Aborting stops before the next request: `CancelledError` (a commit already sent may take effect). */
  readonly signal?: AbortSignal;
  /** Keys to read, in one request, at the start of every attempt (etcd's `WithPrefetch`). */
  readonly prefetch?: readonly Bytes[];
}

/** What {@link runStm} resolves with. */
export interface StmResult<T> {
  /** What the function returned on the attempt that committed. */
  readonly result: T;
  /** The store's revision after the commit (unchanged when nothing was written). */
  readonly revision: number;
}

/**
 * The view of the store one attempt of an {@link runStm} function has.
 * Valid only while the function runs.
 */
export interface Stm {
  /** The key's value: the one written earlier in this attempt, else the store's; undefined when it does not exist. */
  get(key: Bytes): Promise<Uint8Array | undefined>;
  /** Buffers a put, seen by later `get`s of this attempt and written at commit. */
  put(key: Bytes, value: Bytes): void;
  /** Buffers a delete, seen by later `get`s of this attempt (as undefined) and done at commit. */
  del(key: Bytes): void;
  /** The key's `modRevision` as read from the store (0 when it does not exist); buffered writes do not change it. */
  rev(key: Bytes): Promise<number>;
}

/** Values read on a failed commit, for the next attempt to start from. */
interface Prefetched {
  readonly revision: number;
  readonly kvs: Map<string, KeyValue | undefined>;
}

/** A key read: the key and the version read (undefined: it did not exist). */
interface ReadEntry {
  readonly key: Uint8Array;
  readonly kv: KeyValue | undefined;
}

/** A buffered write: a put of `value`, or a delete when `value` is undefined. */
interface WriteEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array | undefined;
}

/**
 * Runs `apply` as a transaction: its reads and buffered writes commit
 * together, or `apply` runs again on fresh reads when a concurrent write
 * conflicted (see the isolation levels in the module note). `apply` may
 * run several times: keep it free of other side effects. When it throws,
 * nothing is written and the error is passed on.
 *
 * @returns what `apply` returned on the attempt that committed, and the revision of the commit.
 * @throws {LimitExceededError} when the commit still conflicted after `retriesMax` retries,
 *   or an attempt read or wrote more than {@link STM_KEYS_MAX} keys.
 * @throws {CancelledError} when `signal` aborts.
 * @throws {OutcomeUnknownError} when the commit's answer was lost: it may or may not have taken effect.
 * @throws {RangeError} when `retriesMax` is not an integer >= 0.
 * @throws {TypeError} when `isolation` is not one of the three levels.
 *
 * @example
 * ```ts
 * // Move 10 from one account to another, atomically, whatever else runs meanwhile.
 * const { result: moved } = await runStm(client, async (stm) => {
 *   const from = Number(text((await stm.get('accounts/a')) ?? new Uint8Array()));
 *   const to = Number(text((await stm.get('accounts/b')) ?? new Uint8Array()));
 *   if (from < 10) return false;
 *   stm.put('accounts/a', String(from - 10));
 *   stm.put('accounts/b', String(to + 10));
 *   return true;
 * }, { isolation: 'serializable' });
 * ```
 */
export async function runStm<T>(
  client: Client,
  apply: (stm: Stm) => Promise<T> | T,
  options: StmOptions = {},
): Promise<StmResult<T>> {
  const isolation = options.isolation ?? 'snapshot';
  if (isolation !== 'serializable' && isolation !== 'snapshot' && isolation !== 'readCommitted') {
    throw new TypeError(
      `Cannot run STM: isolation must be serializable, snapshot or readCommitted, got ${isolation}`,
    );
  }
  const retriesMax = options.retriesMax ?? STM_RETRIES_MAX_DEFAULT;
  if (!Number.isSafeInteger(retriesMax) || retriesMax < 0) {
    throw new RangeError(`Cannot run STM: retriesMax must be an integer >= 0, got ${retriesMax}`);
  }
  const prefetch = (options.prefetch ?? []).map((key) => toBytes(key, 'prefetch key'));
  let prefetched: Prefetched | undefined;
  for (let attempt = 0; attempt <= retriesMax; attempt++) {
    if (options.signal?.aborted === true) {
      throw new CancelledError('Cannot run STM: the signal aborted', { cause: options.signal.reason });
    }
    const stm = new StmAttempt(client, isolation, options.signal, prefetched);
    if (prefetch.length > 0) await stm.read(prefetch);
    let result: T;
    try {
      result = await apply(stm);
    } catch (error) {
      stm.end();
      throw error;
    }
    const committed = await stm.commit();
    if (committed.prefetched === undefined) return { result, revision: committed.revision };
    prefetched = committed.prefetched;
  }
  throw new LimitExceededError(
    `Cannot commit STM transaction: it conflicted with concurrent writes on all ${retriesMax + 1} attempts (retriesMax ${retriesMax})`,
    { details: { retriesMax, isolation } },
  );
}

/** One attempt: its read set, its write set, and its read revision. */
class StmAttempt implements Stm {
  readonly #client: Client;
  readonly #isolation: StmIsolation;
  readonly #signal: AbortSignal | undefined;
  readonly #prefetched: Prefetched | undefined;
  // Invariant: in the serializable levels every entry was read at #readRevision.
  readonly #reads = new Map<string, ReadEntry>();
  readonly #writes = new Map<string, WriteEntry>();
  /** The revision reads are pinned to in the serializable levels; 0 until the first read. */
  #readRevision = 0;
  #over = false;

  constructor(
    client: Client,
    isolation: StmIsolation,
    signal: AbortSignal | undefined,
    prefetched: Prefetched | undefined,
  ) {
    this.#client = client;
    this.#isolation = isolation;
    this.#signal = signal;
    this.#prefetched = prefetched;
  }

  async get(key: Bytes): Promise<Uint8Array | undefined> {
    const bytes = toBytes(key);
    const written = this.#writes.get(idOf(bytes));
    if (written !== undefined) return written.value;
    return (await this.#readOne(bytes))?.value;
  }

  put(key: Bytes, value: Bytes): void {
    this.#write(toBytes(key), toBytes(value, 'value'));
  }

  del(key: Bytes): void {
    this.#write(toBytes(key), undefined);
  }

  async rev(key: Bytes): Promise<number> {
    return (await this.#readOne(toBytes(key)))?.modRevision ?? 0;
  }

  /** Reads the keys not read yet in this attempt, in one request per {@link STM_KEYS_MAX} keys. */
  async read(keys: readonly Uint8Array[]): Promise<void> {
    this.#checkOpen('read');
    const missing: Uint8Array[] = [];
    const missingIds = new Set<string>();
    for (const key of keys) {
      const id = idOf(key);
      if (this.#reads.has(id) || missingIds.has(id)) continue;
      const prefetched = this.#prefetched;
      if (prefetched?.kvs.has(id) === true) {
        this.#pinReadRevision(prefetched.revision);
        this.#addRead(id, { key, kv: prefetched.kvs.get(id) });
        continue;
      }
      missing.push(key);
      missingIds.add(id);
    }
    // A retry reads at the revision of the values its failed commit read back.
    if (missing.length > 0 && this.#prefetched !== undefined)
      this.#pinReadRevision(this.#prefetched.revision);
    for (let start = 0; start < missing.length; start += STM_KEYS_MAX) {
      const chunk = missing.slice(start, start + STM_KEYS_MAX);
      const pinned = this.#isolation === 'readCommitted' ? 0 : this.#readRevision;
      const response = await this.#client.kv.txn(
        { success: chunk.map((key) => op.get(pinned === 0 ? key : { key, revision: pinned })) },
        this.#call(),
      );
      this.#pinReadRevision(response.revision);
      for (const [index, key] of chunk.entries()) {
        const reply = response.responses[index];
        const kv = reply?.type === 'range' ? reply.response.kvs[0] : undefined;
        this.#addRead(idOf(key), { key, kv });
      }
    }
  }

  /**
   * Ends the attempt: writes the write set if the checks of the isolation
   * level pass. On a conflict, resolves with the read set read again.
   */
  async commit(): Promise<{ revision: number; prefetched?: Prefetched }> {
    this.#checkOpen('commit');
    this.end();
    const reads = [...this.#reads.values()];
    const writes = [...this.#writes.values()];
    const serializable = this.#isolation !== 'readCommitted';
    const compares: Compare[] = [];
    if (serializable) {
      for (const { key, kv } of reads) compares.push(compare.modRevision(key, 'equal', kv?.modRevision ?? 0));
    }
    if (this.#isolation === 'snapshot' && this.#readRevision > 0) {
      for (const { key } of writes) compares.push(compare.modRevision(key, 'less', this.#readRevision + 1));
    }
    const success: RequestOp[] = writes.map(({ key, value }) =>
      value === undefined ? op.delete(key) : op.put(key, value),
    );
    const failure = serializable ? reads.map(({ key }) => op.get(key)) : [];
    const response = await this.#client.kv.txn({ compare: compares, success, failure }, this.#call());
    if (response.succeeded) return { revision: response.revision };
    const kvs = new Map<string, KeyValue | undefined>();
    for (const [index, { key }] of reads.entries()) {
      const reply = response.responses[index];
      kvs.set(idOf(key), reply?.type === 'range' ? reply.response.kvs[0] : undefined);
    }
    return { revision: response.revision, prefetched: { revision: response.revision, kvs } };
  }

  /** Ends the attempt without a commit: later calls throw. */
  end(): void {
    this.#over = true;
  }

  async #readOne(key: Uint8Array): Promise<KeyValue | undefined> {
    await this.read([key]);
    return this.#reads.get(idOf(key))?.kv;
  }

  #write(key: Uint8Array, value: Uint8Array | undefined): void {
    this.#checkOpen('write');
    const id = idOf(key);
    if (!this.#writes.has(id)) this.#checkRoom(this.#reads.size, this.#writes.size + 1, 'write');
    this.#writes.set(id, { key, value });
  }

  #addRead(id: string, entry: ReadEntry): void {
    this.#checkRoom(this.#reads.size + 1, this.#writes.size, 'read');
    this.#reads.set(id, entry);
  }

  /** Throws unless the commit of `reads` keys read and `writes` written fits one transaction. */
  #checkRoom(reads: number, writes: number, what: string): void {
    const compares =
      this.#isolation === 'readCommitted' ? 0 : reads + (this.#isolation === 'snapshot' ? writes : 0);
    if (reads > STM_KEYS_MAX || writes > STM_KEYS_MAX || compares > STM_KEYS_MAX) {
      throw new LimitExceededError(
        `Cannot ${what} in STM transaction: it would read ${reads} and write ${writes} keys, ` +
          `more than one commit holds (STM_KEYS_MAX ${STM_KEYS_MAX} compares, reads and writes)`,
        { details: { reads, writes, limit: STM_KEYS_MAX } },
      );
    }
  }

  #pinReadRevision(revision: number): void {
    if (this.#isolation !== 'readCommitted' && this.#readRevision === 0) this.#readRevision = revision;
  }

  #checkOpen(what: string): void {
    if (this.#over)
      throw new Error(`Cannot ${what} through the STM: its attempt is over (use it only inside apply)`);
  }

  #call(): { signal?: AbortSignal } {
    return this.#signal === undefined ? {} : { signal: this.#signal };
  }
}

/** A map key for a byte key: each byte as one Latin-1 character, so distinct keys stay distinct. */
function idOf(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}
