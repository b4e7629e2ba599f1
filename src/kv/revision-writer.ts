/**
 * Writing one revision: the puts and deletes of one request, each at its
 * own sub-revision, producing the events a watch will deliver.
 *
 * The writer changes the state as it goes (so a later range in the same
 * transaction sees earlier writes, as etcd's do) and never fails: every
 * check ran before the first write.
 *
 * @module
 */
import type { HistoryNode, KeyRecord } from './key-history.ts';
import { copyBytes } from './key-span.ts';
import { keyValueOf } from './range-reader.ts';
import type { StoreState } from './store-state.ts';
import type { Event } from './types.ts';

const EMPTY = new Uint8Array(0);

/** The changes of one revision in the making. */
export class RevisionWriter {
  /** The revision the writes get: the current one plus one. */
  readonly revision: number;
  readonly #state: StoreState;
  #sub = 0;
  readonly #events: Event[] = [];

  constructor(state: StoreState) {
    this.#state = state;
    this.revision = state.revision + 1;
  }

  /** Whether anything was written. */
  get changed(): boolean {
    return this.#sub > 0;
  }

  /** The events so far, in sub-revision order. */
  get events(): readonly Event[] {
    return this.#events;
  }

  /** The revision a read inside the request sees: this one once it wrote, else the current one. */
  get readRevision(): number {
    return this.changed ? this.revision : this.#state.revision;
  }

  /**
   * Puts a key. `value` is taken as is: the caller passes bytes the store
   * owns (a copy of the request's, or the previous version's).
   *
   * @returns the version the put replaced, when the key existed.
   */
  put(keyId: string, key: Uint8Array, value: Uint8Array, lease: number): KeyRecord | undefined {
    const state = this.#state;
    const head = state.index.get(keyId);
    const previous = head === undefined || head.record.tombstone ? undefined : head.record;
    const record: KeyRecord = {
      key: head?.record.key ?? copyBytes(key),
      keyId,
      modRevision: this.revision,
      sub: this.#sub++,
      tombstone: false,
      createRevision: previous?.createRevision ?? this.revision,
      version: (previous?.version ?? 0) + 1,
      lease,
      value,
    };
    this.#append(head, record);
    if (previous !== undefined && previous.lease !== 0 && previous.lease !== lease) {
      state.leases.detach(previous.lease, keyId);
    }
    if (lease !== 0) state.leases.attach(lease, keyId);
    this.#events.push(
      previous === undefined
        ? { type: 'put', kv: keyValueOf(record) }
        : { type: 'put', kv: keyValueOf(record), prevKv: keyValueOf(previous) },
    );
    return previous;
  }

  /** Deletes a key that exists now; `previous` is its latest version. */
  delete(previous: KeyRecord): void {
    const state = this.#state;
    const head = state.index.get(previous.keyId);
    // By revision, not identity: a disk index hands out fresh histories.
    if (
      head === undefined ||
      head.record.modRevision !== previous.modRevision ||
      head.record.sub !== previous.sub
    )
      throw new Error('Invariant: a delete names a version that is not the latest');
    const tombstone: KeyRecord = {
      key: previous.key,
      keyId: previous.keyId,
      modRevision: this.revision,
      sub: this.#sub++,
      tombstone: true,
      createRevision: 0,
      version: 0,
      lease: 0,
      value: EMPTY,
    };
    this.#append(head, tombstone);
    if (previous.lease !== 0) state.leases.detach(previous.lease, previous.keyId);
    this.#events.push({ type: 'delete', kv: keyValueOf(tombstone), prevKv: keyValueOf(previous) });
  }

  /** Makes the revision current when anything was written; returns the current revision. */
  commit(): number {
    if (this.changed) this.#state.revision = this.revision;
    return this.#state.revision;
  }

  #append(head: HistoryNode | undefined, record: KeyRecord): void {
    this.#state.index.set(record.keyId, { record, older: head });
    this.#state.log.set(record, undefined);
  }
}
