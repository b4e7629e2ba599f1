/**
 * The simulator's watch clients and watch checker. A few watchers follow
 * the store's changes on a span (every key, or one key) from revision 1,
 * each through a session on one member's watch hub; when the member crashes,
 * pauses for good, installs a snapshot or leaves the cluster, the session
 * ends and the watcher resumes on another member from the first revision it
 * did not get whole, as etcd's clients resume. At the end every watcher
 * must have received exactly the changes the members applied on its span,
 * revision by revision, in order, with no gap and no duplicate; the only
 * gaps allowed are those a compaction announced (`COMPACTED`).
 *
 * The changes applied are recorded as members apply them (`recordWrite`):
 * the first member to apply a revision fixes what it was, and every other
 * member must produce exactly the same (state machine safety, checked on
 * the store's own output).
 *
 * @module
 */
import { CompactedError } from '../base/errors.ts';
import type { SeededRandom } from '../base/random.ts';
import type { Event } from '../kv/types.ts';
import type { WatchHub } from '../kv/watch-hub.ts';
import type { NodeId } from '../raft/types.ts';
import type { SimMember } from './sim-member.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Events a watcher takes per tick: small, so revisions often arrive in fragments. */
const WATCH_TAKE_EVENTS = 3;

interface WatchSession {
  readonly member: NodeId;
  readonly hub: WatchHub;
  readonly watchId: number;
}

interface SimWatcher {
  readonly name: string;
  readonly key: Uint8Array;
  /** The span's end, as in a range (undefined: the one key). */
  readonly rangeEnd: Uint8Array | undefined;
  readonly matches: (key: string) => boolean;
  session: WatchSession | undefined;
  /** The first revision not yet received whole. */
  nextRevision: number;
  /** Changes of the revision being received (a fragment so far). */
  partial: Event[];
  /** Every revision received whole, in order of arrival. */
  readonly received: { revision: number; changes: string }[];
  /** Revisions a compaction announced as lost: [from, to]. */
  readonly gaps: [number, number][];
}

/** The watchers of one run, and what they must have seen. */
export class SimWatchers {
  readonly #random: SeededRandom;
  readonly #watchers: SimWatcher[];
  /** Each revision's changes as first applied, by revision. */
  readonly #applied = new Map<number, { member: NodeId; events: readonly Event[]; changes: string }>();
  /** Sessions opened (statistics). */
  sessions = 0;

  constructor(random: SeededRandom) {
    this.#random = random;
    const all = encoder.encode('k');
    const oneKey = 'k0.0';
    this.#watchers = [
      watcher('every key', all, new Uint8Array([all[0]! + 1]), (key) => key.startsWith('k')),
      watcher(`key ${oneKey}`, encoder.encode(oneKey), undefined, (key) => key === oneKey),
    ];
  }

  /**
   * Records the changes a member applied at `revision`.
   *
   * @returns a violation when another member applied different changes there.
   */
  recordWrite(member: NodeId, revision: number, events: readonly Event[]): string | undefined {
    const changes = describe(events);
    const first = this.#applied.get(revision);
    if (first === undefined) {
      this.#applied.set(revision, { member, events, changes });
      return undefined;
    }
    if (first.changes === changes) return undefined;
    return `state machine safety: at revision ${revision} member ${member} changed ${changes}, member ${first.member} changed ${first.changes}`;
  }

  /**
   * One tick of every watcher: a session on a member that is still there
   * takes a few events; one whose member went away ends; a watcher without
   * a session opens one on a member of `members` (the cluster's current
   * membership, or every member when no leader knows it), running and not
   * paused.
   */
  act(all: ReadonlyMap<NodeId, SimMember>, members: readonly NodeId[] | undefined, now: number): void {
    for (const w of this.#watchers) {
      const session = w.session;
      const member = session === undefined ? undefined : all.get(session.member);
      if (session !== undefined) {
        const gone =
          member === undefined ||
          !member.alive ||
          member.machine.hub !== session.hub ||
          (members !== undefined && !members.includes(member.id));
        if (gone) this.#endSession(w);
        else if (now >= (member?.pausedUntil ?? 0)) this.#take(w, member as SimMember, session);
        continue;
      }
      const candidates = (members ?? [...all.keys()]).filter((id) => {
        const m = all.get(id);
        if (m === undefined) return false;
        return m.alive && now >= m.pausedUntil;
      });
      const chosen = all.get(candidates[this.#random.int(Math.max(1, candidates.length))] ?? 0);
      if (chosen !== undefined) this.#open(w, chosen);
    }
  }

  #open(w: SimWatcher, member: SimMember): void {
    try {
      const watchId = member.machine.watch({
        key: w.key,
        ...(w.rangeEnd === undefined ? {} : { rangeEnd: w.rangeEnd }),
        startRevision: w.nextRevision,
      });
      w.session = { member: member.id, hub: member.machine.hub, watchId };
      this.sessions++;
    } catch (error) {
      if (!(error instanceof CompactedError)) throw error;
      this.#skipCompacted(w, Number(error.details?.['compactRevision']));
    }
  }

  #take(w: SimWatcher, member: SimMember, session: WatchSession): void {
    const response = member.machine.take(session.watchId, WATCH_TAKE_EVENTS);
    for (const event of response.events) {
      const revision = event.kv.modRevision;
      const current = w.partial[0]?.kv.modRevision;
      if (current !== undefined && revision !== current) this.#complete(w);
      w.partial.push(event);
    }
    if (!response.fragment && w.partial.length > 0) this.#complete(w);
    const cancelled = response.cancelled;
    if (cancelled === undefined) {
      // A progress notification: everything up to the hub's revision was delivered (etcd's progress notify).
      const progress = member.machine.hub.progress(session.watchId);
      if (progress !== undefined && w.partial.length === 0)
        w.nextRevision = Math.max(w.nextRevision, progress + 1);
      return;
    }
    w.session = undefined;
    w.partial = [];
    w.nextRevision = cancelled.resumeRevision;
    if (cancelled.reason === 'compacted') this.#skipCompacted(w, cancelled.compactRevision ?? 0);
  }

  /** The revision in `partial` arrived whole. */
  #complete(w: SimWatcher): void {
    const revision = w.partial[0]?.kv.modRevision ?? 0;
    w.received.push({ revision, changes: describe(w.partial) });
    w.partial = [];
    w.nextRevision = Math.max(w.nextRevision, revision + 1);
  }

  /** A compaction took the history from `nextRevision` up to `compactRevision`: an announced gap. */
  #skipCompacted(w: SimWatcher, compactRevision: number): void {
    if (compactRevision >= w.nextRevision) w.gaps.push([w.nextRevision, compactRevision]);
    w.nextRevision = Math.max(w.nextRevision, compactRevision + 1);
  }

  #endSession(w: SimWatcher): void {
    w.session = undefined;
    // A revision received in part is asked for again from its start.
    w.partial = [];
  }

  /** Whether every watcher has received every revision up to `revision`. */
  caughtUp(revision: number): boolean {
    return this.#watchers.every((w) => w.nextRevision > revision);
  }

  /**
   * What each watcher received against what was applied on its span: the
   * same revisions with the same changes, in order, no gaps but the
   * announced ones, no duplicates.
   */
  check(): string[] {
    const violations: string[] = [];
    for (const w of this.#watchers) {
      const last = w.nextRevision - 1;
      const expected: { revision: number; changes: string }[] = [];
      for (let revision = 1; revision <= last; revision++) {
        if (w.gaps.some(([from, to]) => revision >= from && revision <= to)) continue;
        const applied = this.#applied.get(revision);
        if (applied === undefined) continue;
        const onSpan = applied.events.filter((event) => w.matches(decoder.decode(event.kv.key)));
        if (onSpan.length > 0) expected.push({ revision, changes: describe(onSpan) });
      }
      const index = firstDifference(w.received, expected);
      if (index === undefined) continue;
      const got = w.received[index];
      const want = expected[index];
      violations.push(
        `watch: watcher on ${w.name} got ${got === undefined ? 'nothing' : `revision ${got.revision}: ${got.changes}`} where revision ${want?.revision ?? '-'} changed ${want?.changes ?? 'nothing more'}`,
      );
    }
    return violations;
  }

  /** Events received, revisions received, sessions opened (statistics). */
  get eventsReceived(): number {
    return this.#watchers.reduce((sum, w) => sum + w.received.length, 0);
  }
}

function watcher(
  name: string,
  key: Uint8Array,
  rangeEnd: Uint8Array | undefined,
  matches: (key: string) => boolean,
): SimWatcher {
  return {
    name,
    key,
    rangeEnd,
    matches,
    session: undefined,
    nextRevision: 1,
    partial: [],
    received: [],
    gaps: [],
  };
}

/** The changes of one revision, as text to compare. */
function describe(events: readonly Event[]): string {
  return events
    .map((event) => {
      const { key, value, createRevision, modRevision, version } = event.kv;
      const change = event.type === 'put' ? `=${decoder.decode(value)}` : ' deleted';
      return `${decoder.decode(key)}${change} (${createRevision}/${modRevision}/${version})`;
    })
    .join(', ');
}

function firstDifference(
  received: readonly { revision: number; changes: string }[],
  expected: readonly { revision: number; changes: string }[],
): number | undefined {
  for (let i = 0; i < Math.max(received.length, expected.length); i++) {
    const a = received[i];
    const b = expected[i];
    if (a?.revision !== b?.revision || a?.changes !== b?.changes) return i;
  }
  return undefined;
}
