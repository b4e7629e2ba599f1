/**
 * The lease requests against the state: grant, revoke (deleting the keys
 * attached, in one revision), keep-alive, checkpoint, and what is recorded of a lease.
 *
 * @module
 */
import { InvalidArgumentError, LimitExceededError } from '../base/errors.ts';
import { keyOfId } from './key-span.ts';
import type { Lease, LeaseTable } from './lease-table.ts';
import { LEASE_CHECKPOINTS_MAX, LEASE_KEEPALIVES_MAX, LEASE_TTL_SECONDS_MAX } from './limits.ts';
import { checkNonNegative } from './request-checks.ts';
import { RevisionWriter } from './revision-writer.ts';
import type { StoreState } from './store-state.ts';
import type {
  LeaseCheckpointRequest,
  LeaseCheckpointResponse,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseInfo,
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  LeaseKeepAlivesRequest,
  LeaseKeepAlivesResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  WriteResult,
} from './types.ts';

/**
 * Creates a lease (etcd `LeaseGrant`); a TTL below the minimum is raised to it.
 *
 * @throws {InvalidArgumentError} when the id is not a positive integer or
 * is in use, or the TTL is negative, fractional or above {@link LEASE_TTL_SECONDS_MAX}.
 * @throws {LimitExceededError} when `leasesMax` leases exist.
 */
export function grantLease(state: StoreState, request: LeaseGrantRequest): LeaseGrantResponse {
  checkLeaseId('grant lease', request.id);
  if (!Number.isSafeInteger(request.ttl) || request.ttl < 0 || request.ttl > LEASE_TTL_SECONDS_MAX) {
    throw new InvalidArgumentError(
      `Cannot grant lease ${request.id}: the TTL must be an integer number of seconds in [0, ${LEASE_TTL_SECONDS_MAX}], got ${request.ttl}`,
    );
  }
  if (state.leases.get(request.id) !== undefined) {
    throw new InvalidArgumentError(`Cannot grant lease ${request.id}: it exists`, {
      details: { leaseId: request.id, reason: 'LEASE_EXISTS' },
    });
  }
  if (state.leases.size >= state.limits.leasesMax) {
    throw new LimitExceededError(
      `Cannot grant lease ${request.id}: ${state.leases.size} leases exist, the most allowed (leasesMax)`,
      { details: { limit: state.limits.leasesMax } },
    );
  }
  const ttl = Math.max(request.ttl, state.limits.leaseTtlSecondsMin);
  state.leases.grant(request.id, ttl);
  return { revision: state.revision, id: request.id, ttl };
}

/**
 * Ends a lease and deletes its keys, in byte order, all in one revision
 * (etcd `LeaseRevoke`; no new revision when it had none).
 *
 * @throws {InvalidArgumentError} when the lease does not exist (`details.leaseId`).
 */
export function revokeLease(
  state: StoreState,
  request: LeaseRevokeRequest,
): WriteResult<LeaseRevokeResponse> {
  checkLeaseId('revoke lease', request.id);
  const lease = requireLease(state.leases, request.id, 'revoke lease');
  const writer = new RevisionWriter(state);
  const keyIds = [...lease.keys].sort();
  for (const keyId of keyIds) {
    const record = state.index.get(keyId)?.record;
    if (record === undefined || record.tombstone) throw new Error('Invariant: a lease lists a missing key');
    writer.delete(record);
  }
  state.leases.remove(request.id);
  const revision = writer.commit();
  return { response: { revision, deleted: keyIds.length }, events: writer.events };
}

/**
 * Records how long leases have left (etcd `LeaseCheckpoint`); a lease that
 * no longer exists is skipped.
 *
 * @throws {InvalidArgumentError} on a bad id or TTL.
 * @throws {LimitExceededError} past {@link LEASE_CHECKPOINTS_MAX} checkpoints.
 */
export function checkpointLeases(
  state: StoreState,
  request: LeaseCheckpointRequest,
): LeaseCheckpointResponse {
  const checkpoints = request.checkpoints;
  if (!Array.isArray(checkpoints))
    throw new InvalidArgumentError('Cannot checkpoint leases: checkpoints must be a list');
  if (checkpoints.length > LEASE_CHECKPOINTS_MAX) {
    throw new LimitExceededError(
      `Cannot checkpoint leases: ${checkpoints.length} checkpoints, more than LEASE_CHECKPOINTS_MAX (${LEASE_CHECKPOINTS_MAX})`,
      { details: { limit: LEASE_CHECKPOINTS_MAX } },
    );
  }
  for (const { id, remainingTtl } of checkpoints) {
    checkLeaseId('checkpoint lease', id);
    checkNonNegative(`checkpoint lease ${id}`, 'remainingTtl', remainingTtl);
    if (remainingTtl > LEASE_TTL_SECONDS_MAX) {
      throw new InvalidArgumentError(
        `Cannot checkpoint lease ${id}: remainingTtl ${remainingTtl} is above the maximum TTL`,
      );
    }
  }
  for (const { id, remainingTtl } of checkpoints) {
    state.leases.checkpoint(id, remainingTtl);
  }
  return { revision: state.revision };
}

/**
 * Renews a lease through the log: its remaining TTL is checkpointed at its
 * full TTL.
 *
 * @throws {InvalidArgumentError} when the lease does not exist (`details.reason` `LEASE_NOT_FOUND`).
 */
export function keepAliveLease(state: StoreState, request: LeaseKeepAliveRequest): LeaseKeepAliveResponse {
  const { id } = request;
  checkLeaseId('keep lease alive', id);
  const lease = requireLease(state.leases, id, 'keep alive lease');
  state.leases.checkpoint(id, lease.ttl);
  return { revision: state.revision, id, ttl: lease.ttl };
}

/**
 * Renews many leases through the log, each as {@link keepAliveLease} does;
 * a lease that does not exist gets -1 and changes nothing.
 *
 * @throws {InvalidArgumentError} when `ids` is empty or holds an id that is
 * not a positive integer, or {LimitExceededError} past {@link LEASE_KEEPALIVES_MAX}
 * ids: then no lease is renewed.
 */
export function keepAliveLeases(state: StoreState, request: LeaseKeepAlivesRequest): LeaseKeepAlivesResponse {
  const { ids } = request;
  if (!Array.isArray(ids) || ids.length === 0) {
    throw new InvalidArgumentError('Cannot keep leases alive: ids must be a list of at least one id');
  }
  if (ids.length > LEASE_KEEPALIVES_MAX) {
    throw new LimitExceededError(
      `Cannot keep leases alive: ${ids.length} ids, more than LEASE_KEEPALIVES_MAX (${LEASE_KEEPALIVES_MAX})`,
      { details: { limit: LEASE_KEEPALIVES_MAX } },
    );
  }
  for (const id of ids) checkLeaseId('keep lease alive', id);
  const ttls = ids.map((id) => {
    const lease = state.leases.get(id);
    if (lease === undefined) return -1;
    state.leases.checkpoint(id, lease.ttl);
    return lease.ttl;
  });
  return { revision: state.revision, ttls };
}

/**
 * The error a keep-alive of lease `id` fails with when the lease does not
 * exist (`details.reason` `LEASE_NOT_FOUND`, which the front doors map to
 * etcd's "requested lease not found").
 */
export function leaseNotFoundError(id: number, action: string): InvalidArgumentError {
  return new InvalidArgumentError(`Cannot ${action} ${id}: it does not exist`, {
    details: { leaseId: id, reason: 'LEASE_NOT_FOUND' },
  });
}

/**
 * What the store records of a lease (etcd `LeaseTimeToLive` with keys), or
 * undefined when it does not exist.
 *
 * @throws {InvalidArgumentError} when the id is not a positive integer.
 */
export function leaseInfo(state: StoreState, id: number): LeaseInfo | undefined {
  checkLeaseId('read lease', id);
  const lease = state.leases.get(id);
  if (lease === undefined) return undefined;
  return {
    id,
    grantedTtl: lease.ttl,
    remainingTtl: lease.remainingTtl,
    keys: [...lease.keys].sort().map(keyOfId),
  };
}

function checkLeaseId(action: string, id: number): void {
  if (!Number.isSafeInteger(id) || id < 1) {
    throw new InvalidArgumentError(`Cannot ${action}: the lease id must be an integer >= 1, got ${id}`);
  }
}

function requireLease(leases: LeaseTable, id: number, action: string): Lease {
  const lease = leases.get(id);
  if (lease === undefined) throw leaseNotFoundError(id, action);
  return lease;
}
