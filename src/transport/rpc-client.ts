/**
 * The RPC client: one multiplexed connection, typed stubs, deadlines,
 * cancellation, streams with backpressure, and reconnection with backoff.
 *
 * Connection states follow gRPC's: `idle` (never dialed) → `connecting` →
 * `ready`; a failed dial or a dropped connection goes to `backoff`, and the
 * client redials on its own until closed. Calls made in `backoff` fail at
 * once with `UNAVAILABLE` (nothing was sent, safe to retry) unless they ask
 * `waitForReady`. Calls in flight when a connection drops fail with
 * `CONNECTION_LOST`: their outcome is unknown.
 *
 * @module
 */
import type { ConnectionOptions } from 'node:tls';
import { type Clock, systemClock, type TimerHandle } from '../base/clock.ts';
import {
  CancelledError,
  ConnectionLostError,
  DeadlineExceededError,
  errorFromWire,
  LimitExceededError,
  ProtocolError,
  UnavailableError,
} from '../base/errors.ts';
import { getDefaultLogger, type Logger } from '../base/logger.ts';
import { type Random, systemRandom } from '../base/random.ts';
import { type BackoffOptions, backoffDelayMs } from './backoff.ts';
import { ClientStreamImpl } from './client-stream.ts';
import type { ConnectionLimits, MessageConnection, Transport } from './message-connection.ts';
import {
  CANCEL,
  CREDIT,
  ERROR,
  GOAWAY,
  parseServerMessage,
  REQUEST,
  RESPONSE,
  STREAM_END,
  STREAM_ITEM,
  TIMEOUT_MS_MAX,
} from './rpc-protocol.ts';
import type { AnyService, CallOptions, ClientStream, ServiceClient } from './service.ts';
import { CONNECT_TIMEOUT_MS_DEFAULT, TcpTransport } from './tcp-transport.ts';

/** Default most calls in flight on one client. */
export const CLIENT_CALLS_IN_FLIGHT_MAX_DEFAULT = 16_384;
/** Default stream window: items the server may send ahead of what was consumed. */
export const STREAM_WINDOW_DEFAULT = 64;

/** Options of an {@link RpcClient}. */
export interface RpcClientOptions {
  /** `host:port` of the server. */
  address: string;
  /** How to connect. Default: TCP (TLS with `tls`). */
  transport?: Transport;
  /** Shorthand for a TLS `TcpTransport`; ignored when `transport` is given. */
  tls?: ConnectionOptions;
  /** Byte limits of the default transport. */
  connectionLimits?: ConnectionLimits;
  connectTimeoutMs?: number;
  backoff?: BackoffOptions;
  callsInFlightMax?: number;
  streamWindow?: number;
  clock?: Clock;
  /** Jitter for backoff. */
  random?: Random;
  logger?: Logger;
}

/** The client's connection state. */
export type ClientState = 'idle' | 'connecting' | 'ready' | 'backoff' | 'closed';

interface PendingCall {
  readonly method: string;
  /** The connection the request went out on; answers, cancels and credits use it. */
  readonly connection: MessageConnection;
  readonly resolve: ((value: unknown) => void) | undefined;
  readonly reject: ((error: Error) => void) | undefined;
  readonly stream: ClientStreamImpl<unknown> | undefined;
  timer: TimerHandle | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

interface ReadyWaiter {
  readonly waitForReady: boolean;
  readonly resolve: (connection: MessageConnection) => void;
  readonly reject: (error: Error) => void;
}

const NO_OPTIONS: CallOptions = {};

/**
 * Calls typed services on one server.
 *
 * @example
 * ```ts
 * const client = new RpcClient({ address: '127.0.0.1:7000' });
 * const greeter = client.service(Greeter);
 * const reply = await greeter.hello({ name: 'ada' }, { timeoutMs: 500 });
 * client.close();
 * ```
 */
export class RpcClient {
  /** The server's address. */
  readonly address: string;
  readonly #transport: Transport;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #logger: Logger;
  readonly #connectTimeoutMs: number;
  readonly #backoff: BackoffOptions;
  readonly #callsInFlightMax: number;
  readonly #streamWindow: number;
  readonly #calls = new Map<number, PendingCall>();
  readonly #readyWaiters = new Set<ReadyWaiter>();
  #state: ClientState = 'idle';
  #connection: MessageConnection | undefined;
  /** Connections the server sent GOAWAY on, finishing their accepted calls. */
  readonly #draining = new Set<MessageConnection>();
  #nextCallId = 1;
  #failedAttempts = 0;
  #retryTimer: TimerHandle | undefined;
  #lastError: Error | undefined;

  constructor(options: RpcClientOptions) {
    this.address = options.address;
    this.#logger = options.logger ?? getDefaultLogger();
    this.#transport =
      options.transport ??
      new TcpTransport({
        ...(options.tls === undefined ? {} : { tls: { client: options.tls } }),
        ...(options.connectionLimits === undefined ? {} : { limits: options.connectionLimits }),
        logger: this.#logger,
      });
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT;
    this.#backoff = options.backoff ?? {};
    backoffDelayMs(0, this.#random, this.#backoff); // validates the settings now, not at the first failure
    this.#callsInFlightMax = options.callsInFlightMax ?? CLIENT_CALLS_IN_FLIGHT_MAX_DEFAULT;
    this.#streamWindow = options.streamWindow ?? STREAM_WINDOW_DEFAULT;
    for (const [name, value] of [
      ['connectTimeoutMs', this.#connectTimeoutMs],
      ['callsInFlightMax', this.#callsInFlightMax],
      ['streamWindow', this.#streamWindow],
    ] as const) {
      if (!(Number.isSafeInteger(value) && value > 0)) {
        throw new RangeError(`Cannot create RpcClient: ${name} must be a positive integer, got ${value}`);
      }
    }
  }

  /** Where the connection stands. */
  get state(): ClientState {
    return this.#state;
  }

  /** Calls awaiting an answer. */
  get callsInFlight(): number {
    return this.#calls.size;
  }

  /** Connects now (instead of at the first call); waits through retries until ready, bounded by the options. */
  async connect(options: Omit<CallOptions, 'waitForReady'> = {}): Promise<void> {
    await this.#whenReady({ ...options, waitForReady: true }, this.#deadlineOf(options));
  }

  /** A typed stub for `service`. */
  service<Service extends AnyService>(service: Service): ServiceClient<Service> {
    const stub: Record<string, unknown> = {};
    for (const [name, definition] of Object.entries(service.methods)) {
      const method = `${service.name}.${name}`;
      stub[name] =
        definition.kind === 'unary'
          ? (request: unknown, options?: CallOptions) => this.unary(method, request, options)
          : (request: unknown, options?: CallOptions) => this.stream(method, request, options);
    }
    return stub as ServiceClient<Service>;
  }

  /** Calls a unary method by its full name (`service.method`). Prefer {@link service}. */
  unary(method: string, request: unknown, options: CallOptions = NO_OPTIONS): Promise<unknown> {
    const deadlineMs = this.#deadlineOf(options);
    const connection = this.#connection;
    if (this.#state === 'ready' && connection !== undefined) {
      return this.#startUnary(connection, method, request, options, deadlineMs);
    }
    return this.#whenReady(options, deadlineMs).then((ready) =>
      this.#startUnary(ready, method, request, options, deadlineMs),
    );
  }

  /** Calls a server-streaming method by its full name. Prefer {@link service}. */
  stream(method: string, request: unknown, options: CallOptions = NO_OPTIONS): ClientStream<unknown> {
    const deadlineMs = this.#deadlineOf(options);
    const stream = new ClientStreamImpl<unknown>(this.#streamWindow);
    const start = (connection: MessageConnection): void => {
      if (stream.finished) return;
      try {
        this.#startCall(connection, method, request, options, deadlineMs, {
          resolve: undefined,
          reject: undefined,
          stream,
        });
      } catch (error) {
        stream.fail(error as Error);
      }
    };
    const connection = this.#connection;
    if (this.#state === 'ready' && connection !== undefined) start(connection);
    else this.#whenReady(options, deadlineMs).then(start, (error: Error) => stream.fail(error));
    return stream;
  }

  /** Writes the calls queued on the connection now rather than at the end of this turn (see `MessageConnection.flush`). */
  flush(): void {
    this.#connection?.flush();
  }

  /** Closes the connection and fails every call and waiter with `CANCELLED`. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (this.#retryTimer !== undefined) this.#clock.clearTimer(this.#retryTimer);
    for (const waiter of this.#readyWaiters)
      waiter.reject(new UnavailableError(`Cannot reach ${this.address}: client closed`));
    this.#readyWaiters.clear();
    for (const id of [...this.#calls.keys()])
      this.#failCall(id, new CancelledError('Call cancelled: client closed'), false);
    this.#connection?.close();
    this.#connection = undefined;
    for (const connection of this.#draining) connection.close();
  }

  #deadlineOf(options: CallOptions): number | undefined {
    const timeoutMs = options.timeoutMs;
    if (timeoutMs === undefined) return undefined;
    if (!(timeoutMs > 0 && timeoutMs <= TIMEOUT_MS_MAX)) {
      throw new RangeError(`Cannot call: timeoutMs must be in (0, ${TIMEOUT_MS_MAX}], got ${timeoutMs}`);
    }
    return this.#clock.now() + timeoutMs;
  }

  #startUnary(
    connection: MessageConnection,
    method: string,
    request: unknown,
    options: CallOptions,
    deadlineMs: number | undefined,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      try {
        this.#startCall(connection, method, request, options, deadlineMs, {
          resolve,
          reject,
          stream: undefined,
        });
      } catch (error) {
        reject(error);
      }
    });
  }

  /** Registers and sends a call; throws (having sent nothing) when it cannot start. */
  #startCall(
    connection: MessageConnection,
    method: string,
    request: unknown,
    options: CallOptions,
    deadlineMs: number | undefined,
    settle: Pick<PendingCall, 'resolve' | 'reject' | 'stream'>,
  ): void {
    const signal = options.signal;
    if (signal?.aborted === true)
      throw new CancelledError(`Call ${method} cancelled before it started`, { cause: signal.reason });
    if (this.#calls.size >= this.#callsInFlightMax) {
      throw new LimitExceededError(
        `Cannot call ${method}: callsInFlightMax (${this.#callsInFlightMax}) reached`,
      );
    }
    let timeoutMs = 0;
    if (deadlineMs !== undefined) {
      timeoutMs = Math.ceil(deadlineMs - this.#clock.now());
      if (timeoutMs <= 0)
        throw new DeadlineExceededError(`Call ${method} exceeded its deadline before it was sent`);
    }
    const id = this.#nextCallId++;
    const window = settle.stream === undefined ? 0 : this.#streamWindow;
    connection.send([REQUEST, id, method, request, timeoutMs, window]); // throws TooLargeError, nothing sent
    const call: PendingCall = {
      method,
      connection,
      ...settle,
      timer: undefined,
      signal: undefined,
      onAbort: undefined,
    };
    this.#calls.set(id, call);
    if (timeoutMs > 0) {
      call.timer = this.#clock.setTimer(
        () =>
          this.#failCall(
            id,
            new DeadlineExceededError(`Call ${method} exceeded its ${options.timeoutMs} ms deadline`),
            true,
          ),
        timeoutMs,
      );
    }
    if (signal !== undefined) {
      call.signal = signal;
      call.onAbort = () =>
        this.#failCall(id, new CancelledError(`Call ${method} cancelled`, { cause: signal.reason }), true);
      signal.addEventListener('abort', call.onAbort, { once: true });
    }
    settle.stream?.attach({
      credit: (items) => {
        if (this.#calls.has(id)) connection.send([CREDIT, id, items]);
      },
      cancel: () => this.#failCall(id, new CancelledError(`Stream ${method} cancelled`), true),
    });
  }

  /** Forgets a call and releases its timer and abort listener. */
  #settle(id: number): PendingCall | undefined {
    const call = this.#calls.get(id);
    if (call === undefined) return undefined;
    this.#calls.delete(id);
    if (call.timer !== undefined) this.#clock.clearTimer(call.timer);
    if (call.onAbort !== undefined) call.signal?.removeEventListener('abort', call.onAbort);
    return call;
  }

  #failCall(id: number, error: Error, tellServer: boolean): void {
    const call = this.#settle(id);
    if (call === undefined) return;
    if (tellServer) call.connection.send([CANCEL, id]);
    call.reject?.(error);
    call.stream?.fail(error);
  }

  #receive(connection: MessageConnection, raw: unknown): void {
    let message: ReturnType<typeof parseServerMessage>;
    try {
      message = parseServerMessage(raw);
    } catch (error) {
      this.#logger.warn(
        { address: this.address, err: error },
        'closing connection: bad RPC message from server',
      );
      connection.close(error as Error);
      return;
    }
    switch (message.type) {
      case RESPONSE:
        this.#settle(message.id)?.resolve?.(message.payload);
        break;
      case ERROR: {
        const call = this.#settle(message.id);
        const error = errorFromWire(message.code, message.message, message.details);
        call?.reject?.(error);
        call?.stream?.fail(error);
        break;
      }
      case STREAM_ITEM: {
        const call = this.#calls.get(message.id);
        if (call === undefined) break;
        if (call.stream === undefined) {
          this.#failCall(
            message.id,
            new ProtocolError(`Cannot accept stream item for unary call ${call.method}`),
            true,
          );
        } else {
          call.stream.push(message.payload);
        }
        break;
      }
      case STREAM_END:
        this.#settle(message.id)?.stream?.end();
        break;
      case GOAWAY:
        this.#goAway(connection, message.id);
        break;
    }
  }

  /** The server is closing `connection`: calls above `lastId` never ran; new calls need a new connection. */
  #goAway(connection: MessageConnection, lastId: number): void {
    for (const [id, call] of [...this.#calls]) {
      if (call.connection === connection && id > lastId) {
        this.#failCall(
          id,
          new UnavailableError(
            `Cannot run ${call.method}: ${this.address} is shutting down and did not run it; safe to retry`,
          ),
          false,
        );
      }
    }
    if (connection !== this.#connection) return;
    // Accepted calls finish on the old connection, which the server closes when they are done.
    this.#draining.add(connection);
    this.#connection = undefined;
    if (this.#state !== 'closed') this.#dial();
  }

  #whenReady(options: CallOptions, deadlineMs: number | undefined): Promise<MessageConnection> {
    const connection = this.#connection;
    if (this.#state === 'ready' && connection !== undefined) return Promise.resolve(connection);
    if (this.#state === 'closed')
      return Promise.reject(new UnavailableError(`Cannot reach ${this.address}: client closed`));
    if (this.#state === 'backoff' && options.waitForReady !== true) {
      return Promise.reject(
        new UnavailableError(
          `Cannot reach ${this.address}: reconnecting after ${this.#lastError?.message ?? 'a failure'}`,
          {
            cause: this.#lastError,
          },
        ),
      );
    }
    if (this.#state === 'idle') this.#dial();
    return new Promise((resolve, reject) => {
      let timer: TimerHandle | undefined;
      const signal = options.signal;
      const done = (): void => {
        this.#readyWaiters.delete(waiter);
        if (timer !== undefined) this.#clock.clearTimer(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        done();
        reject(new CancelledError('Call cancelled while connecting', { cause: signal?.reason }));
      };
      const waiter: ReadyWaiter = {
        waitForReady: options.waitForReady === true,
        resolve: (ready) => {
          done();
          resolve(ready);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
      if (signal?.aborted === true) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      if (deadlineMs !== undefined) {
        timer = this.#clock.setTimer(
          () => {
            done();
            reject(new DeadlineExceededError(`Cannot reach ${this.address} before the call's deadline`));
          },
          Math.max(0, deadlineMs - this.#clock.now()),
        );
      }
      this.#readyWaiters.add(waiter);
    });
  }

  #dial(): void {
    this.#state = 'connecting';
    this.#retryTimer = undefined;
    this.#transport.dial(this.address, { timeoutMs: this.#connectTimeoutMs }).then(
      (connection) => this.#connected(connection),
      (error: Error) => this.#dialFailed(error),
    );
  }

  #connected(connection: MessageConnection): void {
    if (this.#state === 'closed') {
      connection.close();
      return;
    }
    this.#state = 'ready';
    this.#failedAttempts = 0;
    this.#connection = connection;
    connection.start({
      message: (message) => this.#receive(connection, message),
      close: (error) => this.#connectionClosed(connection, error),
    });
    for (const waiter of [...this.#readyWaiters]) waiter.resolve(connection);
  }

  #dialFailed(error: Error): void {
    if (this.#state === 'closed') return;
    this.#lastError = error;
    this.#logger.debug({ address: this.address, err: error }, 'connect failed; backing off');
    this.#state = 'backoff';
    for (const waiter of [...this.#readyWaiters]) {
      if (!waiter.waitForReady)
        waiter.reject(
          new UnavailableError(`Cannot reach ${this.address}: ${error.message}`, { cause: error }),
        );
    }
    const delayMs = backoffDelayMs(this.#failedAttempts++, this.#random, this.#backoff);
    this.#retryTimer = this.#clock.setTimer(() => this.#dial(), delayMs);
  }

  #connectionClosed(connection: MessageConnection, error: Error | undefined): void {
    this.#draining.delete(connection);
    for (const [id, call] of [...this.#calls]) {
      if (call.connection !== connection) continue;
      this.#failCall(
        id,
        new ConnectionLostError(
          `Connection to ${this.address} lost during ${call.method}; the outcome is unknown`,
          {
            cause: error,
          },
        ),
        false,
      );
    }
    if (connection !== this.#connection) return;
    this.#connection = undefined;
    this.#lastError = error ?? new ConnectionLostError(`Connection to ${this.address} closed by the server`);
    if (this.#state === 'closed') return;
    // A connection that was up redials at once; backoff applies only if that fails.
    this.#dial();
  }
}
