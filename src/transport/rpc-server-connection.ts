/**
 * One accepted connection on an {@link RpcServer}: runs the calls it
 * carries, enforces per-connection limits, and tears every call down when
 * the connection goes.
 *
 * @module
 */
import type { Clock, TimerHandle } from '../base/clock.ts';
import {
  CancelledError,
  ConnectionLostError,
  DeadlineExceededError,
  InvalidArgumentError,
  LimitExceededError,
  ProtocolError,
  TesseraError,
  TooLargeError,
  UnknownMethodError,
} from '../base/errors.ts';
import type { Logger } from '../base/logger.ts';
import type { MessageConnection } from './message-connection.ts';
import {
  CANCEL,
  type ClientMessage,
  CREDIT,
  ERROR,
  GOAWAY,
  parseClientMessage,
  REQUEST,
  RESPONSE,
  STREAM_END,
  STREAM_ITEM,
} from './rpc-protocol.ts';
import type { CallContext, MethodDefinition } from './service.ts';

/**
 * The reason a call's signal aborts with when the call is over: one shared
 * error, as every call ends so (an error made per call, with its stack,
 * cost more than the rest of a small call's bookkeeping).
 */
const CALL_FINISHED = new CancelledError('The call finished');

/** A registered method with its handler, as the server keeps it. */
export interface RegisteredMethod {
  readonly definition: MethodDefinition;
  readonly handler: (request: unknown, context: CallContext) => unknown;
}

/** Limits each server connection enforces. */
export interface ServerConnectionLimits {
  /** Calls running at once on one connection; more are refused with `LIMIT_EXCEEDED`. */
  callsInFlightMax: number;
  /** Largest stream window a client may ask for (items in flight per stream). */
  streamWindowMax: number;
}

/**
 * One call's state. The `AbortController` is made only when the handler
 * reads `context.signal`: most unary handlers never do, and the controller is
 * the costliest object a call would otherwise allocate.
 */
class ServerCall implements CallContext {
  readonly id: number;
  readonly method: string;
  readonly remoteAddress: string;
  readonly #clock: Clock;
  readonly #deadlineMs: number | undefined;
  #controller: AbortController | undefined;
  abortReason: Error | undefined;
  timer: TimerHandle | undefined;
  credit: number;
  wakeStream: (() => void) | undefined;

  constructor(
    id: number,
    method: string,
    remoteAddress: string,
    clock: Clock,
    timeoutMs: number,
    credit: number,
  ) {
    this.id = id;
    this.method = method;
    this.remoteAddress = remoteAddress;
    this.#clock = clock;
    this.#deadlineMs = timeoutMs > 0 ? clock.now() + timeoutMs : undefined;
    this.credit = credit;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.abortReason !== undefined) this.#controller.abort(this.abortReason);
    }
    return this.#controller.signal;
  }

  get timeRemainingMs(): number | undefined {
    return this.#deadlineMs === undefined ? undefined : Math.max(0, this.#deadlineMs - this.#clock.now());
  }

  get aborted(): boolean {
    return this.abortReason !== undefined;
  }

  abort(reason: Error): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.#controller?.abort(reason);
    this.wakeStream?.();
  }
}

/** Serves the calls of one connection. Created by {@link RpcServer}. */
export class RpcServerConnection {
  readonly #connection: MessageConnection;
  readonly #methods: ReadonlyMap<string, RegisteredMethod>;
  readonly #limits: ServerConnectionLimits;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #onClosed: (connection: RpcServerConnection) => void;
  readonly #calls = new Map<number, ServerCall>();
  #callsIdle: (() => void) | undefined;
  // Invariant: every REQUEST id is above the one before it; #lastRequestId is the highest seen.
  #lastRequestId = 0;
  #goingAway = false;

  constructor(
    connection: MessageConnection,
    methods: ReadonlyMap<string, RegisteredMethod>,
    limits: ServerConnectionLimits,
    clock: Clock,
    logger: Logger,
    onClosed: (connection: RpcServerConnection) => void,
  ) {
    this.#connection = connection;
    this.#methods = methods;
    this.#limits = limits;
    this.#clock = clock;
    this.#logger = logger;
    this.#onClosed = onClosed;
    connection.start({
      message: (message) => this.#receive(message),
      close: (error) => this.#closed(error),
    });
  }

  /** Calls running now. */
  get callsInFlight(): number {
    return this.#calls.size;
  }

  /** Resolves once no call is running. */
  idle(): Promise<void> {
    if (this.#calls.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#callsIdle = resolve;
    });
  }

  /**
   * Starts a graceful close: tells the client the last call this server
   * accepted, and refuses every later one (the client fails those as
   * `UNAVAILABLE`, safe to retry). Calls already accepted run on.
   */
  goAway(): void {
    if (this.#goingAway) return;
    this.#goingAway = true;
    this.#connection.send([GOAWAY, this.#lastRequestId]);
  }

  /** Closes the connection, aborting every call still running. */
  close(error?: Error): void {
    this.#connection.close(error);
  }

  #receive(raw: unknown): void {
    let message: ClientMessage;
    try {
      message = parseClientMessage(raw);
    } catch (error) {
      this.#logger.warn(
        { remoteAddress: this.#connection.remoteAddress, err: error },
        'closing connection: bad RPC message',
      );
      this.#connection.close(error as Error);
      return;
    }
    switch (message.type) {
      case REQUEST:
        this.#start(message);
        break;
      case CANCEL: {
        const call = this.#calls.get(message.id);
        if (call !== undefined)
          this.#finish(call, new CancelledError(`Call ${call.method} cancelled by the client`));
        break;
      }
      case CREDIT: {
        const call = this.#calls.get(message.id);
        if (call === undefined) break;
        call.credit += message.items;
        if (call.credit > this.#limits.streamWindowMax) {
          this.#connection.close(
            new ProtocolError(`Cannot accept credit: stream window over ${this.#limits.streamWindowMax}`),
          );
          break;
        }
        call.wakeStream?.();
        break;
      }
    }
  }

  #start(request: Extract<ClientMessage, { type: typeof REQUEST }>): void {
    const { id, method } = request;
    if (id <= this.#lastRequestId) {
      this.#connection.close(
        new ProtocolError(
          `Cannot start call ${id}: call ids must increase (last was ${this.#lastRequestId})`,
        ),
      );
      return;
    }
    // After GOAWAY the client knows this call was not run: no answer is owed.
    if (this.#goingAway) return;
    this.#lastRequestId = id;
    const registered = this.#methods.get(method);
    if (registered === undefined) {
      this.#sendError(id, new UnknownMethodError(`Cannot call ${method}: no such method on this server`));
      return;
    }
    if (this.#calls.size >= this.#limits.callsInFlightMax) {
      this.#sendError(
        id,
        new LimitExceededError(
          `Cannot start ${method}: callsInFlightMax (${this.#limits.callsInFlightMax}) reached on this connection`,
        ),
      );
      return;
    }
    const streaming = registered.definition.kind === 'serverStream';
    if (streaming && !(request.streamWindow >= 1 && request.streamWindow <= this.#limits.streamWindowMax)) {
      this.#sendError(
        id,
        new InvalidArgumentError(
          `Cannot start ${method}: stream window must be in [1, ${this.#limits.streamWindowMax}], got ${request.streamWindow}`,
        ),
      );
      return;
    }
    let payload = request.payload;
    const validate = registered.definition.validate;
    if (validate !== undefined) {
      try {
        payload = validate(payload);
      } catch (error) {
        // A typed refusal keeps its code (TOO_LARGE, LIMIT_EXCEEDED...); anything else is a bad argument.
        const refusal =
          error instanceof TesseraError
            ? error
            : new InvalidArgumentError(`Cannot call ${method}: ${(error as Error).message}`);
        this.#sendError(id, refusal);
        return;
      }
    }
    const call = new ServerCall(
      id,
      method,
      this.#connection.remoteAddress,
      this.#clock,
      request.timeoutMs,
      request.streamWindow,
    );
    this.#calls.set(id, call);
    if (request.timeoutMs > 0) {
      call.timer = this.#clock.setTimer(() => {
        const error = new DeadlineExceededError(
          `Call ${method} exceeded its ${request.timeoutMs} ms deadline`,
        );
        this.#sendError(id, error);
        this.#finish(call, error);
      }, request.timeoutMs);
    }
    if (streaming) void this.#runStream(call, registered, payload);
    else this.#runUnary(call, registered, payload);
  }

  #runUnary(call: ServerCall, registered: RegisteredMethod, payload: unknown): void {
    let result: unknown;
    try {
      result = registered.handler(payload, call);
    } catch (error) {
      this.#answerError(call, error);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value) => this.#answer(call, value),
        (error) => this.#answerError(call, error),
      );
    } else {
      this.#answer(call, result);
    }
  }

  #answer(call: ServerCall, value: unknown): void {
    if (call.aborted) return;
    try {
      this.#connection.send([RESPONSE, call.id, value]);
    } catch (error) {
      this.#answerError(call, error);
      return;
    }
    this.#finish(call, undefined);
  }

  #answerError(call: ServerCall, error: unknown): void {
    if (call.aborted) return;
    this.#sendError(call.id, error);
    this.#finish(call, undefined);
  }

  async #runStream(call: ServerCall, registered: RegisteredMethod, payload: unknown): Promise<void> {
    let iterator: AsyncIterator<unknown> | Iterator<unknown> | undefined;
    try {
      const iterable = registered.handler(payload, call) as AsyncIterable<unknown> | Iterable<unknown>;
      iterator =
        Symbol.asyncIterator in iterable
          ? iterable[Symbol.asyncIterator]()
          : (iterable as Iterable<unknown>)[Symbol.iterator]();
      for (;;) {
        // Backpressure: pull the next item only when the client has room for it.
        while (call.credit === 0 && !call.aborted)
          await new Promise<void>((wake) => (call.wakeStream = wake));
        call.wakeStream = undefined;
        if (call.aborted) break;
        const step = await iterator.next();
        if (call.aborted) break;
        if (step.done === true) {
          this.#connection.send([STREAM_END, call.id]);
          this.#finish(call, undefined);
          return;
        }
        call.credit--;
        if (!this.#connection.send([STREAM_ITEM, call.id, step.value])) await this.#connection.drained();
      }
      await iterator.return?.();
    } catch (error) {
      if (call.aborted) return;
      this.#sendError(call.id, error);
      this.#finish(call, undefined);
      await Promise.resolve(iterator?.return?.()).catch(() => {});
    }
  }

  #sendError(id: number, error: unknown): void {
    let code = 'INTERNAL';
    let message = String(error);
    let details: Record<string, unknown> | null = null;
    if (error instanceof TesseraError) {
      code = error.code;
      message = error.message;
      details = error.details ?? null;
    } else if (error instanceof Error) {
      message = error.message;
      const errorCode = (error as { code?: unknown }).code;
      if (typeof errorCode === 'string' && /^[A-Z][A-Z_]{0,63}$/.test(errorCode)) code = errorCode;
      else
        this.#logger.warn(
          { err: error, remoteAddress: this.#connection.remoteAddress },
          'RPC handler failed',
        );
    }
    try {
      this.#connection.send([ERROR, id, code, message, details]);
    } catch (sendError) {
      // Details too large for a frame: send the code and message alone.
      if (!(sendError instanceof TooLargeError)) throw sendError;
      this.#connection.send([ERROR, id, code, message.slice(0, 1024), null]);
    }
  }

  /** Removes a call; with `reason`, aborts it (its handler's signal fires). */
  #finish(call: ServerCall, reason: Error | undefined): void {
    if (this.#calls.get(call.id) !== call) return;
    this.#calls.delete(call.id);
    if (call.timer !== undefined) this.#clock.clearTimer(call.timer);
    call.abort(reason ?? CALL_FINISHED);
    if (this.#calls.size === 0) {
      const idle = this.#callsIdle;
      this.#callsIdle = undefined;
      idle?.();
    }
  }

  #closed(error: Error | undefined): void {
    for (const call of [...this.#calls.values()]) {
      this.#finish(
        call,
        new ConnectionLostError(`Connection from ${call.remoteAddress} closed`, { cause: error }),
      );
    }
    this.#onClosed(this);
  }
}
