/**
 * What every etcd adapter does with a gRPC call: the {@link CallContext}
 * the shared handlers take (cancellation, deadline, peer), and the answer
 * or the etcd error ({@link grpcErrorOf}) sent back.
 *
 * @module
 */
import type { handleUnaryCall, ServerDuplexStream, ServerUnaryCall } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { CancelledError } from '../../base/errors.ts';
import type { Logger } from '../../base/logger.ts';
import type { CallContext } from '../../transport/service.ts';
import { grpcErrorOf } from './errors.ts';

/** The calls a context can be made of: unary ones and streams. */
type AnyServerCall = ServerUnaryCall<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/**
 * The context of `call` for a shared handler: its signal aborts when the
 * client cancels (or goes away), `timeRemainingMs` follows the client's
 * deadline, `remoteAddress` is the client's `host:port`.
 */
export function callContextOf(call: AnyServerCall, method: string, answered?: () => boolean): CallContext {
  // The controller is made when a handler first reads `signal` (most unary calls never do: a
  // controller and its signal per call were 2% of a member's CPU serving reads); a cancel before
  // then is kept and the signal starts aborted.
  let abort: AbortController | undefined;
  let cancelled: CancelledError | undefined;
  // gRPC reports a unary call's stream closing after its answer as a cancel too: nothing to abort then.
  call.once('cancelled', () => {
    if (answered?.() === true) return;
    cancelled = new CancelledError(`The client cancelled ${method}`);
    abort?.abort(cancelled);
  });
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  return {
    get signal(): AbortSignal {
      if (abort === undefined) {
        abort = new AbortController();
        if (cancelled !== undefined) abort.abort(cancelled);
      }
      return abort.signal;
    },
    timeRemainingMs: Number.isFinite(deadlineMs) ? Math.max(0, deadlineMs - Date.now()) : undefined,
    method,
    remoteAddress: call.getPeer(),
  };
}

/** Codes that mean a failure of ours rather than a refusal: logged. */
const LOGGED_CODES: ReadonlySet<status> = new Set([status.INTERNAL, status.UNKNOWN, status.DATA_LOSS]);

/**
 * A unary gRPC method served by `run`: its answer is sent, or its error as
 * etcd's (see `errors.ts`). `method` names the call in messages and logs
 * (`/etcdserverpb.KV/Range`).
 */
export function unaryCall<Request, Response>(
  method: string,
  logger: Logger,
  run: (request: Request, context: CallContext) => Promise<Response>,
): handleUnaryCall<Request, Response> {
  return (call, callback) => {
    let answered = false;
    Promise.resolve()
      .then(() =>
        run(
          call.request,
          callContextOf(call as AnyServerCall, method, () => answered),
        ),
      )
      .then(
        (response) => {
          answered = true;
          callback(null, response);
        },
        (error: unknown) => {
          answered = true;
          callback(failedCall(method, logger, error));
        },
      );
  };
}

/** The status a failed call ends with; unexpected failures are logged. */
export function failedCall(method: string, logger: Logger, error: unknown): ReturnType<typeof grpcErrorOf> {
  const grpcError = grpcErrorOf(error);
  if (LOGGED_CODES.has(grpcError.code)) logger.error({ err: error, method }, 'etcd API call failed');
  return grpcError;
}
