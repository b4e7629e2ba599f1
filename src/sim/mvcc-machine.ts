/**
 * The simulator's state machine: the real KV store (`src/kv/`'s
 * `MvccStore`) behind the simulator's client commands, so every seeded run
 * exercises the MVCC store, its transactions and its snapshot image under
 * Raft's faults.
 *
 * @module
 */
import { decodeMultiple } from '../codec/msgpack.ts';
import { MvccStore } from '../kv/mvcc-store.ts';
import type { StateMachine } from '../raft/state-machine.ts';
import { decodeRequest, type KvApplied, type KvCommand, type KvOutput } from './kv-machine.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The simulator's commands on an {@link MvccStore}: `get` is a range of one
 * key, `put` a put, and `cas` a transaction comparing the key's value (or,
 * when it must be absent, its version with 0) and putting on success, the
 * way an etcd client writes a compare-and-set.
 */
export class MvccMachine implements StateMachine<KvApplied | undefined> {
  #store = new MvccStore();

  /** Applies an entry; empty entries (a new leader's no-op) answer nobody. */
  apply(data: Uint8Array): KvApplied | undefined {
    if (data.length === 0) return undefined;
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
        this.#store.put({ key, value: encoder.encode(command.value) });
        return {};
      case 'cas': {
        const { response } = this.#store.txn({
          compare: [
            command.expected === undefined
              ? { key, result: 'equal', target: 'version', version: 0 }
              : { key, result: 'equal', target: 'value', value: encoder.encode(command.expected) },
          ],
          success: [{ type: 'put', request: { key, value: encoder.encode(command.value) } }],
        });
        return { ok: response.succeeded };
      }
    }
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
      return;
    }
    const restore = MvccStore.restore();
    for (const value of decodeMultiple(data)) restore.pushValue(value);
    this.#store = restore.finish();
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

  /** Checks the store's internal consistency (see `MvccStore.checkInvariants`). */
  checkInvariants(): void {
    this.#store.checkInvariants();
  }
}
