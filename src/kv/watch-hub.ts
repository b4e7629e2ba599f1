/**
 * Watches (etcd v3 `Watch`) over an MVCC store, as a pure state machine:
 * the Raft driver tells the hub every revision it applies, consumers take
 * events from their watchers at their own pace.
 *
 * Like etcd's `watchableStore`, a watcher is either synced (it has been
 * given every change through the hub's revision, and live changes are
 * pushed to it) or catching up (it reads the store's revision log from where
 * it stands, and live changes pass it by: it will read them from the log).
 * A watch from the past starts catching up; one from now starts synced.
 *
 * Catching up is paced by the consumer: each `take` reads at most one
 * bounded page of the log (`replayRecordsPerStepMax` versions visited, at
 * most the events the take can return), so a watch from an old revision on
 * a long history does bounded work per call, and a consumer that does not
 * read costs nothing. Once a page reaches the hub's revision the watcher is
 * synced; since pages read only through the revision the hub has been told
 * of, and live changes come after it, events stay in revision order, none
 * twice, none missed.
 *
 * Matching: synced one-key watchers sit in a map by key, synced span
 * watchers in a set. A notify of E events costs O(E × (1 + S) + M), S the
 * synced span watchers and M the events delivered; watchers catching up and
 * one-key watchers of other keys cost nothing. (An interval tree would cut
 * the S term for hubs with many span watchers.)
 *
 * Slow consumers: a synced watcher's buffer is bounded (`eventsBufferedMax`
 * events and `bufferBytesMax` bytes). One that a notify would push past it
 * is ended at once, its buffer dropped, with reason `slow` and the first
 * revision its consumer has not seen in full, so that a new watch from there
 * misses nothing (it catches up from the log; a revision taken in part is
 * given again whole). etcd instead moves such a
 * watcher to its unsynced group and keeps its pending events; ending it
 * bounds the hub's memory by the buffers, never the backlog, and makes the
 * writer's cost independent of any consumer.
 *
 * @module
 */
import { CompactedError, InvalidArgumentError, LimitExceededError } from '../base/errors.ts';
import { keyIdOf, keySpanHas } from './key-span.ts';
import { type WatchHubLimits, type WatchHubOptions, watchHubLimits } from './limits.ts';
import type { MvccStore } from './mvcc-store.ts';
import type { Event, WatchCancel, WatchRequest, WatchResponse } from './types.ts';
import { checkWatchHubInvariants, type WatchHubView } from './watch-hub-invariants.ts';
import { checkWatchRequest, Watcher, watcherSpecOf } from './watcher.ts';

const NO_EVENTS: readonly Event[] = Object.freeze([]);

/**
 * The watchers of one store. Deterministic: the same calls in the same
 * order give the same answers. Single-threaded, like the store: the driver
 * calls {@link notify} after each applied write, before anything else reads
 * the hub.
 *
 * @example
 * ```ts
 * const store = new MvccStore();
 * const hub = new WatchHub(store);
 * const id = hub.watch({ key: prefix, rangeEnd: prefixEnd(prefix) });
 * const { events } = store.put({ key: bytes('/jobs/1'), value: bytes('x') });
 * hub.notify(events, store.revision);
 * hub.take(id).events; // the put of /jobs/1
 * ```
 */
export class WatchHub {
  readonly #store: MvccStore;
  readonly #limits: WatchHubLimits;
  // Invariant: #revision <= store.revision; every change through it was notified.
  #revision: number;
  #nextId = 1;
  readonly #watchers = new Map<number, Watcher>();
  // Invariant: a watcher is in #byKey or #spans exactly when it is synced and not ended.
  readonly #byKey = new Map<string, Set<Watcher>>();
  readonly #spans = new Set<Watcher>();
  // Invariant: a watcher is here exactly when it is catching up.
  readonly #catchingUp = new Set<Watcher>();

  /**
   * @param store the store whose writes the hub will be told of; the hub
   * starts at its current revision and reads its history to catch watchers up.
   * @param options the hub's limits (see `limits.ts`).
   * @throws {InvalidArgumentError} on a bad limit.
   */
  constructor(store: MvccStore, options: WatchHubOptions = {}) {
    this.#store = store;
    this.#limits = watchHubLimits(options);
    this.#revision = store.revision;
  }

  /** The last revision the hub was told of. */
  get revision(): number {
    return this.#revision;
  }

  /** The limits in force. */
  get limits(): WatchHubLimits {
    return this.#limits;
  }

  /** Watchers held, ended ones whose notice is not taken yet included. */
  get size(): number {
    return this.#watchers.size;
  }

  /**
   * Starts a watch (etcd `WatchCreateRequest`); see {@link WatchRequest}.
   * O(1): a watch from the past catches up in later {@link take}s.
   *
   * @returns the watcher's id: 1, 2, 3… in the order watches are made.
   * @throws {CompactedError} when `startRevision` is at or below the store's
   * compacted revision (`details.compactRevision`).
   * @throws {InvalidArgumentError} on a bad span, revision, flag or filter.
   * @throws {LimitExceededError} when the hub holds `watchersMax` watchers,
   * or the span passes a key limit.
   */
  watch(request: WatchRequest): number {
    const action = 'watch';
    checkWatchRequest(request);
    if (this.#watchers.size >= this.#limits.watchersMax) {
      throw new LimitExceededError(
        `Cannot ${action}: the hub holds ${this.#watchers.size} watchers, its limit (watchersMax)`,
        { details: { limit: this.#limits.watchersMax } },
      );
    }
    const startRevision = request.startRevision || this.#revision + 1;
    const compactRevision = this.#store.compactRevision;
    if (startRevision <= compactRevision) {
      throw new CompactedError(
        `Cannot ${action} from revision ${startRevision}: history up to ${compactRevision} was compacted`,
        { details: { revision: startRevision, compactRevision } },
      );
    }
    const id = this.#nextId++;
    const watcher = new Watcher(
      watcherSpecOf(id, request, startRevision),
      startRevision <= this.#revision ? { revision: startRevision, sub: 0 } : undefined,
    );
    this.#watchers.set(id, watcher);
    if (watcher.catchUp === undefined) this.#addSynced(watcher);
    else this.#catchingUp.add(watcher);
    return id;
  }

  /**
   * Tells the hub of one applied write: `events` are what the store returned
   * (all of one revision, in order), `revision` the store's revision after
   * it. A write that changed nothing has no events and leaves the revision:
   * telling of it is allowed and does nothing. Synced watchers whose span
   * holds a changed key get it; one pushed past its buffer ends (`slow`).
   *
   * @throws {InvalidArgumentError} when the revision is not the next one
   * (a write was not told of, or told twice), or an event is not of it:
   * the hub would miss or repeat changes; nothing changed.
   */
  notify(events: readonly Event[], revision: number): void {
    if (events.length === 0 && revision === this.#revision) return;
    if (revision !== this.#revision + 1 || events.length === 0 || revision > this.#store.revision) {
      throw new InvalidArgumentError(
        `Cannot notify revision ${revision} with ${events.length} events: the hub is at ${this.#revision} and the store at ${this.#store.revision}; every write must be told once, in order`,
        { details: { revision, hubRevision: this.#revision } },
      );
    }
    if (events.some((event) => event.kv.modRevision !== revision)) {
      throw new InvalidArgumentError(`Cannot notify revision ${revision}: an event is of another revision`);
    }
    this.#revision = revision;
    for (const event of events) {
      const keyId = keyIdOf(event.kv.key);
      const single = this.#byKey.get(keyId);
      if (single !== undefined) for (const watcher of single) this.#deliver(watcher, event, revision);
      for (const watcher of this.#spans) {
        if (keySpanHas(watcher.spec.span, keyId)) this.#deliver(watcher, event, revision);
      }
    }
  }

  /**
   * Tells the hub the store was compacted (call it after `store.compact`):
   * every watcher still catching up from at or below the compacted revision
   * ends with reason `compacted` (etcd's `compact_revision` response), since
   * the changes it has yet to read may be gone. O(watchers catching up).
   */
  onCompact(): void {
    const compactRevision = this.#store.compactRevision;
    for (const watcher of this.#catchingUp) {
      if (watcher.catchUp !== undefined && watcher.catchUp.revision <= compactRevision) {
        this.#endCompacted(watcher, compactRevision);
      }
    }
  }

  /**
   * The next events of a watcher (etcd's `WatchResponse`s, pulled): whole
   * revisions, oldest first, at most `eventsMax` events; a revision cut
   * short (larger than `eventsMax`, or cut by a catch-up page) comes in
   * pieces with `fragment` set on all but the last. A watcher catching up
   * reads one bounded page of history first. After the response that
   * carries `cancelled`, the watcher is gone.
   *
   * @param eventsMax at most the hub's `eventsPerTakeMax`, its default.
   * @throws {InvalidArgumentError} when no watcher has the id, or
   * `eventsMax` is not a positive integer.
   * @throws {LimitExceededError} when `eventsMax` passes `eventsPerTakeMax`.
   */
  take(watchId: number, eventsMax = this.#limits.eventsPerTakeMax): WatchResponse {
    const watcher = this.#watcher('take events', watchId);
    if (!Number.isSafeInteger(eventsMax) || eventsMax < 1) {
      throw new InvalidArgumentError(
        `Cannot take events: eventsMax must be a positive integer, got ${eventsMax}`,
      );
    }
    if (eventsMax > this.#limits.eventsPerTakeMax) {
      throw new LimitExceededError(
        `Cannot take events: eventsMax ${eventsMax} passes eventsPerTakeMax (${this.#limits.eventsPerTakeMax})`,
        { details: { limit: this.#limits.eventsPerTakeMax } },
      );
    }
    if (
      watcher.catchUp !== undefined &&
      watcher.buffered < eventsMax &&
      watcher.bufferedBytes < this.#limits.bufferBytesMax
    ) {
      this.#catchUpStep(watcher, eventsMax);
    }
    if (watcher.ended !== undefined) {
      this.#watchers.delete(watchId);
      return {
        watchId,
        revision: this.#revision,
        events: NO_EVENTS,
        fragment: false,
        cancelled: watcher.ended,
      };
    }
    return { watchId, revision: this.#revision, ...this.#batch(watcher, eventsMax) };
  }

  /**
   * etcd's progress notification: the hub's revision when the watcher is
   * synced and has nothing waiting (its consumer has then seen every change
   * through it), else undefined (events or catch-up are pending: take them).
   *
   * @throws {InvalidArgumentError} when no watcher has the id.
   */
  progress(watchId: number): number | undefined {
    const watcher = this.#watcher('report progress', watchId);
    if (watcher.ended !== undefined || watcher.catchUp !== undefined || watcher.buffered > 0)
      return undefined;
    return this.#revision;
  }

  /**
   * Whether the watcher is still reading history: a {@link take} may then
   * have more for it without any new write (a step that visited its bounded
   * page of the log and found nothing for this watcher answers empty).
   *
   * @throws {InvalidArgumentError} when no watcher has the id.
   */
  catchingUp(watchId: number): boolean {
    return this.#watcher('report catch-up', watchId).catchUp !== undefined;
  }

  /**
   * Ends a watch (etcd `WatchCancelRequest`) and forgets it, notice and all.
   *
   * @returns whether a watcher had the id.
   */
  cancel(watchId: number): boolean {
    const watcher = this.#watchers.get(watchId);
    if (watcher === undefined) return false;
    this.#unlink(watcher);
    this.#watchers.delete(watchId);
    return true;
  }

  /**
   * Checks every invariant of the hub (see `watch-hub-invariants.ts`); O(watchers + buffered events).
   *
   * @throws {Error} on a broken invariant: a bug; stop using the hub.
   */
  checkInvariants(): void {
    const view: WatchHubView = {
      revision: this.#revision,
      storeRevision: this.#store.revision,
      limits: this.#limits,
      nextId: this.#nextId,
      watchers: this.#watchers,
      byKey: this.#byKey,
      spans: this.#spans,
      catchingUp: this.#catchingUp,
    };
    checkWatchHubInvariants(view);
  }

  #watcher(action: string, watchId: number): Watcher {
    const watcher = this.#watchers.get(watchId);
    if (watcher === undefined) {
      throw new InvalidArgumentError(`Cannot ${action}: no watcher has id ${watchId}`, {
        details: { watchId },
      });
    }
    return watcher;
  }

  #deliver(watcher: Watcher, event: Event, revision: number): void {
    // Ended earlier in this revision, or starts later (a watch from the future).
    if (watcher.ended !== undefined || revision < watcher.spec.startRevision) return;
    const view = watcher.viewOf(event);
    if (view === undefined) return;
    watcher.push(view);
    if (
      watcher.buffered > this.#limits.eventsBufferedMax ||
      watcher.bufferedBytes > this.#limits.bufferBytesMax
    ) {
      const resumeRevision = watcher.resumeRevision(this.#revision);
      this.#end(watcher, {
        reason: 'slow',
        message: `Watcher ${watcher.spec.id} fell behind: more than ${this.#limits.eventsBufferedMax} events or ${this.#limits.bufferBytesMax} bytes waited; watch again from revision ${resumeRevision}`,
        resumeRevision,
      });
    }
  }

  /** Reads one page of history into a watcher catching up; synced once the page reaches the hub's revision. */
  #catchUpStep(watcher: Watcher, eventsMax: number): void {
    const position = watcher.catchUp;
    if (position === undefined) return;
    const compactRevision = this.#store.compactRevision;
    if (position.revision <= compactRevision) {
      this.#endCompacted(watcher, compactRevision);
      return;
    }
    const { spec } = watcher;
    const page = this.#store.eventsSince({
      key: spec.key,
      ...(spec.rangeEnd === undefined ? {} : { rangeEnd: spec.rangeEnd }),
      startRevision: position.revision,
      startSub: position.sub,
      endRevision: this.#revision,
      prevKv: spec.prevKv,
      eventsMax: eventsMax - watcher.buffered,
      // At least 1: a step runs only below the limit. A page holds one event at least, so one
      // event larger than the room left may pass the limit; the next step waits for room.
      bytesMax: Math.min(
        this.#store.limits.rangeReplyBytesMax,
        this.#limits.bufferBytesMax - watcher.bufferedBytes,
      ),
      recordsMax: this.#limits.replayRecordsPerStepMax,
    });
    for (const event of page.events) {
      const view = watcher.viewOf(event);
      if (view !== undefined) watcher.push(view);
    }
    if (page.done) {
      watcher.catchUp = undefined;
      this.#catchingUp.delete(watcher);
      this.#addSynced(watcher);
    } else {
      watcher.catchUp = { revision: page.nextRevision, sub: page.nextSub };
    }
  }

  /** The next batch of whole revisions, or one piece of a revision that cannot come whole. */
  #batch(watcher: Watcher, eventsMax: number): { events: readonly Event[]; fragment: boolean } {
    // Revisions below this are in the buffer in full; the catch-up may still add to it and later ones.
    const completeBelow = watcher.catchUp?.revision ?? this.#revision + 1;
    let count = 0;
    for (;;) {
      const first = watcher.peek(count);
      if (first === undefined) break;
      const revision = first.kv.modRevision;
      let end = count + 1;
      while (end <= eventsMax && watcher.peek(end)?.kv.modRevision === revision) end++;
      if (end <= eventsMax && revision < completeBelow) {
        count = end;
        continue;
      }
      if (count > 0) break;
      // The oldest revision cannot come whole in this take: hand out a piece of it.
      return { events: watcher.shift(Math.min(end, eventsMax)), fragment: true };
    }
    return { events: count === 0 ? NO_EVENTS : watcher.shift(count), fragment: false };
  }

  #addSynced(watcher: Watcher): void {
    const { span } = watcher.spec;
    if (!span.single) {
      this.#spans.add(watcher);
      return;
    }
    let set = this.#byKey.get(span.startId);
    if (set === undefined) {
      set = new Set();
      this.#byKey.set(span.startId, set);
    }
    set.add(watcher);
  }

  #unlink(watcher: Watcher): void {
    this.#catchingUp.delete(watcher);
    this.#spans.delete(watcher);
    const { span } = watcher.spec;
    const set = this.#byKey.get(span.startId);
    if (set?.delete(watcher) && set.size === 0) this.#byKey.delete(span.startId);
  }

  #endCompacted(watcher: Watcher, compactRevision: number): void {
    const resumeRevision = watcher.resumeRevision(this.#revision);
    this.#end(watcher, {
      reason: 'compacted',
      message: `Watcher ${watcher.spec.id} was catching up at revision ${watcher.catchUp?.revision}, at or below the compacted revision ${compactRevision}`,
      resumeRevision,
      compactRevision,
    });
  }

  #end(watcher: Watcher, notice: WatchCancel): void {
    this.#unlink(watcher);
    watcher.catchUp = undefined;
    watcher.clear();
    watcher.ended = notice;
  }
}
