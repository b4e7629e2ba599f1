/**
 * A {@link MessageConnection} over a byte stream (a TCP or TLS socket):
 * MessagePack bodies in checksummed frames.
 *
 * Writes are batched: every message sent in one turn of the event loop
 * leaves in a single socket write (one syscall, one TCP segment train), the
 * same cork/uncork idea as etcd's and NATS's write loops.
 *
 * @module
 */
import type { Socket } from 'node:net';
import { ConnectionLostError, LimitExceededError, type TesseraError, TooLargeError } from '../base/errors.ts';
import type { Logger } from '../base/logger.ts';
import { encodeFrames, FRAME_BODY_BYTES_MAX_DEFAULT, FrameDecoder } from '../codec/frame.ts';
import { decode, encode } from '../codec/msgpack.ts';
import {
  type ConnectionHandler,
  type ConnectionLimits,
  type MessageConnection,
  SEND_QUEUE_BYTES_HIGH_DEFAULT,
  SEND_QUEUE_BYTES_MAX_DEFAULT,
} from './message-connection.ts';

/** Validates limits and fills in defaults; shared by every connection kind. */
export function resolveConnectionLimits(limits: ConnectionLimits = {}): Required<ConnectionLimits> {
  const resolved = {
    messageBytesMax: limits.messageBytesMax ?? FRAME_BODY_BYTES_MAX_DEFAULT,
    sendQueueBytesHigh: limits.sendQueueBytesHigh ?? SEND_QUEUE_BYTES_HIGH_DEFAULT,
    sendQueueBytesMax: limits.sendQueueBytesMax ?? SEND_QUEUE_BYTES_MAX_DEFAULT,
  };
  for (const [name, value] of Object.entries(resolved)) {
    if (!(Number.isSafeInteger(value) && value > 0)) {
      throw new RangeError(`Cannot use connection limits: ${name} must be a positive integer, got ${value}`);
    }
  }
  if (resolved.sendQueueBytesHigh > resolved.sendQueueBytesMax) {
    throw new RangeError(
      `Cannot use connection limits: sendQueueBytesHigh (${resolved.sendQueueBytesHigh}) exceeds sendQueueBytesMax (${resolved.sendQueueBytesMax})`,
    );
  }
  return resolved;
}

/** A message connection over a stream socket. Created by {@link TcpTransport}. */
export class FramedConnection implements MessageConnection {
  readonly remoteAddress: string;
  readonly #socket: Socket;
  readonly #limits: Required<ConnectionLimits>;
  readonly #logger: Logger;
  #handler: ConnectionHandler | undefined;
  // Invariant: #queuedBytes is the sum of the lengths of #queue.
  #queue: Buffer[] = [];
  #queuedBytes = 0;
  #flushScheduled = false;
  #closed = false;
  #closeError: Error | undefined;
  #closeReported = false;

  constructor(socket: Socket, remoteAddress: string, limits: Required<ConnectionLimits>, logger: Logger) {
    this.#socket = socket;
    this.remoteAddress = remoteAddress;
    this.#limits = limits;
    this.#logger = logger;
    socket.setNoDelay(true);
    socket.on('error', (error) => {
      this.#closeError ??= new ConnectionLostError(
        `Connection to ${remoteAddress} failed: ${error.message}`,
        {
          cause: error,
        },
      );
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#reportClose();
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  start(handler: ConnectionHandler): void {
    if (this.#handler !== undefined) throw new Error('Cannot start connection: it is already started');
    this.#handler = handler;
    const decoder = new FrameDecoder((body) => this.#deliver(body), {
      bodyBytesMax: this.#limits.messageBytesMax,
    });
    this.#socket.on('data', (chunk: Buffer) => {
      if (this.#closed) return;
      try {
        decoder.push(chunk);
      } catch (error) {
        this.#logger.warn(
          { remoteAddress: this.remoteAddress, code: (error as TesseraError).code, err: error },
          'closing connection: bad input from peer',
        );
        this.close(error as Error);
      }
    });
    if (this.#closed) this.#reportClose();
  }

  #deliver(body: Buffer): void {
    if (this.#closed) return;
    // decode throws ProtocolError, which the data handler turns into a close.
    this.#handler?.message(decode(body));
  }

  send(message: unknown): boolean {
    if (this.#closed) return false;
    const body = encode(message);
    if (body.length > this.#limits.messageBytesMax) {
      throw new TooLargeError(
        `Cannot send message of ${body.length} bytes: messageBytesMax is ${this.#limits.messageBytesMax}`,
      );
    }
    this.#queue.push(body);
    this.#queuedBytes += body.length;
    const pendingBytes = this.#queuedBytes + this.#socket.writableLength;
    if (pendingBytes > this.#limits.sendQueueBytesMax) {
      this.close(
        new LimitExceededError(
          `Cannot queue more for ${this.remoteAddress}: ${pendingBytes} bytes pending exceeds sendQueueBytesMax ${this.#limits.sendQueueBytesMax} (slow consumer)`,
        ),
      );
      return false;
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
    return pendingBytes <= this.#limits.sendQueueBytesHigh;
  }

  flush(): void {
    this.#flush();
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#queue.length === 0 || this.#socket.destroyed) return;
    const batch = encodeFrames(this.#queue, this.#limits.messageBytesMax);
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#socket.write(batch);
  };

  drained(): Promise<void> {
    const lowWaterBytes = this.#limits.sendQueueBytesHigh / 2;
    if (this.#closed || this.#queuedBytes + this.#socket.writableLength <= lowWaterBytes)
      return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.#closed || this.#queuedBytes + this.#socket.writableLength <= lowWaterBytes) {
          this.#socket.off('drain', check);
          this.#socket.off('close', check);
          resolve();
        }
      };
      this.#socket.on('drain', check);
      this.#socket.on('close', check);
    });
  }

  close(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    if (error === undefined) {
      this.#flush();
      this.#socket.end();
    } else {
      this.#closeError ??= error;
      this.#socket.destroy();
    }
  }

  #reportClose(): void {
    if (this.#closeReported || this.#handler === undefined || !this.#socket.destroyed) return;
    this.#closeReported = true;
    this.#handler.close(this.#closeError);
  }
}
