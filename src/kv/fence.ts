/**
 * Fenced writes: a write that carries a {@link Fence} runs only while its
 * token still holds its lock. This is what makes a lock holder that was
 * paused past its lease harmless (Kleppmann's fencing tokens, checked by
 * the store itself rather than by every resource the holder writes to).
 *
 * The check runs when the write is applied, in log order, against the
 * state the write would change: no later holder can be granted the lock
 * between the check and the write.
 *
 * @module
 */
import { FencedError } from '../base/errors.ts';
import { keySpanOf, prefixEnd } from './key-span.ts';
import { describeKey } from './request-checks.ts';
import { scanSpan } from './span-scan.ts';
import type { StoreState } from './store-state.ts';
import type { Fence } from './types.ts';

const SEPARATOR = 0x2f; // '/'

/** The prefix of a lock's keys: its name and `/`, as etcd's `concurrency.NewMutex`. */
export function lockPrefix(lock: Uint8Array): Uint8Array {
  const prefix = new Uint8Array(lock.length + 1);
  prefix.set(lock);
  prefix[lock.length] = SEPARATOR;
  return prefix;
}

/**
 * The current holder's token of the lock named `lock`: the lowest create
 * revision among its live keys, or 0 when it has none. It visits every key
 * under the lock (holder and waiters): a fenced write costs as many index
 * steps as the lock has waiters.
 */
export function lockHolderToken(state: StoreState, lock: Uint8Array): number {
  const prefix = lockPrefix(lock);
  let lowest = 0;
  scanSpan(state.index, keySpanOf(prefix, prefixEnd(prefix)), false, (_keyId, head) => {
    const record = head.record;
    if (!record.tombstone && (lowest === 0 || record.createRevision < lowest)) lowest = record.createRevision;
    return true;
  });
  return lowest;
}

/**
 * Checks a write's fence against the state.
 *
 * @throws {FencedError} when the token does not hold the lock now;
 *   `details` has the write's `token` and the `holderToken` (0: no holder).
 */
export function checkFenceAgainstState(state: StoreState, fence: Fence | undefined, action: string): void {
  if (fence === undefined) return;
  const holderToken = lockHolderToken(state, fence.lock);
  if (holderToken === fence.token) return;
  const why =
    holderToken === 0
      ? 'the lock has no holder now'
      : holderToken > fence.token
        ? `a newer holder has token ${holderToken}`
        : `the lock is held with token ${holderToken}`;
  throw new FencedError(
    `Cannot ${action}: fencing token ${fence.token} no longer holds lock ${describeKey(fence.lock)} (${why})`,
    { details: { token: fence.token, holderToken } },
  );
}
