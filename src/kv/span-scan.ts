/**
 * Walking the key index over a key span, in either direction, seeing each
 * key as of one revision.
 *
 * @module
 */
import { type HistoryNode, type KeyRecord, recordAt } from './key-history.ts';
import type { KeySpan } from './key-span.ts';
import type { KeyIndex } from './store-state.ts';

/** Called per key in the span; return `false` to stop. */
export type SpanVisitor = (keyId: string, head: HistoryNode) => boolean;

/**
 * Visits every key of the index in `span` (deleted ones too: the visitor
 * sees the whole history), ascending or descending. The visitor must not
 * change the index.
 */
export function scanSpan(index: KeyIndex, span: KeySpan, descending: boolean, visit: SpanVisitor): void {
  if (span.single) {
    const head = index.get(span.startId);
    if (head !== undefined) visit(span.startId, head);
    return;
  }
  if (span.endId !== undefined && span.endId <= span.startId) return;
  if (descending) {
    // Skip the end key itself: the span is open at its end.
    for (const [keyId, head] of index.entriesReversed(span.endId, undefined, span.endId !== undefined)) {
      if (keyId < span.startId) return;
      if (!visit(keyId, head)) return;
    }
    return;
  }
  for (const [keyId, head] of index.entries(span.startId)) {
    if (span.endId !== undefined && keyId >= span.endId) return;
    if (!visit(keyId, head)) return;
  }
}

/**
 * Visits the version of every key in `span` that exists at `revision`
 * (skipping keys deleted or not yet created then). Return `false` to stop.
 */
export function scanSpanAt(
  index: KeyIndex,
  span: KeySpan,
  revision: number,
  descending: boolean,
  visit: (record: KeyRecord) => boolean,
): void {
  scanSpan(index, span, descending, (_keyId, head) => {
    const record = recordAt(head, revision);
    return record === undefined ? true : visit(record);
  });
}

/** The versions of the keys in `span` that exist now, ascending. */
export function liveRecordsIn(index: KeyIndex, span: KeySpan): KeyRecord[] {
  const records: KeyRecord[] = [];
  scanSpan(index, span, false, (_keyId, head) => {
    if (!head.record.tombstone) records.push(head.record);
    return true;
  });
  return records;
}
