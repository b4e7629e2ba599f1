/**
 * Leader forwarding for the etcd front door: etcd lets a client ask any
 * member anything, so a call the shared handlers refuse with `NOT_LEADER`
 * (those only the leader answers: a lease's time to live, a renewal while
 * the leader's lessor takes over) is made again on the leader, through the
 * native RPC, as etcd's members forward to theirs.
 *
 * @module
 */
import { NotLeaderError } from '../../base/errors.ts';
import { CLIENT_TIMEOUT_MS, withEndpoint } from '../../server/endpoints.ts';
import type { RpcClient } from '../../transport/rpc-client.ts';

/** How a forwarded call waits: as long as a client of the native RPC would, for a connection too. */
export const FORWARD_CALL_OPTIONS = { timeoutMs: CLIENT_TIMEOUT_MS, waitForReady: true } as const;

/**
 * Runs `local`; when this member answers `NOT_LEADER` naming the leader's
 * client address, runs `remote` against the leader instead (following
 * further `NOT_LEADER` answers and retrying what certainly did not apply,
 * see `withEndpoint`). A `NOT_LEADER` that names no leader is thrown as it
 * is (etcd: "no leader"). Safe for writes: `NOT_LEADER` means nothing
 * changed.
 *
 * @example
 * ```ts
 * await onLeader(
 *   () => handlers.lease.timeToLive(call, context),
 *   (client) => client.service(LeaseService).timeToLive(call, FORWARD_CALL_OPTIONS),
 * );
 * ```
 */
export async function onLeader<T>(
  local: () => Promise<T>,
  remote: (leader: RpcClient) => Promise<T>,
): Promise<T> {
  try {
    return await local();
  } catch (error) {
    const leaderClient = error instanceof NotLeaderError ? error.details?.['leaderClient'] : undefined;
    if (typeof leaderClient !== 'string' || leaderClient === '') throw error;
    return withEndpoint([leaderClient], remote);
  }
}
