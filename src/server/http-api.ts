/**
 * The HTTP/JSON front door, on a member's HTTP port beside `/healthz`,
 * `/v1/status` and `/metrics`: every KV and lease call as `POST /v1/...`
 * with a JSON body, and watches as a stream of JSON lines (NDJSON).
 *
 * It is a thin adapter: a body is decoded (byte fields from base64),
 * checked by the very validators of the native RPC (each method's
 * `validate` in `api.ts`), and handed to the same handlers
 * ({@link ClientHandlers} from `serve.ts`); the answer's byte fields go
 * back as base64. Errors are `{ code, message, details? }` with the HTTP
 * status {@link httpStatusOf} gives their code.
 *
 * @module
 */
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  type ErrorCode,
  InvalidArgumentError,
  RemoteError,
  TesseraError,
  TooLargeError,
  UnavailableError,
  UnknownMethodError,
} from '../base/errors.ts';
import type { Logger } from '../base/logger.ts';
import { REQUEST_BYTES_MAX } from '../kv/limits.ts';
import type { CallContext, Validator } from '../transport/service.ts';
import { callFields, KvService, LeaseService, validated, WatchService } from './api.ts';
import { type CoordHandlers, ElectionService, LockService } from './coord-api.ts';
import type { TesseraNode } from './node.ts';
import type { ClientHandlers } from './serve.ts';

/**
 * Largest request body: {@link REQUEST_BYTES_MAX} of keys and values in
 * base64 (4 characters per 3 bytes), plus the room `COMMAND_BYTES_MAX`
 * leaves for field names and numbers. A larger body is refused with 413
 * `TOO_LARGE` before it is parsed; one within it whose keys and values
 * decode to more than `REQUEST_BYTES_MAX` is refused by the store, also 413.
 */
export const HTTP_BODY_BYTES_MAX = Math.ceil(REQUEST_BYTES_MAX / 3) * 4 + 512 * 1024;

/**
 * Deepest nesting of arrays and objects in a body. The deepest valid
 * request (a transaction nested `TXN_DEPTH_MAX` levels, three JSON levels
 * each, then a compare) is about 30 deep; the bound keeps decoding off the
 * call stack's limit.
 */
export const JSON_DEPTH_MAX = 64;

/**
 * The HTTP status for each error code. `LIMIT_EXCEEDED` is 400 as etcd's
 * gateway answers its too-many-ops error: the same request fails again
 * until the caller changes it or frees what it holds, so it is no 429 a
 * client would retry blindly. `COMPACTED` is 410: that history is gone for
 * good. The 503s are safe to retry elsewhere, except `CONNECTION_LOST` and
 * `OUTCOME_UNKNOWN`, whose write may or may not have happened.
 */
export const HTTP_STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  PROTOCOL: 400,
  LIMIT_EXCEEDED: 400,
  UNKNOWN_METHOD: 404,
  FENCED: 409,
  SESSION_EXPIRED: 409,
  ELECTION_NOT_LEADER: 409,
  ELECTION_NO_LEADER: 404,
  FAILED_PRECONDITION: 409,
  COMPACTED: 410,
  TOO_LARGE: 413,
  INTERNAL: 500,
  CORRUPT: 500,
  CHANNEL_CLOSED: 500,
  BAD_CHECKSUM: 500,
  WORKER_TASK_FAILED: 500,
  NOT_LEADER: 503,
  UNAVAILABLE: 503,
  PROPOSAL_DROPPED: 503,
  CONNECTION_LOST: 503,
  OUTCOME_UNKNOWN: 503,
  CANCELLED: 503,
  DEADLINE_EXCEEDED: 504,
  NO_SPACE: 507,
};

/** The HTTP status of an error code; 500 for a code this member does not know. */
export function httpStatusOf(code: string): number {
  return Object.hasOwn(HTTP_STATUS_BY_CODE, code) ? HTTP_STATUS_BY_CODE[code as ErrorCode] : 500;
}

/** An error as the HTTP API answers it. */
export interface HttpError {
  readonly code: string;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

/** Options of {@link registerHttpApi}. */
export interface HttpApiOptions {
  /** The handlers the native RPC serves too (`clientHandlers(node)` in `serve.ts`). */
  readonly handlers: ClientHandlers;
  /** Where unexpected (500) errors are logged. */
  readonly logger?: Logger;
  /** The lock and election handlers (`coordHandlers` in `coord-api.ts`); their routes are left out without them. */
  readonly coord?: CoordHandlers;
}

/** Fields whose string values are bytes in base64, wherever they appear in a body. */
const BYTE_FIELDS: ReadonlySet<string> = new Set(['key', 'rangeEnd', 'value', 'lock', 'name']);

/**
 * Registers the HTTP/JSON API on `app`: the routes below, an error handler
 * and a not-found handler (404, or 405 with `Allow` for a known path).
 * Watch streams still open when `app` closes end with an `UNAVAILABLE` line.
 *
 * | route | body | answer |
 * | --- | --- | --- |
 * | `POST /v1/kv/range` | `RangeRequest` + `serializable` | `RangeResponse` |
 * | `POST /v1/kv/put` | `PutRequest` | `PutResponse` |
 * | `POST /v1/kv/deleterange` | `DeleteRangeRequest` | `DeleteRangeResponse` |
 * | `POST /v1/kv/txn` | `TxnRequest` | `TxnResponse` |
 * | `POST /v1/kv/compaction` | `CompactionRequest` | `CompactionResponse` |
 * | `POST /v1/lease/grant` | `{ ttl, id? }` | `LeaseGrantResponse` |
 * | `POST /v1/lease/revoke` | `{ id }` | `LeaseRevokeResponse` |
 * | `POST /v1/lease/keepalive` | `{ id }` | `LeaseKeepAliveResponse` |
 * | `POST /v1/lease/timetolive` | `{ id, keys? }` | `LeaseTimeToLiveResponse` |
 * | `POST /v1/lease/leases` | `{}` or none | `{ leases }` |
 * | `POST /v1/watch` | `WatchRequest` + `progressNotify` | NDJSON `WatchResponse`s |
 * | `POST /v1/lock/lock` | `{ name, lease }` | `{ key, token }` once held |
 * | `POST /v1/lock/unlock` | `{ key }` | `{ revision }` |
 * | `POST /v1/election/campaign` | `{ name, lease, value }` | `{ name, key, revision, lease }` once leading |
 * | `POST /v1/election/proclaim` | `{ leader, value }` | `null` |
 * | `POST /v1/election/resign` | `{ leader }` | `null` |
 * | `POST /v1/election/leader` | `{ name }` | the leader's `KeyValue` |
 * | `POST /v1/election/observe` | `{ name }` | NDJSON `KeyValue`s, one per leadership change |
 * | `GET /v1/status`, `/healthz`, `/metrics` | | status, health, Prometheus text |
 *
 * @example
 * ```ts
 * const app = Fastify();
 * registerHttpApi(app, node, { handlers: clientHandlers(node) });
 * await app.listen({ host: '127.0.0.1', port: 2381 });
 * ```
 */
export function registerHttpApi(app: FastifyInstance, node: TesseraNode, options: HttpApiOptions): void {
  // Path → the one method it takes, for telling a wrong method (405) from an unknown path (404).
  const allowed = new Map<string, string>();
  const routes = unaryRoutes(options.handlers);
  if (options.coord !== undefined) routes.push(...coordRoutes(options.coord));
  for (const [path, call] of routes) {
    allowed.set(path, 'POST');
    app.post(path, { bodyLimit: HTTP_BODY_BYTES_MAX }, async (request, reply) => {
      const answer = await call(requestBody(request.body), callContext(request, reply, path));
      return reply.send(bytesToBase64(answer));
    });
  }
  const streams = streamRoutes(options.handlers, options.coord);
  for (const path of streams.keys()) allowed.set(path, 'POST');
  registerStreamRoutes(app, streams);
  for (const path of ['/healthz', '/v1/status', '/metrics']) allowed.set(path, 'GET');
  registerMemberRoutes(app, node);

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const method = allowed.get(path);
    if (method === undefined) {
      return sendError(reply, new UnknownMethodError(`No route ${request.method} ${path}`), 404);
    }
    return sendError(
      reply.header('allow', method),
      new UnknownMethodError(`Cannot ${request.method} ${path}: it takes ${method}`),
      405,
    );
  });
  app.setErrorHandler((error, _request, reply) => {
    const { status, body } = httpErrorOf(error);
    if (status === 500) options.logger?.error({ err: error }, 'HTTP API call failed');
    return reply.code(status).send(body);
  });
}

/** A unary route: the decoded body to the handler's answer. */
type UnaryRoute = (body: Record<string, unknown>, context: CallContext) => unknown;

/** The unary routes, each checked by its RPC method's validator and served by its RPC handler. */
function unaryRoutes({ kv, lease }: ClientHandlers): [string, UnaryRoute][] {
  const { methods: kvMethods } = KvService;
  const { methods: leaseMethods } = LeaseService;
  // The RPC method takes no request; here the body may only be empty.
  const noFields = {
    validate: (call: unknown): null => {
      callFields(call, []);
      return null;
    },
  };
  return [
    route('/v1/kv/range', kvMethods.range, kv.range, ({ serializable, ...request }) => ({
      request,
      serializable,
    })),
    route('/v1/kv/put', kvMethods.put, kv.put),
    route('/v1/kv/deleterange', kvMethods.deleteRange, kv.deleteRange),
    route('/v1/kv/txn', kvMethods.txn, kv.txn),
    route('/v1/kv/compaction', kvMethods.compact, kv.compact),
    route('/v1/lease/grant', leaseMethods.grant, lease.grant),
    route('/v1/lease/revoke', leaseMethods.revoke, lease.revoke),
    route('/v1/lease/keepalive', leaseMethods.keepAlive, lease.keepAlive),
    route('/v1/lease/timetolive', leaseMethods.timeToLive, lease.timeToLive),
    route('/v1/lease/leases', noFields, lease.leases),
  ];
}

/** The lock and election routes. */
function coordRoutes({ lock, election }: CoordHandlers): [string, UnaryRoute][] {
  const { methods: lockMethods } = LockService;
  const { methods: electionMethods } = ElectionService;
  return [
    route('/v1/lock/lock', lockMethods.lock, lock.lock),
    route('/v1/lock/unlock', lockMethods.unlock, lock.unlock),
    route('/v1/election/campaign', electionMethods.campaign, election.campaign),
    route('/v1/election/proclaim', electionMethods.proclaim, election.proclaim),
    route('/v1/election/resign', electionMethods.resign, election.resign),
    route('/v1/election/leader', electionMethods.leader, election.leader),
  ];
}

/** A streaming route: the decoded body to the items the handler yields. */
type StreamRoute = (
  body: Record<string, unknown>,
  context: CallContext,
) => AsyncIterable<unknown> | Iterable<unknown>;

/** The NDJSON routes, by path. */
function streamRoutes(handlers: ClientHandlers, coord: CoordHandlers | undefined): Map<string, StreamRoute> {
  const routes = new Map<string, StreamRoute>([
    [
      '/v1/watch',
      (body, context) =>
        handlers.watch.watch(validated(WatchService.methods.watch, '/v1/watch', body), context),
    ],
  ]);
  if (coord !== undefined) {
    const path = '/v1/election/observe';
    routes.set(path, (body, context) =>
      coord.election.observe(validated(ElectionService.methods.observe, path, body), context),
    );
  }
  return routes;
}

/** A route that shapes the body as the RPC call (`toCall`), validates it, and runs `handler`. */
function route<T>(
  path: string,
  method: { readonly validate: Validator<T> | undefined },
  handler: (call: T, context: CallContext) => unknown,
  toCall: (body: Record<string, unknown>) => unknown = (body) => body,
): [string, UnaryRoute] {
  return [path, (body, context) => handler(validated(method, path, toCall(body)), context)];
}

/** `/healthz`, `/v1/status` and `/metrics`. */
function registerMemberRoutes(app: FastifyInstance, node: TesseraNode): void {
  app.get('/healthz', async (_request, reply) => {
    const status = node.status();
    const healthy = status.leaderId !== 0 && status.alarms.length === 0;
    return reply
      .code(healthy ? 200 : 503)
      .send({ health: healthy, reason: healthy ? '' : status.alarms.join(', ') || 'no leader' });
  });
  app.get('/v1/status', async () => node.status());
  app.get('/metrics', async (_request, reply) =>
    reply
      .header('content-type', node.metrics.registry.contentType)
      .send(await node.metrics.registry.metrics()),
  );
}

/** The NDJSON routes (see {@link serveStream}); streams still open when `app` closes end with an `UNAVAILABLE` line. */
function registerStreamRoutes(app: FastifyInstance, routes: ReadonlyMap<string, StreamRoute>): void {
  // Open streams, each with the promise of its end.
  const streams = new Map<AbortController, Promise<void>>();
  for (const [path, open] of routes) {
    app.post(path, { bodyLimit: HTTP_BODY_BYTES_MAX }, (request, reply) =>
      serveStream(request, reply, path, open, streams),
    );
  }
  // Before the server stops taking connections: end every stream with its last line written.
  app.addHook('preClose', async () => {
    for (const abort of streams.keys()) {
      abort.abort(new UnavailableError('The member is shutting down; watch again from the next revision'));
    }
    await Promise.all(streams.values());
  });
}

/** The body as an object with its byte fields decoded; no body at all is `{}`. */
function requestBody(body: unknown): Record<string, unknown> {
  if (body === undefined) return {};
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new InvalidArgumentError(
      `The body must be a JSON object (with content-type: application/json), got ${body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body}`,
    );
  }
  return base64ToBytes(body, 'body', 1) as Record<string, unknown>;
}

/**
 * `value` with every string in a byte field (`key`, `rangeEnd`, `value`)
 * decoded from standard base64, as new objects and arrays.
 *
 * @throws {InvalidArgumentError} on a string that is not canonical padded
 * base64 (RFC 4648 §4), or nesting past {@link JSON_DEPTH_MAX}.
 */
function base64ToBytes(value: unknown, path: string, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > JSON_DEPTH_MAX) {
    throw new InvalidArgumentError(
      `Cannot decode the body: ${path} nests deeper than ${JSON_DEPTH_MAX} levels`,
    );
  }
  if (Array.isArray(value)) return value.map((item, i) => base64ToBytes(item, `${path}[${i}]`, depth + 1));
  // fromEntries defines own properties: a "__proto__" field stays a field (and is refused as unknown).
  return Object.fromEntries(
    Object.entries(value).map(([name, field]) => [
      name,
      typeof field === 'string' && BYTE_FIELDS.has(name)
        ? bytesFromBase64(field, `${path}.${name}`)
        : base64ToBytes(field, `${path}.${name}`, depth + 1),
    ]),
  );
}

function bytesFromBase64(text: string, path: string): Uint8Array {
  const bytes = Buffer.from(text, 'base64');
  // Node's decoder skips characters outside the alphabet; only a string that re-encodes to itself is base64.
  if (bytes.toString('base64') !== text) {
    const shown = text.length > 48 ? `${JSON.stringify(text.slice(0, 48))}…` : JSON.stringify(text);
    throw new InvalidArgumentError(`Cannot decode ${path}: ${shown} is not standard padded base64`, {
      details: { field: path },
    });
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** `value` with every `Uint8Array` as a standard base64 string, as new objects and arrays. */
function bytesToBase64(value: unknown): unknown {
  if (value instanceof Uint8Array) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  }
  if (Array.isArray(value)) return value.map(bytesToBase64);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([name, field]) => [name, bytesToBase64(field)]));
}

/** What a handler is told of its HTTP call; the signal aborts when the response closes (the client went away). */
function callContext(request: FastifyRequest, reply: FastifyReply, path: string): CallContext {
  const abort = new AbortController();
  reply.raw.once('close', () => abort.abort());
  return { signal: abort.signal, timeRemainingMs: undefined, method: path, remoteAddress: request.ip };
}

/** The status and body an error is answered with. */
export function httpErrorOf(error: unknown): { status: number; body: HttpError } {
  if (error instanceof TesseraError || error instanceof RemoteError) {
    const details = error.details;
    return {
      status: httpStatusOf(error.code),
      body: { code: error.code, message: error.message, ...(details === undefined ? {} : { details }) },
    };
  }
  const fastify = error as { code?: unknown; statusCode?: unknown; message?: unknown };
  const status = fastify.statusCode;
  if (
    typeof fastify.code === 'string' &&
    fastify.code.startsWith('FST_') &&
    typeof status === 'number' &&
    status >= 400 &&
    status < 500
  ) {
    // The framework refused the request before a handler ran: a bad body, media type or length.
    if (status === 413) {
      return httpErrorOf(
        new TooLargeError(`Cannot read the body: it is larger than ${HTTP_BODY_BYTES_MAX} bytes`, {
          details: { limit: HTTP_BODY_BYTES_MAX },
        }),
      );
    }
    const message =
      status === 415
        ? `Cannot read the body: ${String(fastify.message)}; send it with content-type: application/json`
        : String(fastify.message);
    return { status, body: { code: 'INVALID_ARGUMENT', message } };
  }
  return {
    status: 500,
    body: { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) },
  };
}

function sendError(reply: FastifyReply, error: TesseraError, status: number): FastifyReply {
  return reply.code(status).send(httpErrorOf(error).body);
}

/**
 * A streaming route (`POST /v1/watch`, `/v1/election/observe`): validates,
 * opens the stream, and waits for its first item (for a watch: the watcher
 * exists) before answering, so that a refused call gets a JSON error and
 * its status. Then 200 and one JSON line per item as the handler yields
 * it; the stream ends when the handler's does, and an error after the
 * first item is a last line `{"error":{code,message}}`.
 */
async function serveStream(
  request: FastifyRequest,
  reply: FastifyReply,
  path: string,
  open: StreamRoute,
  streams: Map<AbortController, Promise<void>>,
): Promise<void> {
  const body = requestBody(request.body);
  const abort = new AbortController();
  const response = reply.raw;
  // The client went away (or the response ended): the node's watch ends and its watcher is cancelled.
  response.once('close', () => abort.abort());
  const context = {
    signal: abort.signal,
    timeRemainingMs: undefined,
    method: path,
    remoteAddress: request.ip,
  };
  const iterator = iteratorOf(open(body, context));
  let ended = (): void => {};
  streams.set(abort, new Promise((resolve) => (ended = resolve)));
  try {
    // Refused (a limit, a compacted start): thrown from here, answered as JSON by the error handler.
    const first = await iterator.next();
    reply.hijack();
    // One connection per stream, closed when it ends, so that nothing holds a closing server.
    response.writeHead(200, {
      'content-type': 'application/x-ndjson',
      'cache-control': 'no-store',
      connection: 'close',
    });
    try {
      await pumpStream(first, iterator, response, abort.signal);
    } finally {
      await iterator.return?.(undefined);
      if (!response.destroyed) response.end();
    }
  } finally {
    streams.delete(abort);
    ended();
  }
}

/** An iterator over what a stream handler returned (an async generator, for the node's watch). */
function iteratorOf<T>(items: AsyncIterable<T> | Iterable<T>): AsyncIterator<T> | Iterator<T> {
  return Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();
}

async function pumpStream(
  first: IteratorResult<unknown>,
  iterator: AsyncIterator<unknown> | Iterator<unknown>,
  response: ServerResponse,
  signal: AbortSignal,
): Promise<void> {
  const line = (value: unknown): boolean => response.write(`${JSON.stringify(value)}\n`);
  try {
    for (let item = first; !item.done && !signal.aborted; item = await iterator.next()) {
      if (response.destroyed) return;
      // A slow reader: wait for the socket rather than buffer; the hub ends a watcher that falls too far behind.
      if (!line(bytesToBase64(item.value))) await once(response, 'drain', { signal }).catch(() => {});
    }
  } catch (error) {
    if (!response.destroyed) line({ error: httpErrorOf(error).body });
    return;
  }
  // Aborted by the server's close (a client that went away reads nothing more).
  if (signal.reason instanceof TesseraError && !response.destroyed)
    line({ error: httpErrorOf(signal.reason).body });
}
