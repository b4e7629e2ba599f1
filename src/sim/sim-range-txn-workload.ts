/**
 * The simulator's multi-key calls: ranges over a key generation's prefix
 * and transactions over a few keys of it, written the way an optimistic
 * client writes them (compare what an earlier read returned, then write).
 *
 * Transactions write only their own keys, `k{generation}.t{i}`, which no
 * per-key call names: the per-key linearizability checker, which does not
 * see transactions, never meets a write it cannot account for. Their
 * compares may read the plain keys too. Ranges read the plain and the
 * transaction keys together (prefix `k{generation}.`), or the leased ones
 * (`l{generation}.`). All of it is checked against the committed revisions
 * (`revision-checker.ts`).
 *
 * @module
 */
import type { SeededRandom } from '../base/random.ts';
import type { KvCommand, KvCommandOutput } from './kv-machine.ts';
import type { KvView, RangeInput, TxnCompare, TxnInput, TxnWrite } from './kv-range-txn.ts';
import type { SimConfig } from './sim-config.ts';

/** Keys per generation that transactions write. */
export const TXN_KEYS = 3;

/** Most keys a range with a limit returns (a limit is drawn from 1 to this). */
const RANGE_LIMIT_MAX = 3;

/** The ranges and transactions of one run's clients. */
export class SimRangeTxnWorkload {
  readonly #random: SeededRandom;
  readonly #config: SimConfig;
  /**
   * Each key as the latest answer showed it (null: absent): what the next
   * transaction on it compares against. Shared by the clients, as if they
   * shared a cache; it only shapes which compares hold.
   */
  readonly #seen = new Map<string, KvView | null>();

  constructor(random: SeededRandom, config: SimConfig) {
    this.#random = random;
    this.#config = config;
  }

  /** A range over generation `generation`'s plain and transaction keys, or its leased keys. */
  range(generation: number): RangeInput {
    const random = this.#random;
    const prefix = random.int(4) === 0 ? `l${generation}.` : `k${generation}.`;
    const limit = random.int(3) === 0 ? 1 + random.int(RANGE_LIMIT_MAX) : 0;
    return { op: 'range', prefix, limit, serializable: random.int(4) === 0 };
  }

  /**
   * A transaction of generation `generation`: one or two compares, and two
   * or three distinct transaction keys to write (puts of `value`, a delete
   * now and then).
   */
  txn(generation: number, value: string): TxnInput {
    const random = this.#random;
    const keys = Array.from({ length: TXN_KEYS }, (_, i) => `k${generation}.t${i}`);
    // A partial Fisher-Yates shuffle picks the written keys.
    const writeCount = 2 + random.int(TXN_KEYS - 1);
    const writes: TxnWrite[] = [];
    for (let i = 0; i < writeCount; i++) {
      const j = i + random.int(keys.length - i);
      const key = keys[j]!;
      keys[j] = keys[i]!;
      keys[i] = key;
      writes.push(random.int(4) === 0 ? { type: 'delete', key } : { type: 'put', key, value });
    }
    const compare: TxnCompare[] = [];
    for (let i = 1 + random.int(2); i > 0; i--) {
      const key =
        random.int(4) === 0
          ? `k${generation}.${random.int(this.#config.keys)}`
          : `k${generation}.t${random.int(TXN_KEYS)}`;
      compare.push(this.#compare(key));
    }
    return { op: 'txn', compare, writes };
  }

  /** A compare on `key`, mostly one that holds if nobody wrote the key since it was last seen. */
  #compare(key: string): TxnCompare {
    const random = this.#random;
    const seen = this.#seen.get(key) ?? undefined;
    const result = random.int(5) === 0 ? (['notEqual', 'less', 'greater'] as const)[random.int(3)]! : 'equal';
    switch (random.int(3)) {
      case 0:
        // A value compare on an absent key always fails (etcd): compare some old value then.
        return { key, result, target: 'value', value: seen?.value ?? 'v0' };
      case 1:
        return { key, result, target: 'version', version: seen?.version ?? 0 };
      default:
        return { key, result, target: 'modRevision', modRevision: seen?.modRevision ?? 0 };
    }
  }

  /** A call answered `output`: a range or a failed transaction shows keys as they were. */
  answered(input: KvCommand, output: KvCommandOutput): void {
    if (input.op === 'range' && 'count' in output) {
      // A range without a cut shows every key under its prefix: the others are absent.
      if (!output.more) {
        for (const key of this.#seen.keys()) if (key.startsWith(input.prefix)) this.#seen.set(key, null);
      }
      for (const kv of output.kvs) this.#seen.set(kv.key, kv);
    } else if (input.op === 'txn' && 'succeeded' in output && !output.succeeded) {
      for (const [i, { key }] of input.writes.entries()) this.#seen.set(key, output.kvs[i] ?? null);
    }
  }
}
