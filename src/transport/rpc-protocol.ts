/**
 * The RPC wire protocol: MessagePack arrays, one per message.
 *
 * ```
 * client → server  [REQUEST, id, method, payload, timeoutMs, streamWindow]
 *                  [CANCEL, id]
 *                  [CREDIT, id, items]          more stream items may be sent
 * server → client  [RESPONSE, id, payload]
 *                  [ERROR, id, code, message, details | null]
 *                  [STREAM_ITEM, id, payload]
 *                  [STREAM_END, id]
 *                  [GOAWAY, lastId]             the server is closing: it ran no
 *                                               call above lastId and will take
 *                                               no new call on this connection
 * ```
 *
 * Call ids increase on a connection, so `lastId` tells the client exactly
 * which of its calls the server never saw (safe to retry) as in gRPC's GOAWAY.
 *
 * `timeoutMs` is relative (0 = none), so clocks need not agree. A stream
 * starts with `streamWindow` credits; the server sends an item only while it
 * holds a credit, and the client returns credits as it consumes: a slow
 * reader slows the producer instead of growing a buffer.
 *
 * @module
 */
import { ProtocolError } from '../base/errors.ts';

export const REQUEST = 0;
export const RESPONSE = 1;
export const ERROR = 2;
export const CANCEL = 3;
export const STREAM_ITEM = 4;
export const STREAM_END = 5;
export const CREDIT = 6;
export const GOAWAY = 7;

/** Largest `timeoutMs` a request may carry (about 24 days, the range of a Node timer). */
export const TIMEOUT_MS_MAX = 2_147_483_647;

/** A message the server receives. */
export type ClientMessage =
  | {
      type: typeof REQUEST;
      id: number;
      method: string;
      payload: unknown;
      timeoutMs: number;
      streamWindow: number;
    }
  | { type: typeof CANCEL; id: number }
  | { type: typeof CREDIT; id: number; items: number };

/** A message the client receives. */
export type ServerMessage =
  | { type: typeof RESPONSE; id: number; payload: unknown }
  | {
      type: typeof ERROR;
      id: number;
      code: string;
      message: string;
      details: Record<string, unknown> | undefined;
    }
  | { type: typeof STREAM_ITEM; id: number; payload: unknown }
  | { type: typeof STREAM_END; id: number }
  | { type: typeof GOAWAY; id: number };

function fail(reason: string): never {
  throw new ProtocolError(`Cannot parse RPC message: ${reason}`);
}

function callId(message: unknown[]): number {
  const id = message[1];
  if (!(typeof id === 'number' && Number.isSafeInteger(id) && id >= 0)) fail(`bad call id ${String(id)}`);
  return id;
}

function count(value: unknown, name: string, max: number): number {
  if (!(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= max)) {
    fail(`bad ${name} ${String(value)}`);
  }
  return value;
}

/**
 * Checks the shape of a message from a client.
 *
 * @throws {ProtocolError} when it is not a well-formed client message.
 */
export function parseClientMessage(message: unknown): ClientMessage {
  if (!Array.isArray(message)) fail('not an array');
  switch (message[0]) {
    case REQUEST: {
      if (message.length !== 6) fail('REQUEST needs 6 fields');
      const method = message[2];
      if (typeof method !== 'string' || method.length > 200) fail('bad method name');
      return {
        type: REQUEST,
        id: callId(message),
        method,
        payload: message[3],
        timeoutMs: count(message[4], 'timeoutMs', TIMEOUT_MS_MAX),
        streamWindow: count(message[5], 'streamWindow', 0xffff_ffff),
      };
    }
    case CANCEL:
      if (message.length !== 2) fail('CANCEL needs 2 fields');
      return { type: CANCEL, id: callId(message) };
    case CREDIT:
      if (message.length !== 3) fail('CREDIT needs 3 fields');
      return { type: CREDIT, id: callId(message), items: count(message[2], 'credit', 0xffff_ffff) };
    default:
      return fail(`unknown client message type ${String(message[0])}`);
  }
}

/**
 * Checks the shape of a message from a server.
 *
 * @throws {ProtocolError} when it is not a well-formed server message.
 */
export function parseServerMessage(message: unknown): ServerMessage {
  if (!Array.isArray(message)) fail('not an array');
  switch (message[0]) {
    case RESPONSE:
      if (message.length !== 3) fail('RESPONSE needs 3 fields');
      return { type: RESPONSE, id: callId(message), payload: message[2] };
    case ERROR: {
      if (message.length !== 5) fail('ERROR needs 5 fields');
      const [, , code, text, details] = message;
      if (typeof code !== 'string' || typeof text !== 'string') fail('bad error code or message');
      if (details !== null && (typeof details !== 'object' || Array.isArray(details)))
        fail('bad error details');
      return {
        type: ERROR,
        id: callId(message),
        code,
        message: text,
        details: (details ?? undefined) as Record<string, unknown> | undefined,
      };
    }
    case STREAM_ITEM:
      if (message.length !== 3) fail('STREAM_ITEM needs 3 fields');
      return { type: STREAM_ITEM, id: callId(message), payload: message[2] };
    case STREAM_END:
      if (message.length !== 2) fail('STREAM_END needs 2 fields');
      return { type: STREAM_END, id: callId(message) };
    case GOAWAY:
      if (message.length !== 2) fail('GOAWAY needs 2 fields');
      return { type: GOAWAY, id: callId(message) };
    default:
      return fail(`unknown server message type ${String(message[0])}`);
  }
}
