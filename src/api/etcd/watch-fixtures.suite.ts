/**
 * Fakes for the Watch adapter's unit tests: events, and a gRPC server
 * stream. Not part of the build (`*.suite.ts`).
 *
 * @module
 */
import { EventEmitter } from 'node:events';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { Event } from '../../kv/types.ts';

/** A put of `key` (its first version) at `revision`, with a value of `size` zero bytes. */
export function put(key: string, revision: number, size = 1): Event {
  return {
    type: 'put',
    kv: {
      key: new TextEncoder().encode(key),
      value: new Uint8Array(size),
      createRevision: revision,
      modRevision: revision,
      version: 1,
      lease: 0,
    },
  };
}

/** A gRPC server stream that records what is written; while `full`, `write` reports gRPC's buffer full. */
export class FakeServerStream<Message> extends EventEmitter {
  readonly written: Message[] = [];
  full = false;
  cancelled = false;
  destroyed = false;
  writableEnded = false;

  write(message: Message): boolean {
    this.written.push(message);
    return !this.full;
  }

  /** This, as the stream type `StreamWriter` takes. */
  get call(): ServerDuplexStream<unknown, Message> {
    return this as unknown as ServerDuplexStream<unknown, Message>;
  }
}
