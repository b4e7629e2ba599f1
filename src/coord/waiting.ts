/**
 * The waiting the semaphore and barrier recipes share beyond `keys.ts`:
 * waiting for one watch event that a predicate takes, counting the queue
 * ahead of a key, and the stop conditions of a wait (the session's end,
 * the caller's signal, a deadline) turned into the error that names the
 * one that fired.
 *
 * @module
 */
import { CancelledError, DeadlineExceededError } from '../base/errors.ts';
import type { Client } from '../client/client.ts';
import type { RangeInput } from '../client/requests.ts';
import type { Event, KeyValue, WatchFilter } from '../kv/types.ts';
import { spanOf } from './keys.ts';
import type { Session } from './session.ts';

/** When a wait stops before its condition holds. */
export interface StopOptions {
  /** Stop when this signal aborts: `CancelledError`. */
  readonly signal?: AbortSignal;
  /** Stop when the clock passes this (ms since the epoch): `DeadlineExceededError`. */
  readonly deadline?: number;
}

/** The deadline (clock ms) of a call given `timeoutMs`, or undefined for none. */
export function deadlineOf(timeoutMs: number | undefined): number | undefined {
  if (timeoutMs === undefined) return undefined;
  if (!(timeoutMs >= 0))
    throw new RangeError(`Cannot wait: timeoutMs must be a number >= 0, got ${timeoutMs}`);
  return Date.now() + timeoutMs;
}

/**
 * Runs `wait` with a signal that aborts when the session ends, `options.signal`
 * aborts or `options.deadline` passes. When that signal stopped the wait, the
 * error says which of the three it was.
 *
 * @throws {SessionExpiredError} / {CancelledError} when the session ended (lost / closed).
 * @throws {CancelledError} when `options.signal` aborted.
 * @throws {DeadlineExceededError} when the deadline passed.
 * @throws what `wait` throws otherwise.
 */
export async function untilStopped<T>(
  session: Session | undefined,
  what: string,
  options: StopOptions,
  wait: (stop: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  const sources: AbortSignal[] = [];
  if (session !== undefined) sources.push(session.signal);
  if (options.signal !== undefined) sources.push(options.signal);
  for (const source of sources) {
    if (source.aborted) controller.abort();
    else source.addEventListener('abort', abort, { once: true });
  }
  const timer =
    options.deadline === undefined
      ? undefined
      : setTimeout(abort, Math.max(0, options.deadline - Date.now()));
  try {
    throwIfStopped(controller.signal, session, what, options);
    return await wait(controller.signal);
  } catch (error) {
    throwIfStopped(controller.signal, session, what, options);
    throw error;
  } finally {
    clearTimeout(timer);
    for (const source of sources) source.removeEventListener('abort', abort);
  }
}

function throwIfStopped(
  stop: AbortSignal,
  session: Session | undefined,
  what: string,
  options: StopOptions,
): void {
  if (!stop.aborted) return;
  session?.checkAlive(what);
  if (options.signal?.aborted === true) {
    throw new CancelledError(`Cannot ${what}: the signal aborted`, { cause: options.signal.reason });
  }
  throw new DeadlineExceededError(`Cannot ${what}: the deadline passed`);
}

/** Options of {@link waitForEvent}. */
export interface WaitForEventOptions {
  /** The first revision to look at (history from it on is replayed). */
  readonly fromRevision: number;
  /** Ends the wait (with `CancelledError`). */
  readonly signal: AbortSignal;
  /** Fill each event's `prevKv`. */
  readonly prevKv?: boolean;
  /** Kinds of change the watch leaves out. */
  readonly filters?: readonly WatchFilter[];
}

/**
 * Watches `input` from `options.fromRevision` until an event `accept` takes,
 * and resolves with it.
 *
 * @throws {CancelledError} when the signal stops the watch first.
 * @throws {CompactedError} when the history from `fromRevision` is gone.
 */
export async function waitForEvent(
  client: Client,
  input: RangeInput,
  options: WaitForEventOptions,
  accept: (event: Event) => boolean,
): Promise<Event> {
  const watched = client.watch(input, {
    startRevision: options.fromRevision,
    signal: options.signal,
    ...(options.prevKv === true ? { prevKv: true } : {}),
    ...(options.filters === undefined ? {} : { filters: options.filters }),
  });
  for await (const batch of watched) {
    const taken = batch.events.find(accept);
    if (taken !== undefined) return taken;
  }
  throw new CancelledError('Cannot wait for the change: the watch was stopped');
}

/** What {@link countCreatedUpTo} found. */
export interface QueueCount {
  /** How many keys it counted, at most `countMax`. */
  readonly count: number;
  /** The newest of them (highest create revision), or undefined when none. */
  readonly newest: KeyValue | undefined;
  /** The revision the count was made at. */
  readonly revision: number;
}

/**
 * Counts the keys under `prefix` created at or before `maxCreateRevision`
 * (the queue ahead of a party), stopping at `countMax`. It reads keys only,
 * newest first, in pages (the store cuts a reply at its page limits), all
 * at the revision of the first page, so the count is of one state.
 */
export async function countCreatedUpTo(
  client: Client,
  prefix: Uint8Array,
  options: { maxCreateRevision: number; countMax: number; signal?: AbortSignal },
): Promise<QueueCount> {
  const call = options.signal === undefined ? {} : { signal: options.signal };
  let count = 0;
  let newest: KeyValue | undefined;
  let revision = 0;
  let below = options.maxCreateRevision;
  // Each page holds one key at least, so the count grows every round until countMax ends the loop.
  while (below >= 1 && count < options.countMax) {
    const page = await client.kv.range(
      {
        ...spanOf(prefix),
        maxCreateRevision: below,
        sortTarget: 'create',
        sortOrder: 'descend',
        limit: options.countMax - count,
        keysOnly: true,
        ...(revision === 0 ? {} : { revision }),
      },
      call,
    );
    if (revision === 0) revision = page.revision;
    newest ??= page.kvs[0];
    count += page.kvs.length;
    const last = page.kvs[page.kvs.length - 1];
    if (!page.more || last === undefined) break;
    below = last.createRevision - 1;
  }
  return { count, newest, revision };
}
