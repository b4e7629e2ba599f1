/**
 * `client.watch(...)`: a watch (etcd v3's Watch) as an async iterator that
 * survives reconnects. It opens a watch stream on a member through the
 * {@link Caller} (retried on another member while none answers), and when
 * the stream breaks (the member died, installed a snapshot, or ended the
 * watcher as too slow) it watches again from the first revision it has not
 * delivered whole, skipping the events of a revision it delivered in part,
 * so the caller sees every change once, in order.
 *
 * @module
 */
import { CancelledError, CompactedError, DeadlineExceededError } from '../base/errors.ts';
import type { Event, WatchFilter, WatchResponse } from '../kv/types.ts';
import { type WatchCall, WatchService } from '../server/api.ts';
import type { ClientStream } from '../transport/service.ts';
import type { Caller } from './caller.ts';
import type { RequestOptions } from './request-options.ts';
import { type RangeInput, rangeRequest } from './requests.ts';

/** Options of a watch. */
export interface WatchOptions {
  /** The first revision to deliver; absent or 0: the next change. One in the past replays history first. */
  readonly startRevision?: number;
  /** Fill each event's `prevKv` (the key before the change). */
  readonly prevKv?: boolean;
  /** Kinds of change to leave out. */
  readonly filters?: readonly WatchFilter[];
  /** Also yield an empty batch (with the revision) now and then while nothing changes. */
  readonly progressNotify?: boolean;
  /** Aborting ends the iteration. */
  readonly signal?: AbortSignal;
  /** How long opening (or reopening) the stream may take before it fails. Default: the client's. */
  readonly openTimeoutMs?: number;
}

/** One batch a watch yields: changes of whole revisions (or a progress notification, with no events). */
export interface WatchBatch {
  /** The revision the serving member had applied. */
  readonly revision: number;
  /** The changes, in revision order; empty for a progress notification. */
  readonly events: readonly Event[];
}

/** @internal Where a watch resumes. */
export interface Resume {
  /** The first revision not yet delivered whole (0: from now, before the first stream). */
  next: number;
  /** Events of revision `next` already delivered (a revision cut into fragments). */
  delivered: number;
  /** Events of revision `next` the current stream will send again and must be skipped (set on a reopen). */
  skip: number;
}

/** @internal A new stream starts from `resume.next`: the events of it already delivered come again. */
export function reopened(resume: Resume): void {
  resume.skip = resume.delivered;
}

/**
 * Watches a key, a span or a prefix. The iterator never ends on its own
 * unless the history it needs was compacted: it rejects then with
 * `CompactedError` (read the current state and watch again from after it).
 *
 * @example
 * ```ts
 * const stop = new AbortController();
 * for await (const { events } of watch(caller, { prefix: 'jobs/' }, { signal: stop.signal })) {
 *   for (const event of events) console.log(event.type, text(event.kv.key));
 * }
 * ```
 */
export async function* watch(
  caller: Caller,
  input: RangeInput,
  options: WatchOptions = {},
): AsyncGenerator<WatchBatch> {
  const { key, rangeEnd } = rangeRequest(input);
  const signal = options.signal;
  const resume: Resume = { next: options.startRevision ?? 0, delivered: 0, skip: 0 };
  const aborted = (): boolean => signal?.aborted === true;
  while (!aborted()) {
    const call: WatchCall = {
      key,
      ...(rangeEnd === undefined ? {} : { rangeEnd }),
      ...(resume.next === 0 ? {} : { startRevision: resume.next }),
      ...(options.prevKv === true ? { prevKv: true } : {}),
      ...(options.filters === undefined ? {} : { filters: options.filters }),
      ...(options.progressNotify === true ? { progressNotify: true } : {}),
    };
    const opened = await open(caller, call, {
      ...(signal === undefined ? {} : { signal }),
      ...(options.openTimeoutMs === undefined ? {} : { timeoutMs: options.openTimeoutMs }),
    });
    if (resume.next === 0) resume.next = opened.created.revision + 1;
    reopened(resume);
    const stream = opened.stream;
    const cancel = (): void => stream.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      for (;;) {
        let step: IteratorResult<WatchResponse>;
        try {
          step = await stream.next();
        } catch (error) {
          if (aborted()) return;
          // The member went away or ended the stream: watch again from where delivery stands.
          if (error instanceof CompactedError) throw error;
          break;
        }
        if (step.done === true) break;
        const batch = deliverable(step.value, resume);
        if (batch !== undefined) yield batch;
        const cancelled = step.value.cancelled;
        if (cancelled?.reason === 'compacted') {
          throw new CompactedError(`The watch needs history that was compacted: ${cancelled.message}`, {
            details: { compactRevision: cancelled.compactRevision ?? 0, revision: cancelled.resumeRevision },
          });
        }
        if (cancelled !== undefined) break; // too slow: watch again from the first revision not seen whole
      }
    } finally {
      signal?.removeEventListener('abort', cancel);
      stream.cancel();
    }
  }
}

/** Opens a watch stream and waits for its first item (the watcher exists), retried like a read. */
async function open(
  caller: Caller,
  call: WatchCall,
  options: RequestOptions,
): Promise<{ stream: ClientStream<WatchResponse>; created: WatchResponse }> {
  return caller.call(
    'read',
    'watch',
    async (rpc, callOptions) => {
      // No deadline on the stream itself: it lives until cancelled. Only its opening is bounded.
      const stream = rpc.service(WatchService).watch(call, { waitForReady: false });
      const remainingMs = callOptions.timeoutMs ?? 10_000;
      let timer: NodeJS.Timeout | undefined;
      const abort = (): void => stream.cancel();
      callOptions.signal?.addEventListener('abort', abort, { once: true });
      try {
        const first = await Promise.race([
          stream.next(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new DeadlineExceededError(`The watch did not open in ${remainingMs} ms`)),
              remainingMs,
            );
          }),
        ]);
        if (first.done === true) throw new CancelledError('The watch stream ended before it opened');
        return { stream, created: first.value };
      } catch (error) {
        stream.cancel();
        throw error;
      } finally {
        clearTimeout(timer);
        callOptions.signal?.removeEventListener('abort', abort);
      }
    },
    options,
  );
}

/**
 * The part of a response not delivered yet (undefined when nothing is
 * left), and the resume point after it: events of revisions below
 * `next`, and the first `skip` events of revision `next` (after a reopen),
 * were delivered by an earlier stream.
 */
export function deliverable(response: WatchResponse, resume: Resume): WatchBatch | undefined {
  if (response.events.length === 0) {
    if (response.cancelled !== undefined) return undefined;
    // A progress notification: every change through `revision` was delivered.
    if (resume.delivered === 0 && response.revision + 1 > resume.next) {
      resume.next = response.revision + 1;
      resume.skip = 0;
    }
    return { revision: response.revision, events: [] };
  }
  const events: Event[] = [];
  for (const event of response.events) {
    const revision = event.kv.modRevision;
    if (revision < resume.next) continue;
    if (revision === resume.next && resume.skip > 0) {
      resume.skip--;
      continue;
    }
    events.push(event);
  }
  const last = response.events[response.events.length - 1] as Event;
  const lastRevision = last.kv.modRevision;
  if (response.fragment) {
    // Revision `lastRevision` continues in the next response: count what of it was delivered.
    const ofLast = events.filter((event) => event.kv.modRevision === lastRevision).length;
    const before = lastRevision === resume.next ? resume.delivered : 0;
    if (lastRevision !== resume.next) resume.skip = 0;
    resume.next = lastRevision;
    resume.delivered = before + ofLast;
  } else if (lastRevision >= resume.next) {
    resume.next = lastRevision + 1;
    resume.delivered = 0;
    resume.skip = 0;
  }
  return events.length === 0 ? undefined : { revision: response.revision, events };
}
