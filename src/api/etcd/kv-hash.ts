/**
 * The hash etcd's Maintenance.HashKV answers with, for Tessera: a digest
 * of the key-value state at one revision, read a page at a time.
 *
 * etcd hashes its backend's MVCC records (CRC-32C over bbolt's bytes up to
 * the revision), which only etcd's own storage format can reproduce. What
 * the hash is for — every member holding the same data at a revision
 * answers the same number, and a member whose data differs answers
 * another — holds for this one: it covers every live key at the revision
 * with its value, create and mod revisions, version and lease, in key
 * order, which Raft makes identical on every member. It does not depend on
 * how far each member has freed compacted history.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { InternalError } from '../../base/errors.ts';
import type { KeyValue, RangeRequest, RangeResponse } from '../../kv/types.ts';

/** Keys read per page while hashing; between pages the event loop runs. */
export const HASH_PAGE_KEYS = 1000;

/** The first key there can be (keys are not empty), and, as a range end, "every key after". */
const ALL_KEYS = new Uint8Array([0]);

/** Adds one key-value to `hash`: lengths before bytes, so no two different states feed it the same bytes. */
function hashKeyValue(hash: ReturnType<typeof createHash>, kv: KeyValue): void {
  const fixed = Buffer.alloc(4 + 4 + 8 * 4);
  fixed.writeUInt32BE(kv.key.length, 0);
  fixed.writeUInt32BE(kv.value.length, 4);
  fixed.writeBigUInt64BE(BigInt(kv.createRevision), 8);
  fixed.writeBigUInt64BE(BigInt(kv.modRevision), 16);
  fixed.writeBigUInt64BE(BigInt(kv.version), 24);
  fixed.writeBigUInt64BE(BigInt(kv.lease), 32);
  hash.update(fixed);
  hash.update(kv.key);
  hash.update(kv.value);
}

/** The key right after `key` in byte order: `key` and a zero byte. */
function keyAfter(key: Uint8Array): Uint8Array {
  const next = new Uint8Array(key.length + 1);
  next.set(key);
  return next;
}

/**
 * A uint32 digest (the first 4 bytes of a SHA-256) of every key at
 * `revision`, read through `read` (a serializable range on this member)
 * {@link HASH_PAGE_KEYS} keys at a time.
 *
 * @param revision a revision this member has applied (not 0: the caller picks the current one).
 * @throws {RangeError} when `revision` is not a positive integer.
 * @throws the range's errors: `COMPACTED` when `revision` is (or becomes) compacted,
 * `FUTURE_REVISION` when this member has not reached it.
 * @example
 * ```ts
 * const hash = await hashKvAt((request) => node.range(request, true).then((r) => r.response), 42);
 * ```
 */
export async function hashKvAt(
  read: (request: RangeRequest) => Promise<RangeResponse>,
  revision: number,
): Promise<number> {
  if (!Number.isSafeInteger(revision) || revision < 1) {
    throw new RangeError(`Cannot hash the store at revision ${revision}: expected an integer >= 1`);
  }
  const hash = createHash('sha256');
  let key: Uint8Array = ALL_KEYS;
  for (;;) {
    const page = await read({ key, rangeEnd: ALL_KEYS, revision, limit: HASH_PAGE_KEYS });
    for (const kv of page.kvs) hashKeyValue(hash, kv);
    const last = page.kvs.at(-1);
    if (!page.more) break;
    // A page that says there is more but holds nothing would loop forever.
    if (last === undefined)
      throw new InternalError(`Invariant: a range page at ${revision} is empty but has more`);
    key = keyAfter(last.key);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return hash.digest().readUInt32BE(0);
}
