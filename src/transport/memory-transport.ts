/**
 * An in-process {@link Transport}: connections are pairs of queues, each
 * message passed through the same MessagePack codec as TCP (so anything that
 * would not survive the wire does not survive here either) and delivered on
 * a later microtask, in order.
 *
 * @module
 */
import { TooLargeError, UnavailableError } from '../base/errors.ts';
import { decode, encode } from '../codec/msgpack.ts';
import { resolveConnectionLimits } from './framed-connection.ts';
import type {
  ConnectionHandler,
  ConnectionLimits,
  Listener,
  MessageConnection,
  Transport,
} from './message-connection.ts';

class MemoryConnection implements MessageConnection {
  readonly remoteAddress: string;
  readonly #messageBytesMax: number;
  peer: MemoryConnection | undefined;
  #handler: ConnectionHandler | undefined;
  #held: unknown[] = [];
  #closed = false;
  #closeError: Error | undefined;
  #closeReported = false;

  constructor(remoteAddress: string, messageBytesMax: number) {
    this.remoteAddress = remoteAddress;
    this.#messageBytesMax = messageBytesMax;
  }

  get closed(): boolean {
    return this.#closed;
  }

  start(handler: ConnectionHandler): void {
    if (this.#handler !== undefined) throw new Error('Cannot start connection: it is already started');
    this.#handler = handler;
    const held = this.#held;
    this.#held = [];
    for (const message of held) handler.message(message);
    if (this.#closed) this.#reportClose();
  }

  send(message: unknown): boolean {
    if (this.#closed) return false;
    const body = encode(message);
    if (body.length > this.#messageBytesMax) {
      throw new TooLargeError(
        `Cannot send message of ${body.length} bytes: messageBytesMax is ${this.#messageBytesMax}`,
      );
    }
    const copy = Buffer.from(body);
    const peer = this.peer;
    queueMicrotask(() => peer?.receive(decode(copy)));
    return true;
  }

  receive(message: unknown): void {
    if (this.#closed) return;
    if (this.#handler === undefined) this.#held.push(message);
    else this.#handler.message(message);
  }

  flush(): void {
    // Each message is already on its way (a microtask).
  }

  drained(): Promise<void> {
    return Promise.resolve();
  }

  close(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    queueMicrotask(() => this.#reportClose());
    const peer = this.peer;
    // Messages already sent reach the peer first: their microtasks are queued ahead of this one.
    queueMicrotask(() => peer?.closeFromPeer());
  }

  closeFromPeer(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reportClose();
  }

  #reportClose(): void {
    if (this.#closeReported || this.#handler === undefined) return;
    this.#closeReported = true;
    this.#handler.close(this.#closeError);
  }
}

/**
 * Connections inside one process. Addresses are any `name:port` strings;
 * listening on port 0 picks a free port.
 *
 * @example
 * ```ts
 * const transport = new MemoryTransport();
 * const server = new RpcServer({ transport });
 * const address = await server.listen('memory:0');
 * const client = new RpcClient({ address, transport });
 * ```
 */
export class MemoryTransport implements Transport {
  readonly #listeners = new Map<string, (connection: MessageConnection) => void>();
  readonly #messageBytesMax: number;
  #nextPort = 1;
  #nextClientPort = 1;

  constructor(options: { limits?: ConnectionLimits } = {}) {
    this.#messageBytesMax = resolveConnectionLimits(options.limits).messageBytesMax;
  }

  dial(address: string): Promise<MessageConnection> {
    const onConnection = this.#listeners.get(address);
    if (onConnection === undefined) {
      return Promise.reject(new UnavailableError(`Cannot connect to ${address}: nothing is listening there`));
    }
    const clientAddress = `memory-client:${this.#nextClientPort++}`;
    const client = new MemoryConnection(address, this.#messageBytesMax);
    const server = new MemoryConnection(clientAddress, this.#messageBytesMax);
    client.peer = server;
    server.peer = client;
    onConnection(server);
    return Promise.resolve(client);
  }

  listen(address: string, onConnection: (connection: MessageConnection) => void): Promise<Listener> {
    let bound = address;
    if (address.endsWith(':0')) bound = `${address.slice(0, -2)}:${this.#nextPort++}`;
    if (this.#listeners.has(bound))
      return Promise.reject(new UnavailableError(`Cannot listen on ${bound}: in use`));
    this.#listeners.set(bound, onConnection);
    return Promise.resolve({
      address: bound,
      close: () => {
        this.#listeners.delete(bound);
        return Promise.resolve();
      },
    });
  }
}
