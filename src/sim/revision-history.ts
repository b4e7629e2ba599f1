/**
 * The store's committed history, revision by revision, as the members
 * applied it: what each revision changed. Every member applies the same
 * committed log, so the first member to apply a revision fixes it (the
 * watch checker holds every other member to the same changes). From it the
 * state of any key, or of any prefix, at any revision is known, compaction
 * or not: that is what the revision checker holds each answer to.
 *
 * @module
 */
import type { Event } from '../kv/types.ts';
import { type KvView, kvViewOf } from './kv-range-txn.ts';

const decoder = new TextDecoder();

/** One key's change at a revision: its new version, or undefined for a delete. */
export interface KeyChange {
  readonly key: string;
  readonly kv: KvView | undefined;
}

/** A key's versions, ascending by revision. */
interface KeyVersion {
  readonly revision: number;
  readonly kv: KvView | undefined;
}

/** The committed revisions of one run. */
export class RevisionHistory {
  /** Invariant: each list ascends by revision; every revision after the initial one up to latest is in #changes. */
  readonly #versions = new Map<string, KeyVersion[]>();
  readonly #changes = new Map<number, readonly KeyChange[]>();
  #latest: number;

  /** @param initialRevision the revision of the empty store (etcd's, and `MvccStore`'s, is 1). */
  constructor(initialRevision: number) {
    this.#latest = initialRevision;
  }

  /** The last revision recorded: the newest any member has applied. */
  get latest(): number {
    return this.#latest;
  }

  /**
   * Records what `revision` changed, unless it is already known.
   *
   * @returns a violation when `revision` leaves a gap after the latest one.
   */
  record(revision: number, events: readonly Event[]): string | undefined {
    if (revision <= this.#latest) return undefined;
    if (revision !== this.#latest + 1) {
      return `revision history: revision ${revision} applied before revision ${this.#latest + 1} was`;
    }
    const changes = events.map(
      (event): KeyChange => ({
        key: decoder.decode(event.kv.key),
        kv: event.type === 'put' ? kvViewOf(event.kv) : undefined,
      }),
    );
    for (const { key, kv } of changes) {
      const versions = this.#versions.get(key);
      if (versions === undefined) this.#versions.set(key, [{ revision, kv }]);
      else versions.push({ revision, kv });
    }
    this.#changes.set(revision, changes);
    this.#latest = revision;
    return undefined;
  }

  /** What `revision` changed, in the order the store reported it (empty when unknown). */
  changesAt(revision: number): readonly KeyChange[] {
    return this.#changes.get(revision) ?? [];
  }

  /** `key` as it was at `revision` (undefined: absent). */
  keyAt(key: string, revision: number): KvView | undefined {
    const versions = this.#versions.get(key);
    if (versions === undefined) return undefined;
    // The last version at or below `revision`, by binary search.
    let low = 0;
    let high = versions.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (versions[middle]!.revision <= revision) low = middle + 1;
      else high = middle;
    }
    return low === 0 ? undefined : versions[low - 1]!.kv;
  }

  /**
   * Every key under `prefix` present at `revision`, in key order (the
   * simulator's keys are ASCII, so string order is byte order).
   */
  rangeAt(prefix: string, revision: number): KvView[] {
    const kvs: KvView[] = [];
    for (const key of this.#versions.keys()) {
      if (!key.startsWith(prefix)) continue;
      const kv = this.keyAt(key, revision);
      if (kv !== undefined) kvs.push(kv);
    }
    return kvs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
