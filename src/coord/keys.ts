/**
 * The key layout and the waiting the coordination recipes share: each
 * party (a lock holder or waiter, a semaphore slot, a candidate) owns one
 * key under the recipe's prefix, attached to its session's lease, and the
 * order of create revisions is the queue. A party waits only for the key
 * just before its own to go (no thundering herd: a release wakes one).
 *
 * @module
 */
import { CompactedError, OutcomeUnknownError } from '../base/errors.ts';
import { type Bytes, toBytes } from '../client/bytes.ts';
import type { Client } from '../client/client.ts';
import { compare, op } from '../client/txn-ops.ts';
import { prefixEnd } from '../kv/key-span.ts';
import type { KeyValue } from '../kv/types.ts';
import type { Session } from './session.ts';
import { type StopOptions, untilStopped, waitForEvent } from './waiting.ts';

const SEPARATOR = 0x2f; // '/'

/** A recipe's prefix: its name and `/` (etcd's `NewMutex(s, name)` makes the same). */
export function prefixOf(name: Bytes, what: string): Uint8Array {
  const bytes = toBytes(name, `${what} name`);
  if (bytes.length === 0) throw new TypeError(`Cannot create ${what}: the name is empty`);
  const prefix = new Uint8Array(bytes.length + 1);
  prefix.set(bytes);
  prefix[bytes.length] = SEPARATOR;
  return prefix;
}

/** The key a session owns under `prefix`: the prefix and the lease id in hex (as etcd's recipes). */
export function sessionKey(prefix: Uint8Array, session: Session): Uint8Array {
  return concat(prefix, new TextEncoder().encode(session.lease.toString(16)));
}

export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** A prefix as the client's span. */
export function spanOf(prefix: Uint8Array): { key: Uint8Array; rangeEnd: Uint8Array } {
  return { key: prefix, rangeEnd: prefixEnd(prefix) };
}

/** Attempts of an idempotent write whose answers were lost, before giving up. */
export const IDEMPOTENT_ATTEMPTS_MAX = 5;

/**
 * Runs an idempotent write (a put guarded by its own absence, a delete of
 * one's own key), asking again when its answer was lost
 * (`OutcomeUnknownError`): asking twice has the effect of asking once.
 * Stops when the session ends or the signal aborts.
 */
export function retryIdempotent<T>(
  session: Session,
  options: { signal?: AbortSignal },
  write: () => Promise<T>,
): Promise<T> {
  return retryLostAnswer(options, write, () => session.alive);
}

/** {@link retryIdempotent} without a session: while `goOn()` holds. */
export async function retryLostAnswer<T>(
  options: { signal?: AbortSignal },
  write: () => Promise<T>,
  goOn: () => boolean = () => true,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      const lost = error instanceof OutcomeUnknownError;
      if (!lost || attempt >= IDEMPOTENT_ATTEMPTS_MAX || options.signal?.aborted === true || !goOn()) {
        throw error;
      }
    }
  }
}

/** A party's key, once it is in the queue. */
export interface QueuedKey {
  /** The key. */
  readonly key: Uint8Array;
  /** Its create revision: the party's place in the queue (a lock's fencing token). */
  readonly revision: number;
  /** The first key of the queue (lowest create revision) when the key was queued. */
  readonly first: KeyValue | undefined;
  /** Whether this call created the key (false: the session had queued it before). */
  readonly created: boolean;
}

/**
 * Puts `key` with the session's lease unless it exists (then it is the
 * session's already: queued before, or by a call whose answer was lost),
 * and reads the first key of the queue in the same transaction.
 */
export async function enqueue(
  session: Session,
  prefix: Uint8Array,
  key: Uint8Array,
  value: Bytes,
  options: { signal?: AbortSignal; timeoutMs?: number },
): Promise<QueuedKey> {
  const first = op.get({ ...spanOf(prefix), sortTarget: 'create', sortOrder: 'ascend', limit: 1 });
  const response = await session.client.kv.txn(
    {
      compare: [compare.createRevision(key, 'equal', 0)],
      success: [op.put(key, value, { lease: session.lease }), first],
      failure: [op.get(key), first],
    },
    options,
  );
  const [mine, head] = response.responses;
  let revision: number;
  if (response.succeeded) {
    revision = response.revision;
  } else {
    const existing = mine?.type === 'range' ? mine.response.kvs[0] : undefined;
    if (existing === undefined) throw new Error(`Cannot enqueue: the key vanished within one transaction`);
    revision = existing.createRevision;
  }
  const firstKv = head?.type === 'range' ? head.response.kvs[0] : undefined;
  return { key, revision, first: firstKv, created: response.succeeded };
}

/**
 * Waits until no key under `prefix` was created at or below
 * `maxCreateRevision`: each round watches only the latest such key, for its
 * delete. Aborts with the session (its loss) or `signal`.
 *
 * @throws {SessionExpiredError} or {CancelledError} when the session ends or `signal` aborts.
 * @throws {DeadlineExceededError} when `deadline` (clock ms) passes.
 */
export function waitForPredecessors(
  session: Session,
  prefix: Uint8Array,
  maxCreateRevision: number,
  options: StopOptions,
): Promise<void> {
  const client = session.client;
  return untilStopped(session, 'wait', options, async (stop) => {
    for (;;) {
      const { kvs, revision } = await client.kv.range(
        { ...spanOf(prefix), maxCreateRevision, sortTarget: 'create', sortOrder: 'descend', limit: 1 },
        { signal: stop },
      );
      const predecessor = kvs[0];
      if (predecessor === undefined) return;
      await waitForDelete(client, predecessor.key, revision + 1, stop);
    }
  });
}

/**
 * Waits until `key` is deleted at or after `fromRevision`; resolves too when
 * that history was compacted meanwhile (the caller reads the state again).
 */
export async function waitForDelete(
  client: Client,
  key: Uint8Array,
  fromRevision: number,
  signal: AbortSignal,
): Promise<void> {
  try {
    await waitForEvent(
      client,
      key,
      { fromRevision, signal, filters: ['noPut'] },
      (event) => event.type === 'delete',
    );
  } catch (error) {
    if (!(error instanceof CompactedError)) throw error;
  }
}
