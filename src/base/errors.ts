/**
 * Typed errors with stable string codes.
 *
 * Every error a caller can cause or observe is a {@link TesseraError} with a
 * literal `code`. The code is the contract: it is mapped the same way onto
 * every wire (RPC error frame, HTTP body, gRPC status), and a remote error is
 * rebuilt on the client as an instance of the class registered for its code.
 *
 * @module
 */

/** Every stable error code Tessera emits. */
export type ErrorCode =
  | 'CHANNEL_CLOSED'
  | 'CANCELLED'
  | 'DEADLINE_EXCEEDED'
  | 'TOO_LARGE'
  | 'LIMIT_EXCEEDED'
  | 'BAD_CHECKSUM'
  | 'PROTOCOL'
  | 'UNAVAILABLE'
  | 'CONNECTION_LOST'
  | 'OUTCOME_UNKNOWN'
  | 'UNKNOWN_METHOD'
  | 'INVALID_ARGUMENT'
  | 'WORKER_TASK_FAILED'
  | 'NOT_LEADER'
  | 'COMPACTED'
  | 'PROPOSAL_DROPPED'
  | 'CORRUPT'
  | 'NO_SPACE'
  | 'FENCED'
  | 'SESSION_EXPIRED'
  | 'ELECTION_NOT_LEADER'
  | 'ELECTION_NO_LEADER'
  | 'FAILED_PRECONDITION'
  | 'INTERNAL';

/** Options shared by every Tessera error. */
export interface TesseraErrorOptions {
  /** The underlying error, kept for diagnosis. */
  cause?: unknown;
  /** Structured, serializable detail (for example a leader hint). */
  details?: Record<string, unknown>;
}

/**
 * The base of every Tessera error.
 *
 * @example
 * ```ts
 * try { await ch.send(1); } catch (e) {
 *   if (e instanceof TesseraError && e.code === 'CHANNEL_CLOSED') { ... }
 * }
 * ```
 */
export class TesseraError extends Error {
  /** Stable, machine-readable error code. */
  readonly code: ErrorCode;
  /** Structured detail; serialized with the error over the wire. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: TesseraErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
    this.name = new.target.name;
  }
}

/** Sending on, or closing, a closed channel. */
export class ChannelClosedError extends TesseraError {
  constructor(message = 'Cannot use channel: it is closed', options: TesseraErrorOptions = {}) {
    super('CHANNEL_CLOSED', message, options);
  }
}

/** The operation was cancelled through an `AbortSignal` or by the peer. */
export class CancelledError extends TesseraError {
  constructor(message = 'Operation cancelled', options: TesseraErrorOptions = {}) {
    super('CANCELLED', message, options);
  }
}

/** The operation's deadline passed before it completed. */
export class DeadlineExceededError extends TesseraError {
  constructor(message = 'Deadline exceeded', options: TesseraErrorOptions = {}) {
    super('DEADLINE_EXCEEDED', message, options);
  }
}

/** A message, frame or request is larger than its configured maximum. */
export class TooLargeError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('TOO_LARGE', message, options);
  }
}

/** A named limit (calls in flight, waiters, queue length) would be exceeded. */
export class LimitExceededError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('LIMIT_EXCEEDED', message, options);
  }
}

/** Bytes failed their checksum: corruption on the wire or on disk. */
export class ChecksumError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('BAD_CHECKSUM', message, options);
  }
}

/** The peer broke the wire protocol (garbage bytes, unknown frame type, bad field). */
export class ProtocolError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('PROTOCOL', message, options);
  }
}

/**
 * The remote end could not be reached. The request was **not** sent, so it is
 * safe to retry.
 */
export class UnavailableError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('UNAVAILABLE', message, options);
  }
}

/**
 * The connection dropped after the request was sent and before its answer
 * arrived. The outcome is unknown: the request may or may not have taken
 * effect.
 */
export class ConnectionLostError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('CONNECTION_LOST', message, options);
  }
}

/**
 * A write may or may not have taken effect: it was sent, and then the
 * connection was lost or its deadline passed before an answer came. Unlike
 * {@link ConnectionLostError}, which the transport raises for any call, this
 * is what a client raises once it decided not to retry the write; `cause`
 * holds the error that made the outcome unknown. Read the key to find out,
 * or make the write idempotent (a transaction comparing a revision) before
 * retrying it.
 */
export class OutcomeUnknownError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('OUTCOME_UNKNOWN', message, options);
  }
}

/** The RPC names a service or method the server does not have. */
export class UnknownMethodError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('UNKNOWN_METHOD', message, options);
  }
}

/** A caller-supplied value failed validation; nothing was changed. */
export class InvalidArgumentError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('INVALID_ARGUMENT', message, options);
  }
}

/** A task run on a worker thread threw; `cause` holds what it threw. */
export class WorkerTaskError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('WORKER_TASK_FAILED', message, options);
  }
}

/**
 * This member is not the leader. `details.leaderHint` names the leader's
 * member id when known (0 when not): retry there. Nothing was changed.
 */
export class NotLeaderError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('NOT_LEADER', message, options);
  }

  /** The leader's member id, or 0 when unknown. */
  get leaderHint(): number {
    const hint = this.details?.['leaderHint'];
    return typeof hint === 'number' ? hint : 0;
  }
}

/**
 * The proposal did not commit: a new leader replaced the entry it was
 * appended as. It never took effect, so it is safe to retry.
 */
export class ProposalDroppedError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('PROPOSAL_DROPPED', message, options);
  }
}

/**
 * The member cannot take writes: its disk is full or failing (an alarm is
 * raised in its status). Reads still work; nothing acknowledged was lost.
 */
export class NoSpaceError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('NO_SPACE', message, options);
  }
}

/** The requested log entries or revision were compacted away. */
export class CompactedError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('COMPACTED', message, options);
  }
}

/**
 * A fenced write was refused: its fencing token no longer holds its lock
 * (a newer holder was granted the lock, or the holder's key is gone).
 * Nothing was written. `details.token` is the token the write carried and
 * `details.holderToken` the lock's current holder's (0 when none).
 */
export class FencedError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('FENCED', message, options);
  }
}

/**
 * A coordination session's lease is gone (expired, revoked, or not renewed
 * within its TTL): whatever it held (locks, a leadership) is no longer held.
 */
export class SessionExpiredError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('SESSION_EXPIRED', message, options);
  }
}

/** An election call that needs the leadership (proclaim, resign) from a campaigner that does not hold it. */
export class ElectionNotLeaderError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('ELECTION_NOT_LEADER', message, options);
  }
}

/** An election has no leader now. */
export class ElectionNoLeaderError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('ELECTION_NO_LEADER', message, options);
  }
}

/**
 * A request refused because the state is not yet what it needs (a learner
 * promoted before it caught up); retrying once the state changed can succeed.
 */
export class FailedPreconditionError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('FAILED_PRECONDITION', message, options);
  }
}

/** An unexpected failure on the remote end; `message` says what it was. */
export class InternalError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('INTERNAL', message, options);
  }
}

type ErrorConstructorForCode = new (message: string, options: TesseraErrorOptions) => TesseraError;

const classesByCode = new Map<string, ErrorConstructorForCode>([
  ['CHANNEL_CLOSED', ChannelClosedError],
  ['CANCELLED', CancelledError],
  ['DEADLINE_EXCEEDED', DeadlineExceededError],
  ['TOO_LARGE', TooLargeError],
  ['LIMIT_EXCEEDED', LimitExceededError],
  ['BAD_CHECKSUM', ChecksumError],
  ['PROTOCOL', ProtocolError],
  ['UNAVAILABLE', UnavailableError],
  ['CONNECTION_LOST', ConnectionLostError],
  ['OUTCOME_UNKNOWN', OutcomeUnknownError],
  ['UNKNOWN_METHOD', UnknownMethodError],
  ['INVALID_ARGUMENT', InvalidArgumentError],
  ['WORKER_TASK_FAILED', WorkerTaskError],
  ['NOT_LEADER', NotLeaderError],
  ['COMPACTED', CompactedError],
  ['PROPOSAL_DROPPED', ProposalDroppedError],
  ['NO_SPACE', NoSpaceError],
  ['FENCED', FencedError],
  ['SESSION_EXPIRED', SessionExpiredError],
  ['ELECTION_NOT_LEADER', ElectionNotLeaderError],
  ['ELECTION_NO_LEADER', ElectionNoLeaderError],
  ['FAILED_PRECONDITION', FailedPreconditionError],
  ['INTERNAL', InternalError],
]);

/**
 * Registers the class to rebuild for an error code arriving from a remote
 * peer. Later layers (raft's `NOT_LEADER`, kv's `COMPACTED`) register theirs.
 */
export function registerErrorCode(code: string, errorClass: ErrorConstructorForCode): void {
  classesByCode.set(code, errorClass);
}

/**
 * A remote error whose code has no registered class here (for example a
 * newer server). It keeps the code the server sent.
 */
export class RemoteError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.details = details;
    this.name = 'RemoteError';
  }
}

/**
 * Rebuilds an error received over the wire as an instance of the class
 * registered for its code, or a {@link RemoteError} when none is.
 */
export function errorFromWire(
  code: string,
  message: string,
  details?: Record<string, unknown>,
): TesseraError | RemoteError {
  const errorClass = classesByCode.get(code);
  if (errorClass === undefined) return new RemoteError(code, message, details);
  return new errorClass(message, details === undefined ? {} : { details });
}
