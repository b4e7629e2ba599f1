/**
 * Membership changes: what a change says, its encoding inside a log entry,
 * and the pure rule that turns one membership into the next.
 *
 * Tessera changes membership **one server at a time** (thesis §4.1): any
 * majority of the old voters and any majority of the new ones overlap when
 * they differ by one voter, so no two leaders can be elected for one term
 * by the two configurations. We chose it over joint consensus (§4.3)
 * because every operation users ask for (add a learner, promote it, remove
 * a member, replace one member) is a sequence of single steps, and the
 * single-step rule has one moving part instead of a two-phase transition.
 *
 * The known flaw of single-server changes (Ongaro, raft-dev, 2015: a change
 * appended by a leader that has not yet committed an entry of its term can
 * combine with an uncommitted change of an earlier leader into two
 * configurations without overlap) is closed the way the fix prescribes: a
 * leader accepts a change only after it committed an entry of its own term
 * (its no-op), and only when no earlier change is still unapplied. As in
 * etcd/raft, a change takes effect on each member when it is applied.
 *
 * @module
 */
import { InvalidArgumentError } from '../base/errors.ts';
import { type ConfState, type Entry, EntryType, type HardState, type NodeId } from './types.ts';

/** What a membership change does. */
export const ConfChangeType = {
  /** Add a voter, or promote a learner to voter. */
  addVoter: 0,
  /** Add a learner (non-voting, catches up first; thesis §4.2.1), or demote a voter. */
  addLearner: 1,
  /** Remove a voter or a learner. */
  remove: 2,
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

/** One membership change, as proposed and as stored in a `confChange` entry. */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  /** Opaque bytes for the application (a new member's address, say). */
  readonly context: Uint8Array;
}

/** Most bytes of a change's context. */
export const CONF_CHANGE_CONTEXT_BYTES_MAX = 64 * 1024;

const ENCODING_VERSION = 1;
const HEADER_BYTES = 10;
const TYPE_NAMES = ['addVoter', 'addLearner', 'remove'] as const;

/** Encodes a change as an entry's data: version, type, id (float64), context. */
export function encodeConfChange(change: ConfChange): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES + change.context.length);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, ENCODING_VERSION);
  view.setUint8(1, change.type);
  view.setFloat64(2, change.nodeId);
  bytes.set(change.context, HEADER_BYTES);
  return bytes;
}

/**
 * Decodes a change written by {@link encodeConfChange}.
 *
 * @throws {InvalidArgumentError} when the bytes are not a change.
 */
export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length < HEADER_BYTES) {
    throw new InvalidArgumentError(`Cannot decode membership change: ${data.length} bytes is too short`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const version = view.getUint8(0);
  if (version !== ENCODING_VERSION) {
    throw new InvalidArgumentError(`Cannot decode membership change: unknown version ${version}`);
  }
  const type = view.getUint8(1);
  if (type > ConfChangeType.remove) {
    throw new InvalidArgumentError(`Cannot decode membership change: unknown type ${type}`);
  }
  const nodeId = view.getFloat64(2);
  return { type: type as ConfChangeType, nodeId, context: data.slice(HEADER_BYTES) };
}

/** A short human description, for errors and logs. */
export function describeConfChange(change: ConfChange): string {
  return `${TYPE_NAMES[change.type]} ${change.nodeId}`;
}

/**
 * The membership after `change`, or a typed error saying why the change is
 * not allowed from `confState`. Pure: every member applies the same changes
 * in log order to the same starting point and reaches the same membership,
 * including the same verdict on a change that is not allowed (it is then
 * applied as a no-op everywhere).
 *
 * Refused: an id that is not a positive safe integer; adding a voter that
 * is already a voter or a learner that is already a learner; removing a
 * member that is not one; a change that would leave no voter; a context
 * over {@link CONF_CHANGE_CONTEXT_BYTES_MAX}.
 */
export function nextConfState(confState: ConfState, change: ConfChange): ConfState | InvalidArgumentError {
  const { nodeId } = change;
  const refuse = (why: string) =>
    new InvalidArgumentError(`Cannot ${describeConfChange(change)}: ${why}`, {
      details: { nodeId, type: change.type },
    });
  if (!(Number.isSafeInteger(nodeId) && nodeId > 0)) return refuse('a member id is a positive integer');
  if (change.context.length > CONF_CHANGE_CONTEXT_BYTES_MAX) {
    return refuse(`context is over ${CONF_CHANGE_CONTEXT_BYTES_MAX} bytes`);
  }
  const isVoter = confState.voters.includes(nodeId);
  const isLearner = confState.learners.includes(nodeId);
  const voters = confState.voters.filter((id) => id !== nodeId);
  const learners = confState.learners.filter((id) => id !== nodeId);
  switch (change.type) {
    case ConfChangeType.addVoter:
      if (isVoter) return refuse('it is already a voter');
      return { voters: sorted([...voters, nodeId]), learners };
    case ConfChangeType.addLearner:
      if (isLearner) return refuse('it is already a learner');
      if (voters.length === 0) return refuse('it is the last voter');
      return { voters, learners: sorted([...learners, nodeId]) };
    case ConfChangeType.remove:
      if (!(isVoter || isLearner)) return refuse('it is not a member');
      if (voters.length === 0) return refuse('it is the last voter');
      return { voters, learners };
  }
}

function sorted(ids: NodeId[]): NodeId[] {
  return ids.sort((a, b) => a - b);
}

/** The term of the entries that found a cluster. */
export const BOOTSTRAP_TERM = 1;

/**
 * The log a brand-new cluster starts from (etcd's bootstrap): one committed
 * change per initial member, voters first, at term {@link BOOTSTRAP_TERM}.
 * `contexts` gives each member's change its context (its addresses, say).
 * Every founding member starts with these; a member added later receives
 * them from the leader like any entry (or a snapshot covering them), so
 * replaying the log from the start gives every member the same membership.
 */
export function bootstrapLog(
  confState: ConfState,
  contexts: ReadonlyMap<NodeId, Uint8Array> = new Map(),
): { entries: Entry[]; hardState: HardState } {
  const changes = [
    ...confState.voters.map((nodeId) => ({ type: ConfChangeType.addVoter, nodeId })),
    ...confState.learners.map((nodeId) => ({ type: ConfChangeType.addLearner, nodeId })),
  ];
  const entries = changes.map(({ type, nodeId }, i) => ({
    term: BOOTSTRAP_TERM,
    index: i + 1,
    type: EntryType.confChange,
    data: encodeConfChange({ type, nodeId, context: contexts.get(nodeId) ?? new Uint8Array(0) }),
  }));
  return { entries, hardState: { term: BOOTSTRAP_TERM, vote: 0, commit: entries.length } };
}
