/**
 * One key's history: every version of it the store still keeps, newest
 * first, as an immutable linked list.
 *
 * Immutable so that a snapshot can hold the whole index at one revision for
 * free: the index is a copy-on-write B+ tree (`sorted-btree`'s O(1)
 * `clone()`), and its values, these lists, are never changed in place. A
 * write prepends a node (O(1), sharing the older ones); compaction builds a
 * new list (copying only the versions newer than the compaction point).
 * Reading the latest version is O(1); reading at a past revision walks back
 * through the versions after it.
 *
 * This plays the part of etcd's `keyIndex` (generations of revisions) and,
 * with the values inline, of its revision-keyed backend: a generation here
 * is the run of puts between two tombstones.
 *
 * @module
 */

/**
 * One version of a key: a put or a delete (tombstone), at revision
 * `{modRevision, sub}` (etcd's `{main, sub}`: `sub` orders the changes of
 * one revision). Immutable, shared by the index and the revision log.
 */
export interface KeyRecord {
  /** The key's bytes (owned by the store). */
  readonly key: Uint8Array;
  /** The key's index form (see `keyIdOf`). */
  readonly keyId: string;
  /** The revision of this change (etcd's `main`). */
  readonly modRevision: number;
  /** The change's place within its revision, from 0. */
  readonly sub: number;
  /** A delete: every field below is zero or empty. */
  readonly tombstone: boolean;
  /** The revision of the put that started this generation. */
  readonly createRevision: number;
  /** Puts in this generation up to and including this one. */
  readonly version: number;
  /** The lease, 0 for none. */
  readonly lease: number;
  /** The value (owned by the store). */
  readonly value: Uint8Array;
}

/** A node of a key's history list; `older` is the previous version still kept. */
export interface HistoryNode {
  readonly record: KeyRecord;
  readonly older: HistoryNode | undefined;
}

/**
 * The version of a key visible at `revision`: the newest change at or
 * before it, when that is a put.
 */
export function recordAt(head: HistoryNode | undefined, revision: number): KeyRecord | undefined {
  for (let node = head; node !== undefined; node = node.older) {
    if (node.record.modRevision <= revision) return node.record.tombstone ? undefined : node.record;
  }
  return undefined;
}

/** The latest version of a key, when it exists now (not deleted). */
export function liveRecord(head: HistoryNode | undefined): KeyRecord | undefined {
  return head === undefined || head.record.tombstone ? undefined : head.record;
}

/** What compacting one key's history leaves and frees. */
export interface CompactedHistory {
  /** The history left; undefined when the key has nothing left to read. */
  readonly head: HistoryNode | undefined;
  /** The versions freed, for the revision log to drop. */
  readonly freed: readonly KeyRecord[];
}

/**
 * Compacts a key's history at `revision` (etcd's `keyIndex.compact`): keeps
 * every version after it and the one version a read at `revision` sees,
 * unless that is a delete, which is dropped with everything before it.
 * Returns `undefined` when nothing changes, so a caller need not rewrite.
 */
export function compactHistory(head: HistoryNode, revision: number): CompactedHistory | undefined {
  const newer: KeyRecord[] = [];
  let node: HistoryNode | undefined = head;
  while (node !== undefined && node.record.modRevision > revision) {
    newer.push(node.record);
    node = node.older;
  }
  if (node === undefined) return undefined;
  // `node` holds the version a read at `revision` sees.
  if (!node.record.tombstone && node.older === undefined) return undefined;
  const freed: KeyRecord[] = [];
  let kept: HistoryNode | undefined;
  if (node.record.tombstone) {
    for (let dropped: HistoryNode | undefined = node; dropped !== undefined; dropped = dropped.older) {
      freed.push(dropped.record);
    }
  } else {
    kept = { record: node.record, older: undefined };
    for (let dropped = node.older; dropped !== undefined; dropped = dropped.older) freed.push(dropped.record);
  }
  for (let i = newer.length - 1; i >= 0; i--) kept = { record: newer[i] as KeyRecord, older: kept };
  return { head: kept, freed };
}

/** The versions of a history a compaction at `revision` would keep, oldest first. */
export function recordsKeptAt(head: HistoryNode, revision: number): KeyRecord[] {
  const compacted = compactHistory(head, revision);
  const kept: KeyRecord[] = [];
  for (let node = compacted === undefined ? head : compacted.head; node !== undefined; node = node.older) {
    kept.push(node.record);
  }
  return kept.reverse();
}
