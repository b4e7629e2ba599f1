/**
 * Server-streaming etcd methods (Election.Observe, Maintenance.Snapshot):
 * one request, then the answers an async iterable yields, each written as
 * the client takes it, and the first error as etcd's (see `errors.ts`).
 *
 * @module
 */
import { once } from 'node:events';
import type { handleServerStreamingCall, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import type { Logger } from '../../base/logger.ts';
import type { CallContext } from '../../transport/service.ts';
import { callContextOf, failedCall } from './calls.ts';

/**
 * A server-streaming gRPC method served by `run`: every answer it yields
 * is written, waiting for the client to take the last one when gRPC's
 * buffer is full (so a slow reader holds the producer back instead of
 * filling memory); the stream ends when `run` ends, or with `run`'s error
 * as etcd's. When the client goes away, `context.signal` aborts and the
 * iteration is stopped (its `finally` blocks run).
 *
 * @example
 * ```ts
 * Observe: serverStreamCall('/v3electionpb.Election/Observe', logger, async function* (request, context) {
 *   for await (const leader of election.observe(request, context)) yield { header: header(), kv: leader };
 * }),
 * ```
 */
export function serverStreamCall<Request, Response>(
  method: string,
  logger: Logger,
  run: (request: Request, context: CallContext) => AsyncIterable<Response>,
): handleServerStreamingCall<Request, Response> {
  return (call) => {
    void serveStream(call, method, logger, run);
  };
}

/** Writes what `run` yields to `call` (see {@link serverStreamCall}). */
async function serveStream<Request, Response>(
  call: ServerWritableStream<Request, Response>,
  method: string,
  logger: Logger,
  run: (request: Request, context: CallContext) => AsyncIterable<Response>,
): Promise<void> {
  const context = callContextOf(call as unknown as ServerUnaryCall<unknown, unknown>, method);
  try {
    for await (const response of run(call.request, context)) {
      if (call.cancelled || call.destroyed) return;
      if (!call.write(response)) await once(call, 'drain', { signal: context.signal });
    }
    call.end();
  } catch (error) {
    // A cancelled stream (the client went away) has no one to tell.
    if (!call.cancelled && !call.destroyed) call.emit('error', failedCall(method, logger, error));
  }
}
