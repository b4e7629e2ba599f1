/**
 * One watcher of an etcd Watch stream: the member's watch (the shared
 * `watch` handler, one per watcher) turned into etcd's responses for it.
 *
 * The member ends a watcher whose consumer fell behind (`slow`), and fails
 * the watch when it installs a snapshot; etcd does neither (it delays a
 * slow watcher and catches it up). So a {@link WatchFeed} watches again,
 * transparently, from the first revision it has not passed on whole,
 * skipping the changes of that revision it already passed on (the resume
 * bookkeeping of `client/watch-client.ts`, `deliverable`): the client sees
 * every change once, in order, with no sign of the reopening. Only a
 * compaction of the history it still needs ends it (`compact_revision`,
 * as etcd).
 *
 * Each response waits for gRPC to take the previous ones before the next
 * items are taken from the member, so a client that reads slowly holds
 * back its watchers, and the member, not this process, buffers (bounded,
 * then the watcher is reopened from the log at the client's pace).
 *
 * @module
 */
import { setTimeout as delay, setImmediate } from 'node:timers/promises';
import { CompactedError, TesseraError, UnavailableError } from '../../base/errors.ts';
import type { Logger } from '../../base/logger.ts';
import { deliverable, type Resume, reopened } from '../../client/watch-client.ts';
import type { Event, WatchResponse } from '../../kv/types.ts';
import type { WatchCall } from '../../server/api.ts';
import { etcdStatusOf } from './errors.ts';
import type { HeaderMaker } from './header.ts';
import type { StreamWriter } from './stream-writer.ts';
import {
  ETCD_WATCH_FRAGMENT_BYTES_MAX,
  fragmentsOf,
  type Release,
  WatchAssembler,
} from './watch-assembler.ts';
import { canceledResponse, type WireWatchResponse, wireEventOf } from './watch-wire.ts';

/** Opens the member's watch for `call`; it ends when `signal` aborts. */
export type OpenWatch = (call: WatchCall, signal: AbortSignal) => AsyncIterator<WatchResponse>;

/** What a {@link WatchFeed} needs. */
export interface WatchFeedOptions {
  /** The watcher's id on its stream. */
  readonly id: number;
  /** The watch, checked. */
  readonly call: WatchCall;
  /** Whether the client asked for large responses in fragments. */
  readonly fragment: boolean;
  readonly open: OpenWatch;
  readonly writer: StreamWriter<WireWatchResponse>;
  readonly header: HeaderMaker;
  /** Told when the watcher is watched again (info). */
  readonly logger: Logger;
  /** Aborts when the stream ends. */
  readonly signal: AbortSignal;
}

/**
 * How long a watcher waits before watching again after the member failed
 * its watch (`UNAVAILABLE`: it is installing a snapshot, and fails new
 * watches too until it is done), so that it retries at a bounded rate.
 */
export const ETCD_WATCH_REOPEN_DELAY_MS = 100;

/** What `Promise.race` gives when the member had no next item within the turn. */
const IDLE = Symbol('idle');

/** The compacted revision a `CompactedError` names (0 when it names none). */
export function compactRevisionOf(error: CompactedError): number {
  const revision = error.details?.['compactRevision'];
  return typeof revision === 'number' ? revision : 0;
}

/**
 * One watcher: {@link open} it (the stream answers `created`), then
 * {@link run} it until it ends or is {@link stop}ped.
 *
 * @example
 * ```ts
 * const feed = new WatchFeed({ id: 0, call, fragment: false, open, writer, header, logger, signal });
 * const revision = await feed.open();
 * await writer.write([createdResponse(header, 0, revision)]);
 * await feed.run();
 * ```
 */
export class WatchFeed {
  readonly id: number;
  readonly #options: WatchFeedOptions;
  readonly #stop = new AbortController();
  readonly #signal: AbortSignal;
  readonly #assembler = new WatchAssembler();
  readonly #resume: Resume;
  #iterator: AsyncIterator<WatchResponse> | undefined;
  // Invariant: every change through #sentThrough was written to the stream (or was not the watcher's).
  #sentThrough = 0;

  constructor(options: WatchFeedOptions) {
    this.id = options.id;
    this.#options = options;
    this.#signal = AbortSignal.any([options.signal, this.#stop.signal]);
    this.#resume = { next: options.call.startRevision ?? 0, delivered: 0, skip: 0 };
  }

  /** Whether it was stopped, or its stream ended: it writes nothing more. */
  get stopped(): boolean {
    return this.#signal.aborted;
  }

  /** The newest revision every change of which, for this watcher, is on the stream. */
  get sentThrough(): number {
    return this.#sentThrough;
  }

  /**
   * Opens the member's watch.
   *
   * @returns the store's revision the watcher was created at.
   * @throws {CompactedError} when the start revision was compacted; the
   * shared handler's refusals (`LimitExceededError`...).
   */
  async open(): Promise<number> {
    const created = await this.#openAt(this.#resume.next);
    if (this.#resume.next === 0) this.#resume.next = created + 1;
    this.#sentThrough = this.#resume.next - 1;
    return created;
  }

  /** Stops it: it takes and writes nothing more, and the member's watch ends. */
  stop(): void {
    this.#stop.abort();
  }

  /**
   * Writes the watcher's events, progress notifications and, when the
   * member ends it for compaction, its last response. Resolves when it is
   * over (ended, or stopped).
   *
   * @throws {UnavailableError} when the member shuts down; anything
   * unexpected the member's watch throws.
   */
  async run(): Promise<void> {
    while (!this.stopped) {
      let step: IteratorResult<WatchResponse>;
      try {
        step = await this.#next();
      } catch (error) {
        if (this.stopped) return;
        if (!(error instanceof UnavailableError)) throw error;
        // The member replaced its store with a snapshot: watch again from where delivery stands.
        await delay(ETCD_WATCH_REOPEN_DELAY_MS, undefined, { signal: this.#signal }).catch(() => undefined);
        if (this.stopped || !(await this.#reopen(error.message))) return;
        continue;
      }
      if (this.stopped) return;
      if (step.done === true) throw new UnavailableError('Cannot watch: the member is shutting down');
      const response = step.value;
      const batch = deliverable(response, this.#resume);
      const cancelled = response.cancelled;
      if (cancelled?.reason === 'compacted')
        return this.#end({ compactRevision: cancelled.compactRevision ?? 0 });
      if (cancelled !== undefined) {
        if (await this.#reopen(cancelled.message)) continue;
        return;
      }
      if (batch === undefined) continue;
      if (batch.events.length === 0) await this.#progress(batch.revision);
      else await this.#send(this.#assembler.add(batch.events, response.fragment));
    }
  }

  /** Opens the member's watch from `startRevision` (0: the next one) and takes its first (created) item. */
  async #openAt(startRevision: number): Promise<number> {
    const { startRevision: _, ...rest } = this.#options.call;
    const call: WatchCall = startRevision === 0 ? rest : { ...rest, startRevision };
    const iterator = this.#options.open(call, this.#signal);
    this.#iterator = iterator;
    const created = await iterator.next();
    if (created.done === true) throw new UnavailableError('Cannot watch: the member is shutting down');
    return created.value.revision;
  }

  /**
   * Watches again from the first revision not passed on whole, because
   * the member ended the watch (`why`).
   *
   * @returns whether it goes on; false when it ended instead (its history
   * was compacted, or the member refused a new watch: the client is told).
   */
  async #reopen(why: string): Promise<boolean> {
    reopened(this.#resume);
    this.#options.logger.info(
      { watchId: this.id, startRevision: this.#resume.next, why },
      'etcd watch: watching again where the client stands',
    );
    try {
      await this.#openAt(this.#resume.next);
      return true;
    } catch (error) {
      if (this.stopped) return false;
      if (error instanceof CompactedError) await this.#end({ compactRevision: compactRevisionOf(error) });
      else if (error instanceof TesseraError && !(error instanceof UnavailableError)) {
        await this.#end({ reason: etcdStatusOf(error).message });
      } else throw error;
      return false;
    }
  }

  /**
   * The member's next item. While events wait for the rest of their
   * revision and the member has nothing more within this turn of the event
   * loop (its watch takes synchronously what is there), they go out as they
   * stand rather than wait for the watcher's next change.
   */
  async #next(): Promise<IteratorResult<WatchResponse>> {
    const pending = (this.#iterator as AsyncIterator<WatchResponse>).next();
    if (!this.#assembler.holding) return pending;
    const first = await Promise.race([pending, setImmediate(IDLE)]);
    if (first !== IDLE) return first;
    await this.#send(this.#assembler.release());
    return pending;
  }

  /** Writes released events; the client asked for fragments: in pieces under the message size. */
  async #send(release: Release | undefined): Promise<void> {
    if (release === undefined) return;
    const pieces = this.#options.fragment
      ? fragmentsOf(release.events, ETCD_WATCH_FRAGMENT_BYTES_MAX)
      : [release.events];
    const responses = pieces.map((events, index) => this.#eventsResponse(events, index < pieces.length - 1));
    if (await this.#write(responses)) this.#sentThrough = Math.max(this.#sentThrough, release.through);
  }

  /**
   * A progress notification of the member (asked with `progress_notify`):
   * every change through `revision` was taken, so what is held is whole.
   */
  async #progress(revision: number): Promise<void> {
    await this.#send(this.#assembler.release());
    if (await this.#write([{ header: this.#options.header(revision), watch_id: this.id }])) {
      this.#sentThrough = Math.max(this.#sentThrough, revision);
    }
  }

  /** Writes what is held, then the watcher's last response. */
  async #end(end: { readonly reason?: string; readonly compactRevision?: number }): Promise<void> {
    await this.#send(this.#assembler.release());
    await this.#write([canceledResponse(this.#options.header, this.id, end)]);
    this.stop();
  }

  #eventsResponse(events: readonly Event[], fragment: boolean): WireWatchResponse {
    // etcd's header revision for a synced watcher's events is theirs; clients (the etcd3 package) resume after it.
    const last = events[events.length - 1] as Event;
    return {
      header: this.#options.header(last.kv.modRevision),
      watch_id: this.id,
      events: events.map(wireEventOf),
      ...(fragment ? { fragment: true } : {}),
    };
  }

  #write(responses: readonly WireWatchResponse[]): Promise<boolean> {
    return this.#options.writer.write(responses, () => !this.stopped);
  }
}
