/**
 * `etcdserverpb.Watch`: etcd's bidirectional Watch stream, many watchers
 * on one stream, over the shared `watch` handler (one member watch per
 * watcher, `watch-feed.ts`).
 *
 * Requests are taken one at a time, each answered before the next is read
 * (so a client that does not read its answers stops being read, and
 * answers to creates come in the order of the creates, as etcd's clients
 * expect):
 * - `create_request`: `created` with the watcher's id, then its events
 *   (`mvccpb.Event`, with `prev_kv` when asked), whole revisions per
 *   response. The id is the client's when it picks one (not 0), else the
 *   stream's next free one from 0 (etcd 3.4 and 3.5). A start revision
 *   already compacted is answered `created`, then `canceled` with
 *   `compact_revision`. A refused create is answered `created` and
 *   `canceled` at once, with `watch_id` -1 and etcd's reason (an empty
 *   range, a duplicate id) or Tessera's (a limit).
 * - `cancel_request`: `canceled` for a watcher of the stream; nothing for
 *   an id the stream does not have (as etcd).
 * - `progress_request`: a response with no events and `watch_id` -1 whose
 *   header revision every watcher of the stream has been sent through.
 *   etcd (3.4.25+, 3.5.8+) sends the current revision once all the
 *   stream's watchers are synced; the member's watch tells no such thing
 *   on demand, so this answers at once with the newest revision known to
 *   be passed on for each watcher: the current one unless a watcher has
 *   had nothing to send since an older one.
 *
 * The stream lives until the client cancels it, as etcd's (ending the
 * request side ends nothing); then every watcher is cancelled.
 *
 * @module
 */
import type { ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import { CompactedError, InvalidArgumentError, TesseraError, UnavailableError } from '../../base/errors.ts';
import type { Logger } from '../../base/logger.ts';
import { WATCHES_PER_CONNECTION_MAX } from '../../server/api.ts';
import type { ClientHandlers } from '../../server/serve.ts';
import type { CallContext } from '../../transport/service.ts';
import { callContextOf, failedCall } from './calls.ts';
import { etcdStatusOf } from './errors.ts';
import type { HeaderMaker } from './header.ts';
import { type Int64, int64Field } from './proto.ts';
import { StreamWriter } from './stream-writer.ts';
import { compactRevisionOf, type OpenWatch, WatchFeed } from './watch-feed.ts';
import {
  canceledResponse,
  createdResponse,
  createRefusalOf,
  INVALID_WATCH_ID,
  refusedResponse,
  WATCH_DUPLICATE_ID_REASON,
  WATCH_METHOD,
  type WireWatchCreateRequest,
  type WireWatchRequest,
  type WireWatchResponse,
  watchCallOf,
} from './watch-wire.ts';

/**
 * Most watchers one Watch stream holds: the most watches one client
 * connection may hold on a member (`WATCHES_PER_CONNECTION_MAX`, which the
 * shared handler also enforces across all the streams of a connection).
 * etcd has no limit.
 */
export const ETCD_WATCHERS_PER_STREAM_MAX = WATCHES_PER_CONNECTION_MAX;

/**
 * The `etcdserverpb.Watch` implementation over `handlers.watch`, for
 * `Server.addService(etcdService('etcdserverpb.Watch'), …)`.
 *
 * @example
 * ```ts
 * server.addService(etcdService('etcdserverpb.Watch'), watchService(handlers, header, logger));
 * // ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:2382 watch jobs/ --prefix --rev 1 --prev-kv
 * ```
 */
export function watchService(
  handlers: ClientHandlers,
  header: HeaderMaker,
  logger: Logger,
): UntypedServiceImplementation {
  return {
    Watch: (call: ServerDuplexStream<WireWatchRequest, WireWatchResponse>) => {
      void serveWatchStream(call, handlers, header, logger);
    },
  };
}

/** Serves one Watch stream until the client cancels it or it fails. */
async function serveWatchStream(
  call: ServerDuplexStream<WireWatchRequest, WireWatchResponse>,
  handlers: ClientHandlers,
  header: HeaderMaker,
  logger: Logger,
): Promise<void> {
  const context = callContextOf(call, WATCH_METHOD);
  const failed = new AbortController();
  const signal = AbortSignal.any([context.signal, failed.signal]);
  const fail = (error: unknown): void => {
    if (failed.signal.aborted) return;
    failed.abort();
    // A cancelled stream (the client went away) has no one to tell.
    if (!call.cancelled && !call.destroyed) call.emit('error', failedCall(WATCH_METHOD, logger, error));
  };
  const open: OpenWatch = (watchCall, watchSignal) => {
    const watchContext: CallContext = { ...context, signal: watchSignal };
    const items = handlers.watch.watch(watchCall, watchContext);
    if (Symbol.asyncIterator in items) return items[Symbol.asyncIterator]();
    return (async function* () {
      yield* items;
    })();
  };
  const writer = new StreamWriter(call, signal);
  const stream = new WatchStream({ open, header, writer, logger, signal, fail });
  try {
    for await (const request of call as AsyncIterable<WireWatchRequest>) {
      if (signal.aborted) return;
      await stream.handle(request);
    }
  } catch (error) {
    fail(error);
  }
}

/** What a {@link WatchStream} needs. */
interface WatchStreamOptions {
  readonly open: OpenWatch;
  readonly header: HeaderMaker;
  readonly writer: StreamWriter<WireWatchResponse>;
  readonly logger: Logger;
  /** Aborts when the stream ends or fails: every watcher stops. */
  readonly signal: AbortSignal;
  /** Ends the stream with `error` (a watcher failed in a way the client cannot be told of in a response). */
  readonly fail: (error: unknown) => void;
}

/** The watchers of one stream, and its answers to requests. */
class WatchStream {
  readonly #options: WatchStreamOptions;
  // Invariant: at most ETCD_WATCHERS_PER_STREAM_MAX; a watcher is here from its `created` until it ends.
  readonly #feeds = new Map<number, WatchFeed>();
  #nextAutoId = 0;

  constructor(options: WatchStreamOptions) {
    this.#options = options;
  }

  /** Answers one request; an unknown kind is ignored, as etcd ignores it. */
  async handle(request: WireWatchRequest): Promise<void> {
    switch (request.request_union) {
      case 'create_request':
        if (request.create_request) await this.#create(request.create_request);
        return;
      case 'cancel_request':
        if (request.cancel_request) await this.#cancel(request.cancel_request.watch_id);
        return;
      case 'progress_request':
        await this.#progress();
        return;
      default:
        return;
    }
  }

  async #create(create: WireWatchCreateRequest): Promise<void> {
    const { header, writer, logger, signal, open } = this.#options;
    const refuse = async (reason: string): Promise<void> => {
      await writer.write([refusedResponse(header, reason)]);
    };
    if (this.#feeds.size >= ETCD_WATCHERS_PER_STREAM_MAX) {
      return refuse(
        `Cannot watch: the stream holds ${this.#feeds.size} watchers, the most allowed (ETCD_WATCHERS_PER_STREAM_MAX)`,
      );
    }
    let feed: WatchFeed;
    try {
      const refusal = createRefusalOf(create);
      if (refusal !== undefined) return refuse(refusal);
      const call = watchCallOf(create);
      const id = this.#idOf(int64Field(create.watch_id, 'watch_id'));
      if (id === undefined) return refuse(WATCH_DUPLICATE_ID_REASON);
      feed = new WatchFeed({ id, call, fragment: create.fragment, open, writer, header, logger, signal });
    } catch (error) {
      if (error instanceof TesseraError) return refuse(etcdStatusOf(error).message);
      throw error;
    }
    let revision: number;
    try {
      revision = await feed.open();
    } catch (error) {
      feed.stop();
      // As etcd: the watcher is created, then cancelled for the compaction.
      if (error instanceof CompactedError) {
        await writer.write([
          createdResponse(header, feed.id, Number(header().revision)),
          canceledResponse(header, feed.id, { compactRevision: compactRevisionOf(error) }),
        ]);
        return;
      }
      // A member going away fails the stream, so that clients watch again elsewhere.
      if (error instanceof TesseraError && !(error instanceof UnavailableError)) {
        return refuse(etcdStatusOf(error).message);
      }
      throw error;
    }
    this.#feeds.set(feed.id, feed);
    await writer.write([createdResponse(header, feed.id, revision)]);
    feed.run().then(
      () => this.#forget(feed),
      (error: unknown) => this.#options.fail(error),
    );
  }

  /**
   * The id of a new watcher: `requested` when it is not 0 (undefined when
   * a watcher has it), else the next free one from 0, as etcd's
   * `watchStream.Watch` picks.
   *
   * @throws {InvalidArgumentError} when `requested` is negative (-1 marks responses of no watcher).
   */
  #idOf(requested: number): number | undefined {
    if (requested < 0) {
      throw new InvalidArgumentError(`Cannot watch: watch_id ${requested} is negative`);
    }
    if (requested !== 0) return this.#feeds.has(requested) ? undefined : requested;
    while (this.#feeds.has(this.#nextAutoId)) this.#nextAutoId++;
    return this.#nextAutoId++;
  }

  async #cancel(watchId: Int64): Promise<void> {
    const id = Number(watchId);
    const feed = this.#feeds.get(id);
    if (feed === undefined) return;
    feed.stop();
    this.#feeds.delete(id);
    await this.#options.writer.write([canceledResponse(this.#options.header, id)]);
  }

  /** etcd's answer to a progress request, with the newest revision every watcher was sent through. */
  async #progress(): Promise<void> {
    const { header, writer } = this.#options;
    let revision = Number(header().revision);
    for (const feed of this.#feeds.values()) revision = Math.min(revision, feed.sentThrough);
    await writer.write([{ header: header(revision), watch_id: INVALID_WATCH_ID }]);
  }

  /** Drops a watcher that ended, unless its id was taken by a new one meanwhile. */
  #forget(feed: WatchFeed): void {
    if (this.#feeds.get(feed.id) === feed) this.#feeds.delete(feed.id);
  }
}
