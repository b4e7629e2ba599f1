/**
 * Reading a snapshot image (see `snapshot-writer.ts`) back into a fresh
 * state, record by record, checking everything: an image arrives from
 * another member or from disk, and a bad one must be refused, never
 * half-applied to a store that is then used.
 *
 * @module
 */
import { ProtocolError } from '../base/errors.ts';
import { decode } from '../codec/msgpack.ts';
import type { HistoryNode, KeyRecord } from './key-history.ts';
import { copyBytes, keyIdOf } from './key-span.ts';
import { KEY_BYTES_MAX, LEASE_TTL_SECONDS_MAX, type MvccStoreLimits } from './limits.ts';
import { SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC } from './snapshot-writer.ts';
import { checkStoreInvariants, historyProblem, recordProblem } from './store-invariants.ts';
import { createStoreState, type StoreBackend, type StoreState } from './store-state.ts';

const EMPTY = new Uint8Array(0);

function bad(message: string): never {
  throw new ProtocolError(`Cannot restore the KV snapshot: ${message}`);
}

function integer(value: unknown, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    bad(`${what} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

function list(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) bad(`${what} must be a list`);
  return value;
}

/** A key whose versions are still arriving (a long history spans records). */
interface PendingKey {
  readonly keyId: string;
  readonly key: Uint8Array;
  readonly records: KeyRecord[];
}

/** Builds a state from snapshot records, in order. */
export class SnapshotRestorer {
  readonly #state: StoreState;
  #phase: 'header' | 'leases' | 'keys' | 'done' | 'finished' = 'header';
  #lastLeaseId = 0;
  #pending: PendingKey | undefined;
  #keys = 0;
  #versions = 0;
  readonly #checkAll: boolean;

  /**
   * @param backend an empty backend to fill (in memory by default).
   * @param checkAll check every invariant at the end (O(state)); each key,
   * lease and count is checked as it arrives either way.
   */
  constructor(limits: MvccStoreLimits, backend?: StoreBackend, checkAll = true) {
    this.#state = createStoreState(limits, backend);
    if (this.#state.revision !== 1 || this.#state.leases.size !== 0)
      bad('the backend to restore into is not empty');
    this.#checkAll = checkAll;
  }

  /**
   * Takes one record's bytes.
   *
   * @throws {ProtocolError} when it is malformed or out of place.
   */
  push(record: Uint8Array): void {
    this.pushValue(decode(record));
  }

  /**
   * Takes one decoded record.
   *
   * @throws {ProtocolError} when it is malformed or out of place.
   */
  pushValue(value: unknown): void {
    if (this.#phase === 'finished') bad('the restore is finished already');
    const record = list(value, 'a record');
    const tag = record[0];
    if (this.#phase === 'header') {
      this.#header(record);
      return;
    }
    if (this.#phase === 'done') bad('a record follows the end record');
    switch (tag) {
      case 'leases':
        if (this.#phase !== 'leases') bad('a leases record follows a keys record');
        this.#leases(record);
        return;
      case 'keys':
        this.#phase = 'keys';
        this.#keyEntries(record);
        return;
      case 'end':
        this.#end(record);
        return;
      default:
        bad(`unknown record ${JSON.stringify(String(tag)).slice(0, 40)}`);
    }
  }

  /**
   * The state, once the end record is in; checked in full.
   *
   * @throws {ProtocolError} when the image ended early or is inconsistent.
   */
  finish(): StoreState {
    if (this.#phase === 'finished') bad('the restore is finished already');
    if (this.#phase !== 'done') bad('the image ends before its end record');
    this.#phase = 'finished';
    if (!this.#checkAll) return this.#state;
    try {
      checkStoreInvariants(this.#state);
    } catch (error) {
      throw new ProtocolError(`Cannot restore the KV snapshot: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return this.#state;
  }

  #header(record: unknown[]): void {
    if (record.length !== 4 || record[0] !== SNAPSHOT_MAGIC) bad('the image does not start with a KV header');
    if (record[1] !== SNAPSHOT_FORMAT_VERSION)
      bad(`format ${String(record[1])} is not ${SNAPSHOT_FORMAT_VERSION}`);
    const revision = integer(record[2], 'the revision', 1);
    this.#state.revision = revision;
    this.#state.compactRevision = integer(record[3], 'the compacted revision', 0, revision);
    this.#phase = 'leases';
  }

  #leases(record: unknown[]): void {
    if (record.length !== 2) bad('a leases record has the wrong length');
    const state = this.#state;
    for (const item of list(record[1], 'the leases')) {
      const fields = list(item, 'a lease');
      if (fields.length !== 3) bad('a lease has the wrong length');
      const id = integer(fields[0], 'a lease id', this.#lastLeaseId + 1);
      const ttl = integer(fields[1], `lease ${id}'s TTL`, 1, LEASE_TTL_SECONDS_MAX);
      const remainingTtl = integer(fields[2], `lease ${id}'s remaining TTL`, 0, LEASE_TTL_SECONDS_MAX);
      if (state.leases.size >= state.limits.leasesMax)
        bad(`it holds more than leasesMax (${state.limits.leasesMax}) leases`);
      state.leases.grant(id, ttl, remainingTtl);
      this.#lastLeaseId = id;
    }
  }

  #keyEntries(record: unknown[]): void {
    if (record.length !== 2) bad('a keys record has the wrong length');
    const entries = list(record[1], 'the keys');
    entries.forEach((item, place) => {
      const entry = list(item, 'a key entry');
      if (entry.length !== 2) bad('a key entry has the wrong length');
      const key = entry[0];
      if (!(key instanceof Uint8Array) || key.length === 0 || key.length > KEY_BYTES_MAX) {
        bad('a key must be 1 to KEY_BYTES_MAX bytes');
      }
      const keyId = keyIdOf(key);
      const pending = this.#pending;
      // Only the first entry of a record may go on with the key before it.
      const continues = place === 0 && pending !== undefined && pending.keyId === keyId;
      if (!continues) {
        if (pending !== undefined && keyId <= pending.keyId) bad('keys are out of order or repeated');
        this.#finishKey();
        this.#pending = { keyId, key: copyBytes(key), records: [] };
      }
      const current = this.#pending as PendingKey;
      const versions = list(entry[1], 'the versions of a key');
      if (versions.length === 0) bad('a key entry has no versions');
      for (const version of versions) current.records.push(this.#version(current, version));
    });
  }

  #version(key: PendingKey, item: unknown): KeyRecord {
    const fields = list(item, 'a version');
    if (fields.length !== 6) bad('a version has the wrong length');
    const value = fields[5];
    if (value !== null && !(value instanceof Uint8Array)) bad('a value must be bytes or nil');
    const record: KeyRecord = {
      key: key.key,
      keyId: key.keyId,
      modRevision: integer(fields[0], 'a modRevision', 1),
      sub: integer(fields[1], 'a sub-revision', 0),
      createRevision: integer(fields[2], 'a createRevision', 0),
      version: integer(fields[3], 'a version', 0),
      lease: integer(fields[4], 'a lease', 0),
      tombstone: value === null,
      value: value === null ? EMPTY : copyBytes(value),
    };
    const problem = recordProblem(record, this.#state.revision);
    if (problem !== undefined) bad(problem);
    this.#versions++;
    return record;
  }

  /** Files the pending key's history, checked, into the index, the log and its lease. */
  #finishKey(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    const state = this.#state;
    let head: HistoryNode | undefined;
    for (const record of pending.records) head = { record, older: head };
    if (head === undefined) bad('a key has no versions');
    const problem = historyProblem(pending.keyId, head, state.revision, state.compactRevision, true);
    if (problem !== undefined) bad(`key ${JSON.stringify(pending.keyId).slice(0, 60)}: ${problem}`);
    state.index.set(pending.keyId, head);
    for (const record of pending.records) {
      if (!state.log.set(record, undefined, false)) {
        bad(`two versions share revision ${record.modRevision}.${record.sub}`);
      }
    }
    const live = head.record.tombstone ? undefined : head.record;
    if (live !== undefined && live.lease !== 0) {
      if (state.leases.get(live.lease) === undefined)
        bad(`a key names lease ${live.lease}, which is not in the image`);
      state.leases.attach(live.lease, pending.keyId);
    }
    this.#keys++;
  }

  #end(record: unknown[]): void {
    this.#finishKey();
    if (record.length !== 4) bad('the end record has the wrong length');
    const keys = integer(record[1], 'the key count', 0);
    const versions = integer(record[2], 'the version count', 0);
    const leases = integer(record[3], 'the lease count', 0);
    if (keys !== this.#keys || versions !== this.#versions || leases !== this.#state.leases.size) {
      bad(
        `the end record counts ${keys} keys, ${versions} versions and ${leases} leases; the image held ${this.#keys}, ${this.#versions} and ${this.#state.leases.size}`,
      );
    }
    this.#phase = 'done';
  }
}
