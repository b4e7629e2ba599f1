/**
 * The store's invariants, checked in full: the index and the revision log
 * hold the same versions, each key's history is a well-formed sequence of
 * generations, revisions only grow, compaction left what it must, and the
 * lease table agrees with the keys. O(state): for tests, after every step,
 * and after a restore.
 *
 * @module
 */
import type { HistoryNode, KeyRecord } from './key-history.ts';
import { compactHistory } from './key-history.ts';
import { keyIdOf } from './key-span.ts';
import { LEASE_TTL_SECONDS_MAX } from './limits.ts';
import type { StoreState } from './store-state.ts';

function fail(message: string): never {
  throw new Error(`Invariant: ${message}`);
}

/**
 * What is wrong with one version on its own, if anything: a delete has
 * every field zero; a put has a version and a creation revision no later
 * than itself; revisions are within `[1, revision]`.
 */
export function recordProblem(record: KeyRecord, revision: number): string | undefined {
  if (!Number.isSafeInteger(record.modRevision) || record.modRevision < 1 || record.modRevision > revision) {
    return `modRevision ${record.modRevision} is outside [1, ${revision}]`;
  }
  if (!Number.isSafeInteger(record.sub) || record.sub < 0) return `sub ${record.sub} is not an integer >= 0`;
  if (record.tombstone) {
    if (
      record.createRevision !== 0 ||
      record.version !== 0 ||
      record.lease !== 0 ||
      record.value.length !== 0
    ) {
      return `the delete at ${record.modRevision} carries a version, lease or value`;
    }
    return undefined;
  }
  if (!Number.isSafeInteger(record.version) || record.version < 1)
    return `version ${record.version} is below 1`;
  if (
    !Number.isSafeInteger(record.createRevision) ||
    record.createRevision < 1 ||
    record.createRevision > record.modRevision
  ) {
    return `createRevision ${record.createRevision} is outside [1, ${record.modRevision}]`;
  }
  if (!Number.isSafeInteger(record.lease) || record.lease < 0)
    return `lease ${record.lease} is not an integer >= 0`;
  return undefined;
}

/**
 * What is wrong with one key's history, if anything. `compacted` says the
 * compaction at `compactRevision` has freed this key already.
 */
export function historyProblem(
  keyId: string,
  head: HistoryNode,
  revision: number,
  compactRevision: number,
  compacted: boolean,
): string | undefined {
  for (let node: HistoryNode | undefined = head; node !== undefined; node = node.older) {
    const record = node.record;
    if (record.keyId !== keyId) return 'a version is filed under another key';
    const problem = recordProblem(record, revision);
    if (problem !== undefined) return problem;
    const older = node.older?.record;
    if (older === undefined) {
      // The oldest version kept: a delete would have been freed with what it deleted.
      if (record.tombstone) return 'the oldest version kept is a delete';
      // Earlier puts of its generation were freed, so it is the one a read at the compacted revision sees.
      if (record.version > 1 && record.modRevision > compactRevision) {
        return `version ${record.version} at ${record.modRevision} has lost the versions before it`;
      }
      if (record.version === 1 && record.createRevision !== record.modRevision) {
        return 'a first version does not start its generation';
      }
      continue;
    }
    if (older.modRevision >= record.modRevision) return 'revisions do not grow from older to newer';
    if (record.tombstone) {
      if (older.tombstone) return 'two deletes follow each other';
    } else if (older.tombstone) {
      if (record.version !== 1 || record.createRevision !== record.modRevision) {
        return `the put at ${record.modRevision} after a delete does not start a generation`;
      }
    } else if (record.version !== older.version + 1 || record.createRevision !== older.createRevision) {
      return `the put at ${record.modRevision} does not continue its generation`;
    }
  }
  if (compacted && compactHistory(head, compactRevision) !== undefined) {
    return `history below the compacted revision ${compactRevision} was not freed`;
  }
  return undefined;
}

/**
 * Checks every invariant of the state.
 *
 * @throws {Error} naming the first broken invariant: the state is corrupt
 * or the code is wrong; do not go on with this store.
 */
export function checkStoreInvariants(state: StoreState): void {
  const { revision, compactRevision } = state;
  if (!Number.isSafeInteger(revision) || revision < 1) fail(`revision ${revision} is below 1`);
  if (compactRevision < 0 || compactRevision > revision) {
    fail(`compactRevision ${compactRevision} is outside [0, ${revision}]`);
  }
  if (!state.compactPending && state.compactCursor !== undefined)
    fail('a compaction cursor without a compaction');

  // Versions by revision, not identity: a disk index hands out fresh records.
  const records = new Set<string>();
  let previousKeyId: string | undefined;
  for (const [keyId, head] of state.index.entries()) {
    if (previousKeyId !== undefined && keyId <= previousKeyId) fail('the index is out of order');
    previousKeyId = keyId;
    if (keyIdOf(head.record.key) !== keyId) fail('a key is filed under another key');
    const compacted =
      !state.compactPending || (state.compactCursor !== undefined && keyId < state.compactCursor);
    const problem = historyProblem(keyId, head, revision, compactRevision, compacted);
    if (problem !== undefined) fail(`key ${JSON.stringify(keyId)}: ${problem}`);
    for (let node: HistoryNode | undefined = head; node !== undefined; node = node.older)
      records.add(`${node.record.modRevision}.${node.record.sub}`);
    const live = head.record.tombstone ? undefined : head.record;
    if (live !== undefined && live.lease !== 0 && state.leases.get(live.lease)?.keys.has(keyId) !== true) {
      fail(`key ${JSON.stringify(keyId)} names lease ${live.lease}, which does not list it`);
    }
  }

  if (state.log.size !== records.size) {
    fail(`the revision log holds ${state.log.size} versions, the index ${records.size}`);
  }
  for (const [record] of state.log.entries()) {
    if (!records.has(`${record.modRevision}.${record.sub}`))
      fail(`the revision log holds a version the index does not (${record.modRevision})`);
  }

  if (state.leases.size > state.limits.leasesMax) fail('more leases than leasesMax');
  for (const lease of state.leases.sorted()) {
    if (!Number.isSafeInteger(lease.id) || lease.id < 1) fail(`lease id ${lease.id} is below 1`);
    if (lease.ttl < 1 || lease.ttl > LEASE_TTL_SECONDS_MAX) fail(`lease ${lease.id} has TTL ${lease.ttl}`);
    if (lease.remainingTtl < 0 || lease.remainingTtl > LEASE_TTL_SECONDS_MAX) {
      fail(`lease ${lease.id} has ${lease.remainingTtl} s left`);
    }
    for (const keyId of lease.keys) {
      const head = state.index.get(keyId);
      if (head === undefined || head.record.tombstone || head.record.lease !== lease.id) {
        fail(`lease ${lease.id} lists key ${JSON.stringify(keyId)}, which does not name it`);
      }
    }
  }
}
