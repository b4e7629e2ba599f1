/**
 * Tessera's typed errors as etcd's gRPC errors: the status code and the
 * exact message text etcd sends (its `api/v3rpc/rpctypes/error.go`),
 * because etcd clients branch on both: the Go client turns known messages
 * back into `rpctypes` errors, the `etcd3` npm client into typed classes
 * (`EtcdLeaseInvalidError` from "etcdserver: requested lease not found"),
 * and every client retries by code (`UNAVAILABLE` is safe to retry).
 *
 * One table, {@link ETCD_STATUS_BY_REASON}, for conditions etcd names
 * (found by the error's `details.reason`), and one, {@link ETCD_STATUS_BY_CODE},
 * for the rest by Tessera code; an entry without a message keeps Tessera's.
 *
 * @module
 */
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { type ErrorCode, NotLeaderError, RemoteError, TesseraError } from '../../base/errors.ts';

/** A gRPC status code and, when etcd has one, its message for the condition. */
export interface EtcdStatus {
  readonly code: status;
  readonly message?: string;
}

/**
 * Conditions etcd has its own error for, by the `details.reason` Tessera
 * puts on the error (`NO_LEADER` also stands for a `NOT_LEADER` that names
 * no leader).
 */
export const ETCD_STATUS_BY_REASON: Readonly<Record<string, EtcdStatus>> = {
  EMPTY_KEY: { code: status.INVALID_ARGUMENT, message: 'etcdserver: key is not provided' },
  KEY_NOT_FOUND: { code: status.INVALID_ARGUMENT, message: 'etcdserver: key not found' },
  VALUE_PROVIDED: { code: status.INVALID_ARGUMENT, message: 'etcdserver: value is provided' },
  LEASE_PROVIDED: { code: status.INVALID_ARGUMENT, message: 'etcdserver: lease is provided' },
  TOO_MANY_OPS: { code: status.INVALID_ARGUMENT, message: 'etcdserver: too many operations in txn request' },
  DUPLICATE_KEY: { code: status.INVALID_ARGUMENT, message: 'etcdserver: duplicate key given in txn request' },
  FUTURE_REVISION: {
    code: status.OUT_OF_RANGE,
    message: 'etcdserver: mvcc: required revision is a future revision',
  },
  LEASE_NOT_FOUND: { code: status.NOT_FOUND, message: 'etcdserver: requested lease not found' },
  // etcd's lessor answers a renewal of an expired lease as a missing one.
  LEASE_EXPIRED: { code: status.NOT_FOUND, message: 'etcdserver: requested lease not found' },
  LEASE_EXISTS: { code: status.FAILED_PRECONDITION, message: 'etcdserver: lease already exists' },
  LEASE_TTL_TOO_LARGE: { code: status.OUT_OF_RANGE, message: 'etcdserver: too large lease TTL' },
  NO_LEADER: { code: status.UNAVAILABLE, message: 'etcdserver: no leader' },
  LEADER_FAILED: {
    code: status.UNAVAILABLE,
    message: 'etcdserver: request timed out, possibly due to previous leader failure',
  },
  MEMBER_EXISTS: { code: status.FAILED_PRECONDITION, message: 'etcdserver: member ID already exist' },
  PEER_URL_EXISTS: { code: status.FAILED_PRECONDITION, message: 'etcdserver: Peer URLs already exists' },
  MEMBER_BAD_URLS: { code: status.INVALID_ARGUMENT, message: 'etcdserver: given member URLs are invalid' },
  MEMBER_NOT_FOUND: { code: status.NOT_FOUND, message: 'etcdserver: member not found' },
  MEMBER_NOT_LEARNER: {
    code: status.FAILED_PRECONDITION,
    message: 'etcdserver: can only promote a learner member',
  },
  LEARNER_NOT_READY: {
    code: status.FAILED_PRECONDITION,
    message: 'etcdserver: can only promote a learner member which is in sync with leader',
  },
  BAD_LEADER_TRANSFEREE: { code: status.FAILED_PRECONDITION, message: 'etcdserver: bad leader transferee' },
  AUTH_NOT_ENABLED: {
    code: status.FAILED_PRECONDITION,
    message: 'etcdserver: authentication is not enabled',
  },
};

/**
 * Every Tessera code. Those that may have had an effect (`CONNECTION_LOST`,
 * `OUTCOME_UNKNOWN`) or certainly had none (`PROPOSAL_DROPPED`, a
 * `NOT_LEADER` past forwarding: the leadership moved) are `UNAVAILABLE`
 * with etcd's text for the same situation, so clients retry as they would
 * against etcd. Limits a request breaks whatever the state
 * (`LIMIT_EXCEEDED`, a key past `KEY_BYTES_MAX`) are `INVALID_ARGUMENT`:
 * retrying cannot help.
 */
export const ETCD_STATUS_BY_CODE: Readonly<Record<ErrorCode, EtcdStatus>> = {
  INVALID_ARGUMENT: { code: status.INVALID_ARGUMENT },
  LIMIT_EXCEEDED: { code: status.INVALID_ARGUMENT },
  PROTOCOL: { code: status.INVALID_ARGUMENT },
  TOO_LARGE: { code: status.INVALID_ARGUMENT, message: 'etcdserver: request is too large' },
  COMPACTED: { code: status.OUT_OF_RANGE, message: 'etcdserver: mvcc: required revision has been compacted' },
  NO_SPACE: { code: status.RESOURCE_EXHAUSTED, message: 'etcdserver: mvcc: database space exceeded' },
  NOT_LEADER: { code: status.UNAVAILABLE, message: 'etcdserver: leader changed' },
  PROPOSAL_DROPPED: { code: status.UNAVAILABLE, message: 'etcdserver: leader changed' },
  DEADLINE_EXCEEDED: { code: status.UNAVAILABLE, message: 'etcdserver: request timed out' },
  CONNECTION_LOST: {
    code: status.UNAVAILABLE,
    message: 'etcdserver: request timed out, possibly due to connection lost',
  },
  OUTCOME_UNKNOWN: {
    code: status.UNAVAILABLE,
    message: 'etcdserver: request timed out, possibly due to connection lost',
  },
  UNAVAILABLE: { code: status.UNAVAILABLE },
  CANCELLED: { code: status.CANCELLED },
  UNKNOWN_METHOD: { code: status.UNIMPLEMENTED },
  FENCED: { code: status.FAILED_PRECONDITION },
  SESSION_EXPIRED: { code: status.FAILED_PRECONDITION },
  // etcd's election service passes its client library's errors on as they are (gRPC code UNKNOWN).
  ELECTION_NOT_LEADER: { code: status.UNKNOWN, message: 'election: not leader' },
  ELECTION_NO_LEADER: { code: status.UNKNOWN, message: 'election: no leader' },
  FAILED_PRECONDITION: { code: status.FAILED_PRECONDITION },
  CORRUPT: { code: status.DATA_LOSS, message: 'etcdserver: corrupt cluster' },
  BAD_CHECKSUM: { code: status.DATA_LOSS },
  INTERNAL: { code: status.INTERNAL },
  CHANNEL_CLOSED: { code: status.INTERNAL },
  WORKER_TASK_FAILED: { code: status.INTERNAL },
};

/** The etcd reason of a Tessera error: its `details.reason`, or `NO_LEADER` for a `NOT_LEADER` naming no leader. */
function reasonOf(error: TesseraError | RemoteError): string | undefined {
  const reason = error.details?.['reason'];
  if (typeof reason === 'string' && reason !== '') return reason;
  if (error instanceof NotLeaderError && error.leaderHint === 0) return 'NO_LEADER';
  return undefined;
}

/**
 * The gRPC status and message etcd would answer `error` with. Anything
 * that is not a Tessera error is `UNKNOWN` with its message, as etcd
 * answers errors it has no entry for.
 *
 * @example
 * ```ts
 * etcdStatusOf(new CompactedError('…'));
 * // { code: status.OUT_OF_RANGE, message: 'etcdserver: mvcc: required revision has been compacted' }
 * ```
 */
export function etcdStatusOf(error: unknown): { code: status; message: string } {
  if (error instanceof TesseraError || error instanceof RemoteError) {
    const reason = reasonOf(error);
    const found =
      reason !== undefined && Object.hasOwn(ETCD_STATUS_BY_REASON, reason)
        ? ETCD_STATUS_BY_REASON[reason]
        : Object.hasOwn(ETCD_STATUS_BY_CODE, error.code)
          ? ETCD_STATUS_BY_CODE[error.code as ErrorCode]
          : undefined;
    if (found !== undefined) return { code: found.code, message: found.message ?? error.message };
    return { code: status.UNKNOWN, message: error.message };
  }
  return { code: status.UNKNOWN, message: error instanceof Error ? error.message : String(error) };
}

/** `error` as the object grpc-js sends as a call's status (`callback(error)`, `stream.emit('error', error)`). */
export function grpcErrorOf(error: unknown): ServiceError {
  const { code, message } = etcdStatusOf(error);
  return Object.assign(new Error(message), { code, details: message, metadata: new Metadata() });
}
