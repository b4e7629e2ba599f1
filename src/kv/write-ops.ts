/**
 * Put and delete-range against the state: the checks that need the state
 * (leases, existing keys), then the writes. Shared by the plain requests and
 * transactions, which run every check of the branch they take before the
 * first write of it.
 *
 * @module
 */
import { InvalidArgumentError } from '../base/errors.ts';
import type { KeyRecord } from './key-history.ts';
import { copyBytes, keyIdOf, keySpanOf } from './key-span.ts';
import { keyValueOf } from './range-reader.ts';
import { describeKey } from './request-checks.ts';
import type { RevisionWriter } from './revision-writer.ts';
import { liveRecordsIn } from './span-scan.ts';
import type { StoreState } from './store-state.ts';
import type { DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse } from './types.ts';

const EMPTY = new Uint8Array(0);

/**
 * Checks a put against the state (etcd's `checkRequestPut`): the lease
 * exists; with `ignoreValue` or `ignoreLease`, the key exists.
 *
 * @throws {InvalidArgumentError} when not; `details.leaseId` names a missing lease.
 */
export function checkPutAgainstState(state: StoreState, request: PutRequest): void {
  const lease = request.lease ?? 0;
  if (lease !== 0 && state.leases.get(lease) === undefined) {
    throw new InvalidArgumentError(`Cannot put ${describeKey(request.key)}: lease ${lease} does not exist`, {
      details: { leaseId: lease, reason: 'LEASE_NOT_FOUND' },
    });
  }
  if (request.ignoreValue === true || request.ignoreLease === true) {
    const head = state.index.get(keyIdOf(request.key));
    if (head === undefined || head.record.tombstone) {
      const flag = request.ignoreValue === true ? 'ignoreValue' : 'ignoreLease';
      throw new InvalidArgumentError(
        `Cannot put ${describeKey(request.key)} with ${flag}: the key does not exist`,
        { details: { reason: 'KEY_NOT_FOUND' } },
      );
    }
  }
}

/** Runs a checked put. */
export function executePut(state: StoreState, writer: RevisionWriter, request: PutRequest): PutResponse {
  const keyId = keyIdOf(request.key);
  // The key's latest version is read here only when the put keeps some of it: the writer reads it
  // anyway, and on disk every read is a lookup and a record made (one of two per put before).
  const keeps = request.ignoreValue === true || request.ignoreLease === true;
  const current = keeps ? state.index.get(keyId)?.record : undefined;
  const existing = current === undefined || current.tombstone ? undefined : current;
  const value =
    request.ignoreValue === true
      ? (existing?.value ?? EMPTY)
      : request.value === undefined
        ? EMPTY
        : copyBytes(request.value);
  const lease = request.ignoreLease === true ? (existing?.lease ?? 0) : (request.lease ?? 0);
  const previous = writer.put(keyId, request.key, value, lease);
  if (request.prevKv === true && previous !== undefined) {
    return { revision: writer.revision, prevKv: keyValueOf(previous) };
  }
  return { revision: writer.revision };
}

/** Runs a checked delete-range; keys are deleted in byte order, one sub-revision each. */
export function executeDeleteRange(
  state: StoreState,
  writer: RevisionWriter,
  request: DeleteRangeRequest,
): DeleteRangeResponse {
  const doomed = liveRecordsIn(state.index, keySpanOf(request.key, request.rangeEnd));
  for (const record of doomed) writer.delete(record);
  return {
    // Nothing deleted: no new revision (etcd).
    revision: doomed.length > 0 ? writer.revision : writer.readRevision,
    deleted: doomed.length,
    prevKvs: request.prevKv === true ? doomed.map((record: KeyRecord) => keyValueOf(record)) : [],
  };
}
