/**
 * Answering a range read (etcd's `Range` in `etcdserver/apply`, over
 * `mvcc.rangeKeys`): count, filter, sort and page the keys of a span as of
 * one revision.
 *
 * Memory stays bounded by the page, not the span: results are streamed in
 * key order when the order is by key; for any other order the best page is
 * kept in a bounded ordered tree while the span is walked (top-k), where
 * etcd would sort the whole span.
 *
 * @module
 */
import type { KeyRecord } from './key-history.ts';
import { compareBytes, keySpanOf } from './key-span.ts';
import type { MvccStoreLimits } from './limits.ts';
import { scanSpanAt } from './span-scan.ts';
import { BTree, type KeyIndex } from './store-state.ts';
import type { KeyValue, RangeRequest, RangeResponse, SortTarget } from './types.ts';

const EMPTY = new Uint8Array(0);

/** Bytes a key-value costs in a reply beyond its key and value (revisions, lease, framing). */
export const KEY_VALUE_OVERHEAD_BYTES = 48;

/** The public view of a stored version. */
export function keyValueOf(record: KeyRecord, keysOnly = false): KeyValue {
  return {
    key: record.key,
    value: keysOnly ? EMPTY : record.value,
    createRevision: record.createRevision,
    modRevision: record.modRevision,
    version: record.version,
    lease: record.lease,
  };
}

function compareTarget(target: SortTarget, a: KeyRecord, b: KeyRecord): number {
  switch (target) {
    case 'key':
      return 0;
    case 'version':
      return a.version - b.version;
    case 'create':
      return a.createRevision - b.createRevision;
    case 'mod':
      return a.modRevision - b.modRevision;
    case 'value':
      return compareBytes(a.value, b.value);
  }
}

function compareKeyIds(a: KeyRecord, b: KeyRecord): number {
  return a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0;
}

/**
 * etcd's effective order: a target other than `key` with order `none` sorts
 * ascending; `key` ascending is the natural order, so no sort.
 */
function effectiveOrder(request: RangeRequest): { target: SortTarget; order: 'none' | 'ascend' | 'descend' } {
  const target = request.sortTarget ?? 'key';
  const order = request.sortOrder ?? 'none';
  if (target !== 'key' && order === 'none') return { target, order: 'ascend' };
  if (target === 'key' && order === 'ascend') return { target, order: 'none' };
  return { target, order };
}

/** Whether the min/max revision filters keep a version (etcd's `pruneKVs`, 0 = no bound). */
function passesFilters(request: RangeRequest, record: KeyRecord): boolean {
  const { minModRevision = 0, maxModRevision = 0, minCreateRevision = 0, maxCreateRevision = 0 } = request;
  if (maxModRevision !== 0 && record.modRevision > maxModRevision) return false;
  if (minModRevision !== 0 && record.modRevision < minModRevision) return false;
  if (maxCreateRevision !== 0 && record.createRevision > maxCreateRevision) return false;
  if (minCreateRevision !== 0 && record.createRevision < minCreateRevision) return false;
  return true;
}

/**
 * Reads a checked request at `readRevision`.
 *
 * `count` counts every key of the span at that revision (before filters and
 * limits, as etcd). The reply holds at most `min(limit, rangeKeysPerPageMax)`
 * keys and about `rangeReplyBytesMax` bytes (always one key at least);
 * `more` says keys passing the filters were left out. Ties of a non-key
 * order are broken by key, ascending for `ascend`; `descend` is the exact
 * reverse (etcd leaves ties to an unstable sort).
 *
 * @param headerRevision the store's current revision, reported in the reply.
 */
export function readRange(
  index: KeyIndex,
  request: RangeRequest,
  readRevision: number,
  headerRevision: number,
  limits: MvccStoreLimits,
): RangeResponse {
  const span = keySpanOf(request.key, request.rangeEnd);
  const { target, order } = effectiveOrder(request);
  const limit = request.limit ?? 0;
  const pageMax = limit > 0 ? Math.min(limit, limits.rangeKeysPerPageMax) : limits.rangeKeysPerPageMax;
  const keysOnly = request.keysOnly === true;
  let count = 0;
  let matched = 0;

  if (request.countOnly === true) {
    scanSpanAt(index, span, readRevision, false, () => {
      count++;
      return true;
    });
    return { revision: headerRevision, kvs: [], more: false, count };
  }

  let page: KeyRecord[];
  if (order === 'none' || target === 'key') {
    // Streaming: the span's own order is the reply's.
    page = [];
    scanSpanAt(index, span, readRevision, order === 'descend', (record) => {
      count++;
      if (!passesFilters(request, record)) return true;
      matched++;
      if (page.length < pageMax) page.push(record);
      return true;
    });
  } else {
    const sign = order === 'descend' ? -1 : 1;
    const best: BTree<KeyRecord, undefined> = new BTree<KeyRecord, undefined>(
      undefined,
      (a, b) => sign * (compareTarget(target, a, b) || compareKeyIds(a, b)),
    );
    scanSpanAt(index, span, readRevision, false, (record) => {
      count++;
      if (!passesFilters(request, record)) return true;
      matched++;
      best.set(record, undefined);
      if (best.size > pageMax) best.delete(best.maxKey() as KeyRecord);
      return true;
    });
    page = best.keysArray();
  }

  const kvs: KeyValue[] = [];
  let bytes = 0;
  for (const record of page) {
    bytes += record.key.length + (keysOnly ? 0 : record.value.length) + KEY_VALUE_OVERHEAD_BYTES;
    if (bytes > limits.rangeReplyBytesMax && kvs.length > 0) break;
    kvs.push(keyValueOf(record, keysOnly));
  }
  return { revision: headerRevision, kvs, more: matched > kvs.length, count };
}
