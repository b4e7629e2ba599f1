/**
 * Evaluating a transaction's compares (etcd's `applyCompare` and
 * `compareKV`).
 *
 * @module
 */
import type { KeyRecord } from './key-history.ts';
import { compareBytes, keySpanOf } from './key-span.ts';
import { scanSpanAt } from './span-scan.ts';
import type { KeyIndex } from './store-state.ts';
import type { Compare } from './types.ts';

function relationHolds(compare: Compare, difference: number): boolean {
  switch (compare.result) {
    case 'equal':
      return difference === 0;
    case 'notEqual':
      return difference !== 0;
    case 'less':
      return difference < 0;
    case 'greater':
      return difference > 0;
  }
}

/** A missing key compares as a version with every number zero. */
function difference(compare: Compare, record: KeyRecord | undefined): number {
  switch (compare.target) {
    case 'value':
      return compareBytes(record?.value ?? new Uint8Array(0), compare.value);
    case 'version':
      return (record?.version ?? 0) - compare.version;
    case 'createRevision':
      return (record?.createRevision ?? 0) - compare.createRevision;
    case 'modRevision':
      return (record?.modRevision ?? 0) - compare.modRevision;
    case 'lease':
      return (record?.lease ?? 0) - compare.lease;
  }
}

/**
 * Whether a compare holds at `revision`: for every key of its span that
 * exists then (etcd: all must pass). When none exists, a `value` compare
 * fails (etcd: "no way to represent a missing value") and any other compares
 * a zero version.
 */
export function compareHolds(index: KeyIndex, compare: Compare, revision: number): boolean {
  let found = false;
  let holds = true;
  scanSpanAt(index, keySpanOf(compare.key, compare.rangeEnd), revision, false, (record) => {
    found = true;
    holds = relationHolds(compare, difference(compare, record));
    return holds;
  });
  if (found) return holds;
  if (compare.target === 'value') return false;
  return relationHolds(compare, difference(compare, undefined));
}
