/**
 * The watch hub's invariants, checked in full: every watcher is in exactly
 * one phase and in the structures of that phase only, and every buffered
 * event belongs to its watcher (span, filters, start, order). O(watchers +
 * buffered events): for tests, after every step.
 *
 * @module
 */
import { keyIdOf, keySpanHas } from './key-span.ts';
import type { WatchHubLimits } from './limits.ts';
import type { Watcher } from './watcher.ts';

/** What the checks read of a hub. */
export interface WatchHubView {
  readonly revision: number;
  readonly storeRevision: number;
  readonly limits: WatchHubLimits;
  readonly nextId: number;
  readonly watchers: ReadonlyMap<number, Watcher>;
  readonly byKey: ReadonlyMap<string, ReadonlySet<Watcher>>;
  readonly spans: ReadonlySet<Watcher>;
  readonly catchingUp: ReadonlySet<Watcher>;
}

function fail(message: string): never {
  throw new Error(`Invariant: ${message}`);
}

function checkBuffer(hub: WatchHubView, watcher: Watcher): void {
  const { spec } = watcher;
  const name = `watcher ${spec.id}`;
  if (watcher.buffered > hub.limits.eventsBufferedMax) fail(`${name} buffers more than eventsBufferedMax`);
  const below = watcher.catchUp?.revision ?? hub.revision;
  let previous = 0;
  for (let i = 0; i < watcher.buffered; i++) {
    const event = watcher.peek(i);
    if (event === undefined) fail(`${name} lost an event`);
    const revision = event.kv.modRevision;
    if (revision < previous) fail(`${name} buffers events out of revision order`);
    previous = revision;
    if (revision < spec.startRevision) fail(`${name} buffers revision ${revision} before its start`);
    if (revision > below) fail(`${name} buffers revision ${revision} past where it stands (${below})`);
    if (!keySpanHas(spec.span, keyIdOf(event.kv.key))) fail(`${name} buffers a key outside its span`);
    if (event.type === 'put' ? spec.noPut : spec.noDelete) fail(`${name} buffers an event its filters drop`);
    if (!spec.prevKv && event.prevKv !== undefined) fail(`${name} buffers a prevKv it did not ask for`);
  }
}

/**
 * Checks every invariant of a hub.
 *
 * @throws {Error} naming the first broken invariant.
 */
export function checkWatchHubInvariants(hub: WatchHubView): void {
  if (hub.revision > hub.storeRevision)
    fail(`the hub is at ${hub.revision}, past the store (${hub.storeRevision})`);
  if (hub.watchers.size > hub.limits.watchersMax) fail('more watchers than watchersMax');
  let synced = 0;
  for (const [keyId, set] of hub.byKey) {
    if (set.size === 0) fail('an empty set in the key map');
    for (const watcher of set) {
      if (!watcher.spec.span.single || watcher.spec.span.startId !== keyId)
        fail('a watcher under another key');
    }
    synced += set.size;
  }
  synced += hub.spans.size;
  let ended = 0;
  for (const [id, watcher] of hub.watchers) {
    const { spec } = watcher;
    if (spec.id !== id || id < 1 || id >= hub.nextId) fail(`watcher ${id} has a wrong id`);
    const indexed = spec.span.single
      ? hub.byKey.get(spec.span.startId)?.has(watcher) === true
      : hub.spans.has(watcher);
    const catching = hub.catchingUp.has(watcher);
    if (watcher.ended !== undefined) {
      ended++;
      if (indexed || catching || watcher.catchUp !== undefined || watcher.buffered > 0) {
        fail(`ended watcher ${id} is still linked or buffering`);
      }
      continue;
    }
    if (watcher.catchUp !== undefined) {
      if (!catching || indexed) fail(`watcher ${id} catching up is misfiled`);
      if (watcher.catchUp.revision > hub.revision + 1) fail(`watcher ${id} catches up past the hub`);
    } else if (!indexed || catching) {
      fail(`synced watcher ${id} is misfiled`);
    }
    checkBuffer(hub, watcher);
  }
  if (synced + hub.catchingUp.size + ended !== hub.watchers.size)
    fail('the phase structures hold other watchers');
}
