/**
 * The simulator's state machine: the real KV store (`src/kv/`'s
 * `MvccStore`) behind the simulator's client commands, so every seeded run
 * exercises the MVCC store, its transactions and its snapshot image under
 * Raft's faults.
 *
 * @module
 */
import { TesseraError } from '../base/errors.ts';
import { decode, decodeMultiple, encode } from '../codec/msgpack.ts';
import { MvccStore } from '../kv/mvcc-store.ts';
import type { Event, WatchRequest, WatchResponse } from '../kv/types.ts';
import { WatchHub } from '../kv/watch-hub.ts';
import type { StateMachine } from '../raft/state-machine.ts';
import { decodeRequest, type KvApplied, type KvCommand, type KvOutput } from './kv-machine.ts';

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
}

/**
 * The simulator's commands on an {@link MvccStore}: `get` is a range of one
 * key, `put` a put, `delete` a delete of one key, and `cas` a transaction comparing the key's value (or,
 * when it must be absent, its version with 0) and putting on success, the
 * way an etcd client writes a compare-and-set.
 */
export class MvccMachine implements StateMachine<KvApplied | undefined> {
  #store = new MvccStore();
  #hub = new WatchHub(this.#store);
  readonly #options: MvccMachineOptions;

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
    return { clientId, requestId, output: this.execute(command) };
  }

  /** Runs one command against the store (reads run here after ReadIndex, writes through {@link apply}). */
  execute(command: KvCommand): KvOutput {
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

  /** A write changed the store: watchers and the observer hear of it (a write that changed nothing made no revision). */
  #wrote(events: readonly Event[]): void {
    if (events.length === 0) return;
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
  }

  /**
   * What members must agree on once they applied the same entries: the
   * revision and every key's current value and revisions.
   */
  fingerprint(): string {
    const { kvs, more } = this.#store.range({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) });
    const keys = kvs.map(
      (kv) =>
        `${decoder.decode(kv.key)}=${decoder.decode(kv.value)}@${kv.createRevision}/${kv.modRevision}/${kv.version}`,
    );
    return `${this.#store.revision}${more ? '+' : ''}:${keys.join(',')}`;
  }

  /** Checks the store's and the watch hub's internal consistency. */
  checkInvariants(): void {
    this.#store.checkInvariants();
    this.#hub.checkInvariants();
  }
}
