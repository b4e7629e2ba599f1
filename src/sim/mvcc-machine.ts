/**
 * The simulator's state machine: the real KV store (`src/kv/`'s
 * `MvccStore`) behind the simulator's client commands, so every seeded run
 * exercises the MVCC store, its transactions, its leases and its snapshot image under
 * Raft's faults.
 *
 * @module
 */
import { InvalidArgumentError, TesseraError } from '../base/errors.ts';
import { decode, decodeMultiple, encode } from '../codec/msgpack.ts';
import type { LeaseChange } from '../kv/kv-machine.ts';
import { MvccStore } from '../kv/mvcc-store.ts';
import type { Event, LeaseInfo, TxnResponse, WatchRequest, WatchResponse } from '../kv/types.ts';
import { WatchHub } from '../kv/watch-hub.ts';
import type { StateMachine } from '../raft/state-machine.ts';
import type { LeaseInput, LeaseOutput } from './kv-lease-model.ts';
import {
  decodeRequest,
  type KeepAlivesCommand,
  type KvApplied,
  type KvCommand,
  type KvCommandOutput,
  type LeaseCheckpointCommand,
} from './kv-machine.ts';
import {
  kvViewOf,
  type RangeInput,
  type RangeOutput,
  rangeRequestOf,
  type TxnInput,
  type TxnOutput,
  txnRequestOf,
} from './kv-range-txn.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** First byte of a compaction entry; client requests are JSON and start with `{`. */
const COMPACT_TAG = 0x02;
/** Keys freed per compaction step: the simulator frees all of it at once, in steps of this many. */
const COMPACT_STEP_KEYS = 64;

/** The log entry that compacts the store's history below `revision` (as etcd's Compact request). */
export function encodeCompaction(revision: number): Uint8Array {
  const body = encode(revision);
  const data = new Uint8Array(body.length + 1);
  data[0] = COMPACT_TAG;
  data.set(body, 1);
  return data;
}

/** Options of {@link MvccMachine}. */
export interface MvccMachineOptions {
  /** Told of every write's revision and events, as applied (the simulator's record of what happened). */
  readonly onWrite?: (revision: number, events: readonly Event[]) => void;
  /** The `watch-skip-event` test bug (see the simulator's `--bug`). */
  readonly skipWatchEvent?: boolean;
  /** The `txn-partial-apply` test bug (see the simulator's `--bug`). */
  readonly splitTxn?: boolean;
  /** The `keepalive-batch-unchecked` test bug (see the simulator's `--bug`). */
  readonly keepAliveBatchUnchecked?: boolean;
  /** Told of every lease change applied, in log order: what a member's lessor mirrors. */
  readonly onLease?: (change: LeaseChange) => void;
}

/**
 * The simulator's commands on an {@link MvccStore}: `get` is a range of one
 * key, `put` a put, `delete` a delete of one key, and `cas` a transaction comparing the key's value (or,
 * when it must be absent, its version with 0) and putting on success, the
 * way an etcd client writes a compare-and-set. `range` reads a prefix
 * with a limit; `txn` is a transaction over a few keys, reading on failure
 * the keys it would have written. Leases: `grant` is a
 * `leaseGrant`, `leasePut` a put with a lease, `revoke` and `expire` are
 * `leaseRevoke`s (a client's, a lessor's), `keepAlive` checkpoints the
 * lease's full TTL (etcd's `Renew` clears the remaining TTL through the log
 * the same way, so that a new leader restarts the countdown from the full
 * TTL), and `checkpoint` is a lessor's `leaseCheckpoint`. A lease call on a
 * lease that does not exist answers `{ ok: false }` on every member alike.
 */
export class MvccMachine implements StateMachine<KvApplied | undefined> {
  #store = new MvccStore();
  #hub = new WatchHub(this.#store);
  readonly #options: MvccMachineOptions;
  /**
   * The lease set as {@link leaseFingerprint} gives it, kept between the
   * changes that can alter it (a lease command, a write to a key attached to
   * a lease before or after, a restore): the simulator compares it after
   * every entry, most of which touch no lease.
   */
  #leaseSet: { readonly fingerprint: string; readonly count: number } | undefined;

  constructor(options: MvccMachineOptions = {}) {
    this.#options = options;
  }

  /**
   * Watches on this member (local, as etcd's: a snapshot install replaces
   * the hub and ends them all, as a reconnect would). Check {@link hub}
   * identity to notice.
   */
  get hub(): WatchHub {
    return this.#hub;
  }

  /** Registers a watch on this member's hub. */
  watch(request: WatchRequest): number {
    return this.#hub.watch(request);
  }

  /** The next events of a watch on this member's hub. */
  take(watchId: number, eventsMax?: number): WatchResponse {
    const response = this.#hub.take(watchId, eventsMax);
    if (this.#options.skipWatchEvent !== true) return response;
    // The `watch-skip-event` test bug: delivery loses the first change of every fifth revision.
    const events = response.events.filter(
      (event, i) =>
        event.kv.modRevision % 5 !== 0 || response.events[i - 1]?.kv.modRevision === event.kv.modRevision,
    );
    return { ...response, events };
  }

  /** The store's current revision. */
  get revision(): number {
    return this.#store.revision;
  }

  /** The revision the store's history was compacted at (0: never). */
  get compactRevision(): number {
    return this.#store.compactRevision;
  }

  /** Applies an entry; empty entries (a new leader's no-op) and compactions answer nobody. */
  apply(data: Uint8Array): KvApplied | undefined {
    if (data.length === 0) return undefined;
    if (data[0] === COMPACT_TAG) {
      this.#compact(decode(data.subarray(1)) as number);
      return undefined;
    }
    const { clientId, requestId, command } = decodeRequest(data);
    if (command.op === 'keepAlives')
      return { clientId, requestId, output: {}, batch: this.#keepAlives(command) };
    const output = command.op === 'checkpoint' ? this.#checkpoint(command) : this.execute(command);
    return { clientId, requestId, output };
  }

  /** Runs one command against the store (reads run here after ReadIndex, writes through {@link apply}). */
  execute(command: KvCommand): KvCommandOutput {
    if (command.op === 'range') return this.#range(command);
    if (command.op === 'txn') return this.#txn(command);
    if (!('key' in command) || command.op === 'leasePut') return this.#lease(command);
    const key = encoder.encode(command.key);
    switch (command.op) {
      case 'get': {
        const kv = this.#store.range({ key }).kvs[0];
        return { value: kv === undefined ? undefined : decoder.decode(kv.value) };
      }
      case 'put':
        this.#wrote(this.#store.put({ key, value: encoder.encode(command.value) }).events);
        return {};
      case 'delete':
        this.#wrote(this.#store.deleteRange({ key }).events);
        return {};
      case 'cas': {
        const { response, events } = this.#store.txn({
          compare: [
            command.expected === undefined
              ? { key, result: 'equal', target: 'version', version: 0 }
              : { key, result: 'equal', target: 'value', value: encoder.encode(command.expected) },
          ],
          success: [{ type: 'put', request: { key, value: encoder.encode(command.value) } }],
        });
        this.#wrote(events);
        return { ok: response.succeeded };
      }
    }
  }

  #range(command: RangeInput): RangeOutput {
    const { revision, kvs, count, more } = this.#store.range(rangeRequestOf(command));
    return { revision, kvs: kvs.map(kvViewOf), count, more };
  }

  #txn(command: TxnInput): TxnOutput {
    const request = txnRequestOf(command);
    const success = request.success ?? [];
    if (this.#options.splitTxn === true && success.length > 1) {
      // The `txn-partial-apply` test bug: the first write commits at one revision, the rest at the next.
      const first = this.#store.txn({ ...request, success: success.slice(0, 1) });
      this.#wrote(first.events);
      if (first.response.succeeded) {
        const rest = this.#store.txn({ success: success.slice(1) });
        this.#wrote(rest.events);
        return { succeeded: true, revision: rest.response.revision, kvs: [] };
      }
      return this.#txnOutput(first.response);
    }
    const { response, events } = this.#store.txn(request);
    this.#wrote(events);
    return this.#txnOutput(response);
  }

  #txnOutput(response: TxnResponse): TxnOutput {
    const kvs = response.succeeded
      ? []
      : response.responses.map((op) => {
          const kv = op.type === 'range' ? op.response.kvs[0] : undefined;
          return kv === undefined ? null : kvViewOf(kv);
        });
    return { succeeded: response.succeeded, revision: response.revision, kvs };
  }

  /** The lease commands; one naming a lease that does not exist (or, for a grant, one that does) fails. */
  #lease(command: LeaseInput): LeaseOutput {
    this.#leaseSet = undefined;
    const id = command.lease;
    const info = this.#store.leaseTimeToLive(id);
    switch (command.op) {
      case 'grant': {
        if (info !== undefined) return { ok: false };
        const { ttl } = this.#store.leaseGrant({ id, ttl: command.ttl });
        this.#options.onLease?.({ type: 'granted', id, ttl });
        return { ok: true, ttl };
      }
      case 'revoke':
      case 'expire':
        if (info === undefined) return { ok: false };
        this.#wrote(this.#store.leaseRevoke({ id }).events);
        this.#options.onLease?.({ type: 'revoked', id });
        return { ok: true };
      case 'keepAlive': {
        if (info === undefined) return { ok: false };
        const { ttl } = this.#store.leaseKeepAlive({ id });
        this.#options.onLease?.({ type: 'checkpointed', id, remainingTtl: ttl });
        return { ok: true, ttl };
      }
      case 'leasePut': {
        const key = encoder.encode(command.key);
        try {
          this.#wrote(this.#store.put({ key, value: encoder.encode(command.value), lease: id }).events);
        } catch (error) {
          // The store refuses a put whose lease does not exist, the same way on every member.
          if (error instanceof InvalidArgumentError && error.details?.['reason'] === 'LEASE_NOT_FOUND')
            return { ok: false };
          throw error;
        }
        return { ok: true };
      }
    }
  }

  /** Keep-alives renewed together (the store's `leaseKeepAlives`): each answers as a single one would. */
  #keepAlives(command: KeepAlivesCommand): KvApplied[] {
    this.#leaseSet = undefined;
    const { ttls } = this.#store.leaseKeepAlives({ ids: command.calls.map((call) => call.lease) });
    return command.calls.map(({ clientId, requestId, lease }, i) => {
      const ttl = ttls[i] ?? -1;
      if (ttl < 0) {
        // The `keepalive-batch-unchecked` test bug: a lease that no longer exists is answered as renewed.
        if (this.#options.keepAliveBatchUnchecked === true)
          return { clientId, requestId, output: { ok: true, ttl: 1 } };
        return { clientId, requestId, output: { ok: false } };
      }
      this.#options.onLease?.({ type: 'checkpointed', id: lease, remainingTtl: ttl });
      return { clientId, requestId, output: { ok: true, ttl } };
    });
  }

  /** A lessor's checkpoint: leases that no longer exist are skipped, by the store and the lessors alike. */
  #checkpoint(command: LeaseCheckpointCommand): LeaseOutput {
    this.#leaseSet = undefined;
    this.#store.leaseCheckpoint({ checkpoints: command.checkpoints });
    for (const { id, remainingTtl } of command.checkpoints) {
      if (this.#store.leaseTimeToLive(id) !== undefined)
        this.#options.onLease?.({ type: 'checkpointed', id, remainingTtl });
    }
    return { ok: true };
  }

  /** How many leases the store holds. */
  get leaseCount(): number {
    return this.#cachedLeaseSet().count;
  }

  /** Every lease the store holds, ascending by id: what a lessor is reset from after a restore. */
  leases(): LeaseInfo[] {
    return this.#store.leaseList().map((id) => {
      const info = this.#store.leaseTimeToLive(id);
      if (info === undefined) throw new Error(`Invariant: listed lease ${id} does not exist`);
      return info;
    });
  }

  /** The lease set for comparison between members: each lease's TTLs and keys. */
  leaseFingerprint(): string {
    return this.#cachedLeaseSet().fingerprint;
  }

  #cachedLeaseSet(): { readonly fingerprint: string; readonly count: number } {
    if (this.#leaseSet !== undefined) return this.#leaseSet;
    const leases = this.leases();
    const fingerprint = leases
      .map(
        ({ id, grantedTtl, remainingTtl, keys }) =>
          `${id}:${grantedTtl}/${remainingTtl}[${keys.map((key) => decoder.decode(key)).join(',')}]`,
      )
      .join(' ');
    this.#leaseSet = { fingerprint, count: leases.length };
    return this.#leaseSet;
  }

  /** A write changed the store: watchers and the observer hear of it (a write that changed nothing made no revision). */
  #wrote(events: readonly Event[]): void {
    if (events.length === 0) return;
    if (events.some((event) => event.kv.lease !== 0 || (event.prevKv?.lease ?? 0) !== 0))
      this.#leaseSet = undefined;
    const revision = this.#store.revision;
    this.#options.onWrite?.(revision, events);
    this.#hub.notify(events, revision);
  }

  /**
   * Compacts at `revision` and frees the history at once. A revision
   * already compacted, or past the current one (the proposer's view was
   * ahead of this entry's place in the log), is refused by the store the
   * same way on every member, so it changes nothing anywhere.
   */
  #compact(revision: number): void {
    try {
      this.#store.compact({ revision });
    } catch (error) {
      if (error instanceof TesseraError) return;
      throw error;
    }
    while (!this.#store.compactStep(COMPACT_STEP_KEYS)) {
      // Each step frees a bounded number of keys; the simulator does them all before the next entry.
    }
    this.#hub.onCompact();
  }

  /** The store's snapshot image, its records back to back (each is one MessagePack value). */
  snapshot(): Uint8Array {
    const records = [...this.#store.snapshot()];
    const data = new Uint8Array(records.reduce((sum, record) => sum + record.length, 0));
    let at = 0;
    for (const record of records) {
      data.set(record, at);
      at += record.length;
    }
    return data;
  }

  /** Replaces the store with a {@link snapshot} image (empty: a fresh store). */
  restore(data: Uint8Array): void {
    if (data.length === 0) {
      this.#store = new MvccStore();
    } else {
      const restore = MvccStore.restore();
      for (const value of decodeMultiple(data)) restore.pushValue(value);
      this.#store = restore.finish();
    }
    this.#hub = new WatchHub(this.#store);
    this.#leaseSet = undefined;
  }

  /**
   * What members must agree on once they applied the same entries: the
   * revision, every key's current value, revisions and lease, and the leases.
   */
  fingerprint(): string {
    const { kvs, more } = this.#store.range({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) });
    const keys = kvs.map(
      (kv) =>
        `${decoder.decode(kv.key)}=${decoder.decode(kv.value)}@${kv.createRevision}/${kv.modRevision}/${kv.version}/${kv.lease}`,
    );
    this.#leaseSet = undefined; // Computed afresh: the comparison at the end trusts no cache.
    return `${this.#store.revision}${more ? '+' : ''}:${keys.join(',')} leases ${this.leaseFingerprint()}`;
  }

  /** Checks the store's and the watch hub's internal consistency. */
  checkInvariants(): void {
    this.#store.checkInvariants();
    this.#hub.checkInvariants();
  }
}
