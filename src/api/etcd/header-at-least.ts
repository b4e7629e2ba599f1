/**
 * Headers of answers made through the coordination recipes (Lock,
 * Election): the recipes run through a client of this member's own, which
 * may write on the leader, so this member may not have applied the
 * recipe's last write when it answers.
 *
 * @module
 */
import type { HeaderMaker } from './header.ts';
import type { WireResponseHeader } from './proto.ts';

/**
 * The header of an answer that saw `revision`: this member's current
 * revision, or `revision` when the member has not applied that far yet
 * (a header must never name a revision older than what the answer shows).
 *
 * @example
 * ```ts
 * return { header: headerAtLeast(header, leadership.revision), leader };
 * ```
 */
export function headerAtLeast(header: HeaderMaker, revision: number): WireResponseHeader {
  const now = header();
  return Number(now.revision) >= revision ? now : header(revision);
}
