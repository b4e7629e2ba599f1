/**
 * TCP and TLS transport: {@link FramedConnection}s over `node:net` or
 * `node:tls`, with the same API either way.
 *
 * @module
 */
import { connect as netConnect, createServer as netCreateServer, type Server, type Socket } from 'node:net';
import {
  type ConnectionOptions,
  type TlsOptions,
  connect as tlsConnect,
  createServer as tlsCreateServer,
} from 'node:tls';
import { UnavailableError } from '../base/errors.ts';
import { getDefaultLogger, type Logger } from '../base/logger.ts';
import { FramedConnection, resolveConnectionLimits } from './framed-connection.ts';
import {
  type ConnectionLimits,
  formatAddress,
  type Listener,
  type MessageConnection,
  parseAddress,
  type Transport,
} from './message-connection.ts';

/** Default time allowed to establish a connection (TCP and TLS handshakes). */
export const CONNECT_TIMEOUT_MS_DEFAULT = 5000;

/** Options of a {@link TcpTransport}. */
export interface TcpTransportOptions {
  /** TLS settings. With `server`, `listen` accepts only TLS; with `client`, `dial` speaks TLS. */
  tls?: { server?: TlsOptions; client?: ConnectionOptions };
  /** Per-connection limits. */
  limits?: ConnectionLimits;
  /** Where bad peers and failures are logged. */
  logger?: Logger;
}

/**
 * Connections over TCP, or TLS when configured.
 *
 * @example
 * ```ts
 * const transport = new TcpTransport({ tls: { client: { ca: caPem, servername: 'localhost' } } });
 * const connection = await transport.dial('127.0.0.1:7000');
 * ```
 */
export class TcpTransport implements Transport {
  readonly #options: TcpTransportOptions;
  readonly #limits: Required<ConnectionLimits>;
  readonly #logger: Logger;

  constructor(options: TcpTransportOptions = {}) {
    this.#options = options;
    this.#limits = resolveConnectionLimits(options.limits);
    this.#logger = options.logger ?? getDefaultLogger();
  }

  dial(
    address: string,
    options: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<MessageConnection> {
    const { host, port } = parseAddress(address);
    const timeoutMs = options.timeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT;
    const tlsClient = this.#options.tls?.client;
    return new Promise((resolve, reject) => {
      const socket: Socket =
        tlsClient === undefined
          ? netConnect({ host, port })
          : tlsConnect({ servername: host, ...tlsClient, host, port });
      const readyEvent = tlsClient === undefined ? 'connect' : 'secureConnect';
      const fail = (reason: string, cause?: unknown): void => {
        cleanup();
        socket.destroy();
        reject(new UnavailableError(`Cannot connect to ${address}: ${reason}`, { cause }));
      };
      const onError = (error: Error): void => fail(error.message, error);
      const onAbort = (): void => fail('aborted', options.signal?.reason);
      const timer = setTimeout(() => fail(`no connection after ${timeoutMs} ms`), timeoutMs);
      const onReady = (): void => {
        cleanup();
        resolve(new FramedConnection(socket, address, this.#limits, this.#logger));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        socket.off('error', onError);
        socket.off(readyEvent, onReady);
        options.signal?.removeEventListener('abort', onAbort);
      };
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('error', onError);
      socket.once(readyEvent, onReady);
    });
  }

  listen(address: string, onConnection: (connection: MessageConnection) => void): Promise<Listener> {
    const { host, port } = parseAddress(address);
    const tlsServer = this.#options.tls?.server;
    const accept = (socket: Socket): void => {
      const remote = formatAddress(socket.remoteAddress ?? 'unknown', socket.remotePort ?? 0);
      onConnection(new FramedConnection(socket, remote, this.#limits, this.#logger));
    };
    const server: Server =
      tlsServer === undefined ? netCreateServer(accept) : tlsCreateServer(tlsServer, accept);
    if (tlsServer !== undefined) {
      server.on('tlsClientError', (error: Error, socket: Socket) => {
        this.#logger.warn({ remoteAddress: socket.remoteAddress, err: error }, 'TLS handshake failed');
      });
    }
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        server.on('error', (error) => this.#logger.error({ err: error, address }, 'listener failed'));
        const bound = server.address();
        const boundAddress =
          bound !== null && typeof bound === 'object' ? formatAddress(bound.address, bound.port) : address;
        resolve({
          address: boundAddress,
          close: () =>
            new Promise<void>((done) => {
              // server.close() waits for open connections to end; their owners close them.
              server.close();
              done();
            }),
        });
      });
    });
  }
}
