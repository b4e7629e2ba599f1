/**
 * The simulator's client workload: which call each client makes next. Gets,
 * puts, deletes and compare-and-sets on a few keys; lease sessions: a
 * client grants a lease, puts keys attached to it, keeps it alive (more
 * eagerly once half its TTL has passed), and in the end revokes it or
 * abandons it to expire; and ranges and multi-key transactions
 * (`sim-range-txn-workload.ts`).
 *
 * @module
 */
import type { SeededRandom } from '../base/random.ts';
import type { KvCommand, KvCommandOutput } from './kv-machine.ts';
import type { SimConfig } from './sim-config.ts';
import { TICKS_PER_SECOND } from './sim-leases.ts';
import { SimRangeTxnWorkload } from './sim-range-txn-workload.ts';

/** Operations issued before the workload moves on to fresh keys. */
export const KEY_GENERATION_OPS = 250;

/** Keys per generation that lease sessions put (besides the config's plain keys). */
const LEASED_KEYS = 2;

/** Lease TTLs, in seconds: the store's minimum (2 s, 20 ticks) up to this. */
const LEASE_TTL_SECONDS_MAX = 6;

/** A client's lease session: the lease it holds, and until when it was last promised alive. */
interface LeaseSession {
  readonly lease: number;
  readonly ttl: number;
  aliveUntil: number;
}

/** What the clients of one run call. */
export class SimWorkload {
  readonly #random: SeededRandom;
  readonly #config: SimConfig;
  readonly #sessions = new Map<number, LeaseSession>();
  readonly #rangeTxn: SimRangeTxnWorkload;
  #leaseId = 0;

  constructor(random: SeededRandom, config: SimConfig) {
    this.#random = random;
    this.#config = config;
    this.#rangeTxn = new SimRangeTxnWorkload(random, config);
  }

  /** The next call of client `clientId`, the `opsIssued`-th of the run, at tick `now`. */
  next(clientId: number, opsIssued: number, now: number): KvCommand {
    const random = this.#random;
    // Keys rotate every KEY_GENERATION_OPS operations (Jepsen's independent keys): each key's history
    // stays short enough for the checker to decide, however many operations of unknown outcome faults
    // leave on it, while operations on one key still overlap in time.
    const generation = Math.floor(opsIssued / KEY_GENERATION_OPS);
    const key = `k${generation}.${random.int(this.#config.keys)}`;
    const leasedKey = `l${generation}.${random.int(LEASED_KEYS)}`;
    const roll = random.int(25);
    const value = `v${opsIssued}`;
    if (roll < 7) return { op: 'get', key: random.int(4) === 0 ? leasedKey : key };
    if (roll < 11) return { op: 'put', key, value };
    if (roll < 13) return { op: 'delete', key };
    if (roll < 16) {
      const expected = random.int(2) === 0 ? undefined : `v${random.int(Math.max(1, opsIssued))}`;
      return { op: 'cas', key, expected, value };
    }
    if (roll < 20) return this.#leaseCall(clientId, leasedKey, value, now);
    if (roll < 23) return this.#rangeTxn.range(generation);
    return this.#rangeTxn.txn(generation, value);
  }

  /** A lease call: 16% of all calls. */
  #leaseCall(clientId: number, key: string, value: string, now: number): KvCommand {
    const random = this.#random;
    const session = this.#sessions.get(clientId);
    const roll = random.int(20);
    if (session !== undefined) {
      const { lease } = session;
      const renewDue = now >= session.aliveUntil - (session.ttl * TICKS_PER_SECOND) / 2;
      const keepAliveRolls = renewDue ? 12 : 4;
      if (roll < keepAliveRolls) return { op: 'keepAlive', lease };
      if (roll < 16) return { op: 'leasePut', key, value, lease };
      if (roll < 18) {
        this.#sessions.delete(clientId);
        return { op: 'revoke', lease };
      }
      // Abandoned: the client never renews it again; its lessor must expire it.
      this.#sessions.delete(clientId);
    }
    return { op: 'grant', lease: ++this.#leaseId, ttl: 2 + random.int(LEASE_TTL_SECONDS_MAX - 1) };
  }

  /**
   * A call of client `clientId` ended with `output` (undefined: unknown) for
   * a proposal made at tick `proposedAt`; its lease session follows. A grant
   * of unknown outcome is abandoned (if it took effect, the lease expires);
   * a lease found gone ends the session.
   */
  answered(
    clientId: number,
    input: KvCommand,
    output: KvCommandOutput | undefined,
    proposedAt: number,
  ): void {
    if (output !== undefined) this.#rangeTxn.answered(input, output);
    if (input.op !== 'grant' && input.op !== 'keepAlive' && input.op !== 'leasePut') return;
    const ok = output !== undefined && 'ok' in output && output.ok;
    if (input.op === 'grant') {
      if (ok) this.#sessions.set(clientId, { lease: input.lease, ttl: input.ttl, aliveUntil: 0 });
    } else if (this.#sessions.get(clientId)?.lease !== input.lease) {
      return;
    } else if (output !== undefined && !ok) {
      this.#sessions.delete(clientId);
      return;
    }
    const session = this.#sessions.get(clientId);
    if (ok && input.op !== 'leasePut' && session !== undefined) {
      session.aliveUntil = proposedAt + session.ttl * TICKS_PER_SECOND;
    }
  }
}
