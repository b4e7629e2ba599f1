/**
 * Asking a cluster through its members' client endpoints: try them in
 * turn, follow a `NOT_LEADER` answer to the leader, and retry only what
 * certainly did not take effect. Used by the CLI and by a member passing a
 * read on to the others.
 *
 * @module
 */
import { NotLeaderError, TesseraError } from '../base/errors.ts';
import { RpcClient } from '../transport/rpc-client.ts';

/** How long one request to the cluster waits for an answer. */
export const CLIENT_TIMEOUT_MS = 10_000;

/** Codes after which a request certainly did not take effect, so another member may be asked. */
const RETRYABLE = new Set(['UNAVAILABLE', 'NOT_LEADER', 'PROPOSAL_DROPPED']);

/**
 * Runs `action` against the endpoints in turn until one answers; a
 * `NOT_LEADER` answer naming the leader's client address is followed there
 * first. Refusals that are safe to retry (no leader yet, an unreachable
 * member, a dropped proposal) go round the endpoints again, with a short
 * pause, until {@link CLIENT_TIMEOUT_MS}; an unknown outcome (connection lost,
 * deadline) is never retried, since the request may have taken effect.
 */
export async function withEndpoint<T>(
  endpoints: readonly string[],
  action: (client: RpcClient) => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + CLIENT_TIMEOUT_MS;
  let lastError: unknown;
  for (let round = 0; Date.now() < deadline; round++) {
    if (round > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(50 * round, 500)));
    const queue = [...endpoints];
    const tried = new Set<string>();
    while (queue.length > 0) {
      const address = queue.shift() as string;
      if (tried.has(address)) continue;
      tried.add(address);
      const client = new RpcClient({ address });
      try {
        return await action(client);
      } catch (error) {
        lastError = error;
        if (!(error instanceof TesseraError && RETRYABLE.has(error.code))) throw error;
        const leaderClient = error.details?.['leaderClient'];
        if (error instanceof NotLeaderError && typeof leaderClient === 'string' && leaderClient !== '') {
          queue.unshift(leaderClient);
        }
      } finally {
        client.close();
      }
    }
  }
  throw lastError;
}
