/**
 * Typed services without code generation.
 *
 * A service is a plain object describing its methods; the server's handlers
 * and the client's stub both take their types from it, so a change to a
 * method's request type is a compile error on both sides.
 *
 * @example
 * ```ts
 * const Greeter = defineService('greeter', {
 *   hello: unary<{ name: string }, { greeting: string }>(),
 *   countdown: serverStream<{ from: number }, number>(),
 * });
 * server.register(Greeter, {
 *   hello: ({ name }) => ({ greeting: `hello ${name}` }),
 *   async *countdown({ from }) { for (let i = from; i > 0; i--) yield i; },
 * });
 * const greeter = client.service(Greeter);
 * const { greeting } = await greeter.hello({ name: 'ada' }, { timeoutMs: 500 });
 * for await (const n of greeter.countdown({ from: 3 })) console.log(n);
 * ```
 *
 * @module
 */

/** Checks and narrows an incoming request; throws to refuse it. */
export type Validator<T> = (request: unknown) => T;

/** A method answering one request with one response. */
export interface UnaryMethod<Request, Response> {
  readonly kind: 'unary';
  readonly validate: Validator<Request> | undefined;
  /** Carries the types only; never set at run time. */
  readonly types?: { request: Request; response: Response };
}

/** A method answering one request with a stream of items. */
export interface ServerStreamMethod<Request, Item> {
  readonly kind: 'serverStream';
  readonly validate: Validator<Request> | undefined;
  /** Carries the types only; never set at run time. */
  readonly types?: { request: Request; item: Item };
}

/** Any method definition. */
export type MethodDefinition = UnaryMethod<unknown, unknown> | ServerStreamMethod<unknown, unknown>;

/** A named set of methods. */
export interface ServiceDefinition<Methods extends Record<string, MethodDefinition>> {
  readonly name: string;
  readonly methods: Methods;
}

/** Any service definition. */
export type AnyService = ServiceDefinition<Record<string, MethodDefinition>>;

/**
 * Declares a unary method. `validate`, when given, runs on the server before
 * the handler; whatever it throws goes back to the caller as
 * `INVALID_ARGUMENT` and the handler never runs.
 */
export function unary<Request, Response>(
  options: { validate?: Validator<Request> } = {},
): UnaryMethod<Request, Response> {
  return { kind: 'unary', validate: options.validate };
}

/** Declares a server-streaming method (see {@link unary} for `validate`). */
export function serverStream<Request, Item>(
  options: { validate?: Validator<Request> } = {},
): ServerStreamMethod<Request, Item> {
  return { kind: 'serverStream', validate: options.validate };
}

const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * Defines a service.
 *
 * @throws {TypeError} when the service or a method name is not an identifier (1–64 characters).
 */
export function defineService<const Methods extends Record<string, MethodDefinition>>(
  name: string,
  methods: Methods,
): ServiceDefinition<Methods> {
  if (!NAME_PATTERN.test(name))
    throw new TypeError(`Cannot define service: bad name ${JSON.stringify(name)}`);
  for (const method of Object.keys(methods)) {
    if (!NAME_PATTERN.test(method)) {
      throw new TypeError(`Cannot define service ${name}: bad method name ${JSON.stringify(method)}`);
    }
  }
  return { name, methods };
}

/** What a server handler is told about its call. */
export interface CallContext {
  /** Aborted when the client cancels, the deadline passes or the connection drops. */
  readonly signal: AbortSignal;
  /** Milliseconds left before the caller's deadline, or undefined when it set none. */
  readonly timeRemainingMs: number | undefined;
  /** `service.method`. */
  readonly method: string;
  /** The caller's address. */
  readonly remoteAddress: string;
}

/** Per-call options on the client. */
export interface CallOptions {
  /** The call fails with `DEADLINE_EXCEEDED` after this long; the server is told and its handler's signal aborts. */
  timeoutMs?: number;
  /** Aborting cancels the call on both sides (`CANCELLED`). */
  signal?: AbortSignal;
  /**
   * While the client is reconnecting, wait for the connection (bounded by
   * `timeoutMs` and `signal`) instead of failing at once with `UNAVAILABLE`.
   */
  waitForReady?: boolean;
}

/** A stream of items from the server; breaking out of `for await` cancels it. */
export interface ClientStream<Item> extends AsyncIterableIterator<Item> {
  /** Cancels the stream on both sides. */
  cancel(): void;
}

/** The handlers a server supplies for a service. */
export type ServiceHandlers<Service extends AnyService> = {
  [Name in keyof Service['methods']]: Service['methods'][Name] extends UnaryMethod<
    infer Request,
    infer Response
  >
    ? (request: Request, context: CallContext) => Promise<Response> | Response
    : Service['methods'][Name] extends ServerStreamMethod<infer Request, infer Item>
      ? (request: Request, context: CallContext) => AsyncIterable<Item> | Iterable<Item>
      : never;
};

/** The client stub for a service. */
export type ServiceClient<Service extends AnyService> = {
  [Name in keyof Service['methods']]: Service['methods'][Name] extends UnaryMethod<
    infer Request,
    infer Response
  >
    ? (request: Request, options?: CallOptions) => Promise<Response>
    : Service['methods'][Name] extends ServerStreamMethod<infer Request, infer Item>
      ? (request: Request, options?: CallOptions) => ClientStream<Item>
      : never;
};
