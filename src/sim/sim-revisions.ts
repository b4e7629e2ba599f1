/**
 * The simulator's side of the revision checker (`revision-checker.ts`): it
 * records the committed revisions as members apply them, the revisions each
 * request's entry made, and where each client call took effect (the revision
 * after its entry applied, or the revision a read was served at); at the
 * end of the run it checks every call against them.
 *
 * @module
 */
import { MvccStore } from '../kv/mvcc-store.ts';
import type { Event } from '../kv/types.ts';
import type { NodeId } from '../raft/types.ts';
import type { KvApplied } from './kv-machine.ts';
import { checkRevisions, type RevisionCheckResult, type RevisionedOperation } from './revision-checker.ts';
import { RevisionHistory } from './revision-history.ts';
import type { HistoryOperation } from './simulation.ts';

/** Identifies a request across members: `clientId/requestId`. */
type RequestKey = string;

function requestKeyOf(clientId: number, requestId: number): RequestKey {
  return `${clientId}/${requestId}`;
}

/** A client call, from issue to where it took effect. */
interface TrackedCall {
  readonly operation: HistoryOperation;
  readonly request: RequestKey;
  /** For a read: the revision it was served at, and whether it went through ReadIndex. */
  served: { readonly revision: number; readonly linearizable: boolean } | undefined;
}

/** Where a request's log entry took effect, as first applied. */
interface Application {
  /** The store's revision once the entry applied. */
  readonly revision: number;
  /** The revisions the entry made. */
  readonly wrote: readonly number[];
}

/** The revision record and checker of one run. */
export class SimRevisions {
  readonly history = new RevisionHistory(new MvccStore().revision);
  /** Revisions each member made while applying its current entry, until the entry is reported applied. */
  readonly #entryRevisions = new Map<NodeId, number[]>();
  readonly #applications = new Map<RequestKey, Application>();
  readonly #calls = new Map<HistoryOperation, TrackedCall>();

  /**
   * A member applied a write that made `revision` (inside the entry it is
   * applying).
   *
   * @returns a violation when the revision leaves a gap.
   */
  recordWrite(member: NodeId, revision: number, events: readonly Event[]): string | undefined {
    const revisions = this.#entryRevisions.get(member);
    if (revisions === undefined) this.#entryRevisions.set(member, [revision]);
    else revisions.push(revision);
    return this.history.record(revision, events);
  }

  /**
   * A member finished applying an entry, answering `applied` (undefined: no
   * request's), its store now at `revision`.
   *
   * @returns a violation when an entry of no request made a revision.
   */
  applied(member: NodeId, revision: number, applied: KvApplied | undefined): string | undefined {
    const wrote = this.#entryRevisions.get(member) ?? [];
    this.#entryRevisions.delete(member);
    if (applied === undefined) {
      if (wrote.length === 0) return undefined;
      return `revisions: member ${member} made revisions ${wrote.join(', ')} applying an entry of no request`;
    }
    for (const one of [applied, ...(applied.batch ?? [])]) {
      const request = requestKeyOf(one.clientId, one.requestId);
      if (!this.#applications.has(request)) this.#applications.set(request, { revision, wrote });
    }
    return undefined;
  }

  /** A client issued `operation` as request `requestId`. */
  issued(operation: HistoryOperation, requestId: number): void {
    const request = requestKeyOf(operation.clientId, requestId);
    this.#calls.set(operation, { operation, request, served: undefined });
  }

  /**
   * A read was served at `revision` (linearizable: after ReadIndex). Its
   * revision cannot be newer than what any member has applied, so newer
   * than what was committed when it returned.
   *
   * @returns a violation when it is.
   */
  served(operation: HistoryOperation, revision: number, linearizable: boolean): string | undefined {
    const call = this.#calls.get(operation);
    if (call === undefined) throw new Error(`Invariant: a read served that was never issued`);
    call.served = { revision, linearizable };
    if (revision <= this.history.latest) return undefined;
    return `revisions: a read served at revision ${revision}, newer than any applied (${this.history.latest})`;
  }

  /** Checks every call against the committed revisions. */
  check(): RevisionCheckResult {
    const operations: RevisionedOperation[] = [];
    for (const { operation, request, served } of this.#calls.values()) {
      if (operation.input.op === 'get' || operation.input.op === 'range') {
        operations.push({
          operation,
          revision: served?.revision,
          wrote: [],
          linearizable: served?.linearizable ?? true,
        });
        continue;
      }
      const application = this.#applications.get(request);
      operations.push({
        operation,
        revision: application?.revision,
        wrote: application?.wrote ?? [],
        linearizable: true,
      });
    }
    return checkRevisions(operations, this.history);
  }
}
