/**
 * The RPC server: register typed services, listen, serve, close gracefully.
 *
 * @module
 */
import type { TlsOptions } from 'node:tls';
import { type Clock, systemClock } from '../base/clock.ts';
import { UnavailableError } from '../base/errors.ts';
import { getDefaultLogger, type Logger } from '../base/logger.ts';
import type { ConnectionLimits, Listener, Transport } from './message-connection.ts';
import {
  type RegisteredMethod,
  RpcServerConnection,
  type ServerConnectionLimits,
} from './rpc-server-connection.ts';
import type { AnyService, ServiceHandlers } from './service.ts';
import { TcpTransport } from './tcp-transport.ts';

/** Default calls running at once on one connection. */
export const CALLS_IN_FLIGHT_PER_CONNECTION_MAX_DEFAULT = 4096;
/** Default most connections a server holds open. */
export const CONNECTIONS_MAX_DEFAULT = 4096;
/** Default largest stream window (items in flight per stream) a client may ask for. */
export const STREAM_WINDOW_MAX_DEFAULT = 1024;
/** Default time `close()` lets running calls finish before aborting them. */
export const CLOSE_GRACE_MS_DEFAULT = 5000;

/** Options of an {@link RpcServer}. */
export interface RpcServerOptions {
  /** How connections arrive. Default: TCP (TLS with `tls`). */
  transport?: Transport;
  /** Shorthand for a TLS `TcpTransport`; ignored when `transport` is given. */
  tls?: TlsOptions;
  /** Per-connection byte limits of the default transport. */
  connectionLimits?: ConnectionLimits;
  callsInFlightPerConnectionMax?: number;
  connectionsMax?: number;
  streamWindowMax?: number;
  clock?: Clock;
  logger?: Logger;
}

function positiveInteger(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value > 0)) {
    throw new RangeError(`Cannot create RpcServer: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/**
 * Serves typed services over a {@link Transport}.
 *
 * @example
 * ```ts
 * const server = new RpcServer();
 * server.register(Greeter, { hello: ({ name }) => ({ greeting: `hello ${name}` }) });
 * const address = await server.listen('127.0.0.1:0');
 * // ...
 * await server.close();
 * ```
 */
export class RpcServer {
  readonly #transport: Transport;
  readonly #limits: ServerConnectionLimits;
  readonly #connectionsMax: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #methods = new Map<string, RegisteredMethod>();
  readonly #connections = new Set<RpcServerConnection>();
  #listener: Listener | undefined;
  #closing = false;

  constructor(options: RpcServerOptions = {}) {
    this.#logger = options.logger ?? getDefaultLogger();
    this.#transport =
      options.transport ??
      new TcpTransport({
        ...(options.tls === undefined ? {} : { tls: { server: options.tls } }),
        ...(options.connectionLimits === undefined ? {} : { limits: options.connectionLimits }),
        logger: this.#logger,
      });
    this.#limits = {
      callsInFlightMax: positiveInteger(
        'callsInFlightPerConnectionMax',
        options.callsInFlightPerConnectionMax ?? CALLS_IN_FLIGHT_PER_CONNECTION_MAX_DEFAULT,
      ),
      streamWindowMax: positiveInteger(
        'streamWindowMax',
        options.streamWindowMax ?? STREAM_WINDOW_MAX_DEFAULT,
      ),
    };
    this.#connectionsMax = positiveInteger(
      'connectionsMax',
      options.connectionsMax ?? CONNECTIONS_MAX_DEFAULT,
    );
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Adds a service's handlers. Every method of the definition must have one.
   *
   * @throws {TypeError} when a handler is missing or the service is already registered.
   */
  register<Service extends AnyService>(service: Service, handlers: ServiceHandlers<Service>): this {
    for (const name of Object.keys(service.methods)) {
      const handler = (handlers as Record<string, unknown>)[name];
      if (typeof handler !== 'function') {
        throw new TypeError(`Cannot register ${service.name}: no handler for method ${name}`);
      }
      const fullName = `${service.name}.${name}`;
      if (this.#methods.has(fullName)) throw new TypeError(`Cannot register ${fullName}: already registered`);
      this.#methods.set(fullName, {
        definition: service.methods[name] as RegisteredMethod['definition'],
        handler: handler.bind(handlers) as RegisteredMethod['handler'],
      });
    }
    return this;
  }

  /**
   * Starts listening; resolves with the bound address (the real port when
   * asked for port 0).
   */
  async listen(address: string): Promise<string> {
    if (this.#listener !== undefined || this.#closing)
      throw new Error('Cannot listen: this server already listened');
    this.#listener = await this.#transport.listen(address, (connection) => {
      if (this.#closing || this.#connections.size >= this.#connectionsMax) {
        this.#logger.warn(
          { remoteAddress: connection.remoteAddress },
          'refusing connection: server closing or connectionsMax reached',
        );
        connection.close(new UnavailableError('Cannot accept connection: server closing or full'));
        return;
      }
      this.#connections.add(
        new RpcServerConnection(
          connection,
          this.#methods,
          this.#limits,
          this.#clock,
          this.#logger,
          (closed) => this.#connections.delete(closed),
        ),
      );
    });
    return this.#listener.address;
  }

  /** The bound address, once listening. */
  get address(): string | undefined {
    return this.#listener?.address;
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * Stops accepting, sends every client GOAWAY (calls it had not yet
   * received fail on the client as `UNAVAILABLE`, safe to retry), lets
   * accepted calls finish for up to `graceMs`, then closes every connection
   * (aborting what still runs).
   */
  async close(options: { graceMs?: number } = {}): Promise<void> {
    this.#closing = true;
    await this.#listener?.close();
    const graceMs = options.graceMs ?? CLOSE_GRACE_MS_DEFAULT;
    const connections = [...this.#connections];
    for (const connection of connections) connection.goAway();
    let timer: ReturnType<Clock['setTimer']> | undefined;
    await Promise.race([
      Promise.all(connections.map((connection) => connection.idle())),
      new Promise<void>((resolve) => {
        timer = this.#clock.setTimer(resolve, graceMs);
      }),
    ]);
    if (timer !== undefined) this.#clock.clearTimer(timer);
    for (const connection of connections) connection.close();
  }
}
