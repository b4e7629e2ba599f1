/**
 * Which failures a client may retry on another member, by what the error
 * proves about the request: a read can always be asked again, a write only
 * when the error proves it did not take effect.
 *
 * What the server raises, and when (`src/server/node.ts`,
 * `src/server/peer-transport.ts`, `src/transport/rpc-client.ts`):
 *
 * - before anything is proposed: `UNAVAILABLE` (no leader known, member
 *   shutting down, a forward that never left, a call the RPC layer did not
 *   send or the server's GOAWAY says it never ran), `NOT_LEADER` (a
 *   leader-only call on a follower), `NO_SPACE` (the member's disk alarm),
 *   `INVALID_ARGUMENT`/`TOO_LARGE` (refused by validation);
 * - after the proposal entered the log: `PROPOSAL_DROPPED` (a new leader
 *   replaced the entry: it will never apply), the store's refusal
 *   (`INVALID_ARGUMENT`, `COMPACTED`...: applied as a no-op),
 *   `DEADLINE_EXCEEDED` (no outcome in time) and `CONNECTION_LOST` (a
 *   connection on the way dropped, or the member shut down while waiting):
 *   the last two leave the outcome unknown.
 *
 * @module
 */
import { RemoteError, TesseraError } from '../base/errors.ts';

/** Whether a call changes state: only reads are retried after an unknown outcome. */
export type CallKind = 'read' | 'write';

/**
 * What to do after a failed attempt:
 * - `retry`: ask again (another member first); the request certainly did
 *   not take effect, or it is a read;
 * - `outcomeUnknown`: a write that may have taken effect; stop and say so;
 * - `fail`: an answer about the request itself (bad argument, compacted,
 *   refused); retrying would get the same.
 */
export type FailureVerdict = 'retry' | 'outcomeUnknown' | 'fail';

/** Codes after which a request certainly did not take effect (as `src/server/endpoints.ts`). */
export const NOT_APPLIED_CODES: ReadonlySet<string> = new Set([
  'UNAVAILABLE',
  'NOT_LEADER',
  'PROPOSAL_DROPPED',
]);

/** Codes after which a sent request may or may not have taken effect. */
export const OUTCOME_UNKNOWN_CODES: ReadonlySet<string> = new Set(['CONNECTION_LOST', 'DEADLINE_EXCEEDED']);

/** The code of an error from the transport or the server, if it has one. */
export function errorCode(error: unknown): string | undefined {
  return error instanceof TesseraError || error instanceof RemoteError ? error.code : undefined;
}

/**
 * Decides what a failed attempt of a `kind` call allows.
 *
 * @example
 * ```ts
 * failureVerdict(new ConnectionLostError('lost'), 'read'); // 'retry'
 * failureVerdict(new ConnectionLostError('lost'), 'write'); // 'outcomeUnknown'
 * failureVerdict(new ProposalDroppedError('dropped'), 'write'); // 'retry'
 * ```
 */
export function failureVerdict(error: unknown, kind: CallKind): FailureVerdict {
  const code = errorCode(error);
  if (code === undefined) return 'fail';
  if (NOT_APPLIED_CODES.has(code)) return 'retry';
  if (OUTCOME_UNKNOWN_CODES.has(code)) return kind === 'read' ? 'retry' : 'outcomeUnknown';
  return 'fail';
}
