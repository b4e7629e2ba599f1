/**
 * Compaction in bounded steps, so that it never holds up writes for long.
 *
 * `startCompaction` only records the revision: from then on reads below it
 * fail and snapshots leave its garbage out, at once. The history it makes
 * unreachable is freed by `compactionStep`, a bounded number of keys at a
 * time, walking the index in key order from a cursor; the driver calls it
 * between applies (etcd frees in batches of `CompactionBatchLimit` keys
 * with a pause between them, for the same reason).
 *
 * Freeing is invisible: every read at or above the compacted revision sees
 * the same versions before and after a key is compacted. So members may
 * free at their own pace and still agree on every answer, and steps need
 * not go through the Raft log.
 *
 * @module
 */
import { CompactedError, InvalidArgumentError } from '../base/errors.ts';
import { compactHistory, type HistoryNode } from './key-history.ts';
import type { StoreState } from './store-state.ts';

/**
 * Records a compaction at `revision` (checked by the caller: an integer).
 * A compaction still freeing restarts from the first key at the new
 * revision, which frees all the old one would have.
 *
 * @throws {CompactedError} when `revision` is not above the compacted
 * revision (etcd's `ErrCompacted`); `details.compactRevision` names it.
 * @throws {InvalidArgumentError} when it is above the current revision
 * (etcd's `ErrFutureRev`).
 */
export function startCompaction(state: StoreState, revision: number): void {
  if (revision <= state.compactRevision) {
    throw new CompactedError(
      `Cannot compact at revision ${revision}: the store is already compacted at ${state.compactRevision}`,
      { details: { revision, compactRevision: state.compactRevision } },
    );
  }
  if (revision > state.revision) {
    throw new InvalidArgumentError(
      `Cannot compact at revision ${revision}: the current revision is ${state.revision}`,
      { details: { revision, currentRevision: state.revision, reason: 'FUTURE_REVISION' } },
    );
  }
  state.compactRevision = revision;
  state.compactPending = true;
  state.compactCursor = undefined;
}

/**
 * Frees the history of up to `keysMax` keys. The work is bounded by those
 * keys and their versions.
 *
 * @returns true when the compaction is done (or none was under way).
 */
export function compactionStep(state: StoreState, keysMax: number): boolean {
  if (!state.compactPending) return true;
  const batch: [string, HistoryNode][] = [];
  // Collect first: the index must not change under its iterator.
  for (const entry of state.index.entries(state.compactCursor)) {
    if (batch.length === keysMax) break;
    batch.push([entry[0], entry[1]]);
  }
  for (const [keyId, head] of batch) {
    if (state.index.compactKey !== undefined) {
      for (const record of state.index.compactKey(keyId, head, state.compactRevision))
        state.log.delete(record);
      continue;
    }
    const compacted = compactHistory(head, state.compactRevision);
    if (compacted === undefined) continue;
    if (compacted.head === undefined) state.index.delete(keyId);
    else state.index.set(keyId, compacted.head);
    for (const record of compacted.freed) state.log.delete(record);
  }
  const last = batch.at(-1);
  const next = batch.length < keysMax || last === undefined ? undefined : state.index.nextHigherKey(last[0]);
  if (next === undefined) {
    state.compactPending = false;
    state.compactCursor = undefined;
    return true;
  }
  state.compactCursor = next;
  return false;
}
