/**
 * {@link connect} and the {@link Client} it returns: the entry point of the
 * TypeScript SDK.
 *
 * @module
 */
import type { ConnectionOptions } from 'node:tls';
import type { Clock } from '../base/clock.ts';
import type { Logger } from '../base/logger.ts';
import type { Random } from '../base/random.ts';
import type { BackoffOptions } from '../transport/backoff.ts';
import type { Transport } from '../transport/message-connection.ts';
import type { RpcClientOptions } from '../transport/rpc-client.ts';
import { Caller, RECONNECT_BACKOFF_DEFAULT, RETRY_BACKOFF_DEFAULT } from './caller.ts';
import { ClusterClient } from './cluster-client.ts';
import { KvClient } from './kv-client.ts';
import { LeaseClient } from './lease-client.ts';
import { REQUEST_TIMEOUT_MS_DEFAULT } from './request-options.ts';
import type { RangeInput } from './requests.ts';
import { type WatchBatch, type WatchOptions, watch } from './watch-client.ts';

/** Options of {@link connect}. */
export interface ConnectOptions {
  /**
   * Client addresses (`host:port`) of the cluster's members: all of them,
   * or some (the client learns the leader's address from the cluster).
   */
  readonly endpoints: readonly string[];
  /**
   * Default deadline of every call, retries included, and of `connect`
   * itself; each call may pass its own. Default 10 000 ms.
   */
  readonly timeoutMs?: number;
  /** Aborts `connect` (not the calls made later: they take their own signal). */
  readonly signal?: AbortSignal;
  /** Connect with TLS, with these options (CA, client certificate...). */
  readonly tls?: ConnectionOptions;
  /** How to reach members (default TCP, or TLS with `tls`); a seam for tests. */
  readonly transport?: Transport;
  /** How long one connection attempt to a member may take (default the transport's, 5 s). */
  readonly connectTimeoutMs?: number;
  /** Pauses between rounds of retries over the members (default 25 ms doubling to 500 ms). */
  readonly retryBackoff?: BackoffOptions;
  /** Reconnect backoff of each member's connection (default 50 ms growing to 1 s). */
  readonly reconnectBackoff?: BackoffOptions;
  /** Time and timers (default the system clock). */
  readonly clock?: Clock;
  /** Jitter of the backoffs (default `Math.random`-based). */
  readonly random?: Random;
  /** Where connections log (default the package's logger). */
  readonly logger?: Logger;
}

/**
 * A connection to a Tessera cluster. Calls go to the leader when the
 * client knows it (from a member's status or a `NOT_LEADER` answer), else
 * to the endpoints in turn; it keeps one connection per member it uses and
 * fails over when a member is unreachable or the leader changes.
 *
 * Namespaces: {@link kv} (the key-value store) and {@link cluster}
 * (members and status). They share the client's connections and leader.
 */
export class Client {
  /** The key-value store. */
  readonly kv: KvClient;
  /** Members and their status. */
  readonly cluster: ClusterClient;
  /** Leases: keys that go when their lease ends. */
  readonly lease: LeaseClient;
  // Every namespace is a class over this one caller, which holds the leader, connections and retries.
  readonly #caller: Caller;

  /** @internal Use {@link connect}. */
  constructor(caller: Caller) {
    this.#caller = caller;
    this.kv = new KvClient(caller);
    this.cluster = new ClusterClient(caller);
    this.lease = new LeaseClient(caller);
  }

  /**
   * The client address of the member calls go to first: the leader when
   * known, else the member that last answered; undefined while none has.
   */
  get activeEndpoint(): string | undefined {
    return this.#caller.activeEndpoint;
  }

  /**
   * Watches a key (`'a'`), a span (`{ key, rangeEnd }`) or a prefix
   * (`{ prefix }`): an async iterator of batches of changes, whole
   * revisions in order. It survives member failures and reconnects without
   * losing or repeating a change (it watches again from the first revision
   * it has not delivered whole); it rejects with `CompactedError` only when
   * the history it needs was compacted. Stop it with `options.signal` or by
   * leaving the loop.
   *
   * @example
   * ```ts
   * const stop = new AbortController();
   * for await (const { events } of client.watch({ prefix: 'jobs/' }, { signal: stop.signal, prevKv: true })) {
   *   for (const event of events) console.log(event.type, text(event.kv.key), text(event.kv.value));
   * }
   * ```
   */
  watch(input: RangeInput, options: WatchOptions = {}): AsyncGenerator<WatchBatch> {
    return watch(this.#caller, input, options);
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#caller.closed;
  }

  /**
   * Closes every connection. Calls in flight reject with `CancelledError`
   * (a write in flight may still take effect), as does every later call.
   * Idempotent.
   *
   * @example
   * ```ts
   * const client = await connect({ endpoints: ['127.0.0.1:2379'] });
   * try {
   *   await client.kv.put('a', '1');
   * } finally {
   *   client.close();
   * }
   * ```
   */
  close(): void {
    this.#caller.close();
  }
}

/**
 * Connects to a cluster: asks the endpoints for their status until one
 * answers, and learns from it which member leads. No connection is opened
 * to the other members until a call needs one.
 *
 * @throws {TypeError} when an endpoint is not `host:port`.
 * @throws {RangeError} when `endpoints` is empty or a timeout or backoff setting is out of range.
 * @throws {DeadlineExceededError} (rejects) when no endpoint answered within `timeoutMs`.
 * @throws {CancelledError} (rejects) when `signal` aborted.
 *
 * @example
 * ```ts
 * import { connect, text } from 'tessera/client';
 *
 * const client = await connect({ endpoints: ['127.0.0.1:2379', '127.0.0.1:2479', '127.0.0.1:2579'] });
 * await client.kv.put('greeting', 'hello');
 * const kv = await client.kv.get('greeting');
 * console.log(kv === undefined ? 'missing' : text(kv.value)); // "hello"
 * client.close();
 * ```
 */
export async function connect(options: ConnectOptions): Promise<Client> {
  if (typeof options !== 'object' || options === null || !Array.isArray(options.endpoints)) {
    throw new TypeError('Cannot connect: options.endpoints must be an array of host:port strings');
  }
  const connection: Omit<RpcClientOptions, 'address'> = {
    backoff: options.reconnectBackoff ?? RECONNECT_BACKOFF_DEFAULT,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.transport === undefined ? {} : { transport: options.transport }),
    ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.random === undefined ? {} : { random: options.random }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  };
  const caller = new Caller({
    endpoints: options.endpoints,
    timeoutMs: options.timeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT,
    retryBackoff: options.retryBackoff ?? RETRY_BACKOFF_DEFAULT,
    connection,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.random === undefined ? {} : { random: options.random }),
  });
  try {
    await caller.findLeader(options.signal === undefined ? {} : { signal: options.signal });
  } catch (error) {
    caller.close();
    throw error;
  }
  return new Client(caller);
}
