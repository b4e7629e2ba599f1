/**
 * The transport seam: connections that carry whole messages.
 *
 * The RPC layer (and later the peer layer) is written against these
 * interfaces only. {@link TcpTransport} implements them over TCP or TLS with
 * checksummed frames; {@link MemoryTransport} in process, for tests and the
 * simulator. Both deliver messages in order, at most once, and never call a
 * handler synchronously from `send`.
 *
 * @module
 */

/** Callbacks a connection delivers to. Set once, with `start`. */
export interface ConnectionHandler {
  /** One decoded message, in the order the peer sent them. */
  message(message: unknown): void;
  /**
   * The connection is closed, by either side. `error` is set when it closed
   * because of a failure (peer reset, bad frame, limit exceeded); it is
   * called exactly once.
   */
  close(error: Error | undefined): void;
}

/** A connection carrying whole messages in both directions. */
export interface MessageConnection {
  /** `host:port` (or a memory address) of the other end. */
  readonly remoteAddress: string;
  /** True once closed by either side. */
  readonly closed: boolean;
  /** Starts delivery to `handler`. Messages that arrive before are held. */
  start(handler: ConnectionHandler): void;
  /**
   * Queues a message for sending. Returns false once the bytes waiting to be
   * written pass the high-water mark: the caller should wait for
   * {@link drained} before sending more. A connection whose queue passes its
   * hard limit is closed with a `LimitExceededError` (a peer that does not
   * read is cut off rather than buffered without bound).
   *
   * @throws {TooLargeError} when the encoded message is over the frame limit;
   *   the connection stays open and nothing was sent.
   */
  send(message: unknown): boolean;
  /**
   * Writes what is queued now instead of at the end of this event-loop
   * turn (sends are batched per turn). For a caller whose next step is
   * slow and independent of the send, such as the Raft loop's own WAL
   * write and fdatasync after handing its peers their appends.
   */
  flush(): void;
  /** Resolves once the send queue is back under its low-water mark, or the connection closed. */
  drained(): Promise<void>;
  /** Closes the connection; queued messages are flushed first when `error` is undefined. */
  close(error?: Error): void;
}

/** A listening endpoint. */
export interface Listener {
  /** The bound address, `host:port` (the real port when asked for port 0). */
  readonly address: string;
  /** Stops accepting; open connections are left to their owners. */
  close(): Promise<void>;
}

/** Dials and listens. */
export interface Transport {
  /**
   * Opens a connection to `address`.
   *
   * @throws {UnavailableError} when it cannot connect.
   */
  dial(address: string, options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<MessageConnection>;
  /** Listens on `address`, calling `onConnection` for every accepted connection. */
  listen(address: string, onConnection: (connection: MessageConnection) => void): Promise<Listener>;
}

/** Limits shared by every connection implementation. */
export interface ConnectionLimits {
  /** Largest encoded message accepted or sent, in bytes. */
  messageBytesMax?: number;
  /** `send` returns false past this many queued bytes. */
  sendQueueBytesHigh?: number;
  /** The connection is closed past this many queued bytes. */
  sendQueueBytesMax?: number;
}

/** Default queued bytes above which `send` asks the caller to wait. */
export const SEND_QUEUE_BYTES_HIGH_DEFAULT = 1024 * 1024;
/** Default queued bytes above which a connection is cut off as a slow consumer. */
export const SEND_QUEUE_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

/** Parses `host:port` (IPv6 as `[::1]:port`). */
export function parseAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = Number(match?.[3]);
  if (match === null || port > 65535) {
    throw new RangeError(`Cannot parse address: expected host:port, got ${JSON.stringify(address)}`);
  }
  return { host: (match[1] ?? match[2]) as string, port };
}

/** Formats a host and port as `host:port`, bracketing IPv6. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
