/**
 * Writing the store as a snapshot image: MessagePack records, each one
 * value, written back to back, so the server can stream them into its
 * snapshot store and a follower can read them back a chunk at a time.
 *
 * The records, in order:
 *
 * - `['tessera.kv', 1, revision, compactRevision]`: the header (format 1);
 * - `['leases', [[id, ttl, remainingTtl], ...]]`: leases by ascending id,
 *   at most {@link SNAPSHOT_LEASES_PER_RECORD} a record;
 * - `['keys', [[key, [version, ...]], ...]]`: keys in byte order, each with
 *   its kept versions oldest first, a version being
 *   `[modRevision, sub, createRevision, version, lease, value or nil]` (nil
 *   for a delete). A record closes once it passes
 *   {@link SNAPSHOT_RECORD_BYTES_TARGET}, so a key with a long history
 *   goes on in the next record: its first entry repeats the key;
 * - `['end', keys, versions, leases]`: the counts, so that a cut-short
 *   image is noticed.
 *
 * Only what a read at or above the compacted revision can see is written,
 * whether compaction has freed the rest yet or not: the image is a function
 * of what the store answers, the same on every member at one revision.
 *
 * @module
 */
import { encode } from '../codec/msgpack.ts';
import { type KeyRecord, recordsKeptAt } from './key-history.ts';
import { SNAPSHOT_RECORD_BYTES_TARGET } from './limits.ts';
import type { StoreState } from './store-state.ts';

/** The first element of the header record. */
export const SNAPSHOT_MAGIC = 'tessera.kv';

/** The format version written in the header. */
export const SNAPSHOT_FORMAT_VERSION = 1;

/** Most leases in one `leases` record (each is three integers: about 30 bytes). */
export const SNAPSHOT_LEASES_PER_RECORD = 10_000;

/** Bytes a version costs in a record beyond its value: six fields of at most 9 bytes, framing. */
const VERSION_OVERHEAD_BYTES = 64;

/** A version as written in a `keys` record. */
export type SnapshotVersion = [number, number, number, number, number, Uint8Array | null];

function versionOf(record: KeyRecord): SnapshotVersion {
  return [
    record.modRevision,
    record.sub,
    record.createRevision,
    record.version,
    record.lease,
    record.tombstone ? null : record.value,
  ];
}

/**
 * The records of the state as it is now. The index is cloned in O(1)
 * (copy-on-write; its histories are immutable) and the lease table copied,
 * so the store may go on changing while the records are read.
 *
 * @param recordBytesTarget the size a record closes at; smaller than the
 * default only in tests, to make many records.
 */
export function snapshotRecords(
  state: StoreState,
  recordBytesTarget = SNAPSHOT_RECORD_BYTES_TARGET,
): Generator<Uint8Array, void, undefined> {
  const index = state.index.clone();
  const { revision, compactRevision } = state;
  const leases = state.leases.copyWithoutKeys();
  return generate();

  function* generate(): Generator<Uint8Array, void, undefined> {
    try {
      yield* records();
    } finally {
      index.release?.();
    }
  }

  function* records(): Generator<Uint8Array, void, undefined> {
    yield encode([SNAPSHOT_MAGIC, SNAPSHOT_FORMAT_VERSION, revision, compactRevision]);
    for (let start = 0; start < leases.length; start += SNAPSHOT_LEASES_PER_RECORD) {
      const batch = leases.slice(start, start + SNAPSHOT_LEASES_PER_RECORD);
      yield encode(['leases', batch.map((lease) => [lease.id, lease.ttl, lease.remainingTtl])]);
    }
    let keys = 0;
    let versions = 0;
    let entries: [Uint8Array, SnapshotVersion[]][] = [];
    let bytes = 0;
    for (const [, head] of index.entries()) {
      const kept = recordsKeptAt(head, compactRevision);
      const first = kept[0];
      if (first === undefined) continue;
      keys++;
      if (bytes >= recordBytesTarget) {
        yield encode(['keys', entries]);
        entries = [];
        bytes = 0;
      }
      let entry: [Uint8Array, SnapshotVersion[]] = [first.key, []];
      entries.push(entry);
      bytes += first.key.length + VERSION_OVERHEAD_BYTES;
      for (let place = 0; place < kept.length; place++) {
        const record = kept[place] as KeyRecord;
        if (place > 0 && bytes >= recordBytesTarget) {
          // The key goes on in the next record, which repeats it.
          yield encode(['keys', entries]);
          entry = [first.key, []];
          entries = [entry];
          bytes = first.key.length + VERSION_OVERHEAD_BYTES;
        }
        entry[1].push(versionOf(record));
        versions++;
        bytes += record.value.length + VERSION_OVERHEAD_BYTES;
      }
    }
    if (entries.length > 0) yield encode(['keys', entries]);
    yield encode(['end', keys, versions, leases.length]);
  }
}
