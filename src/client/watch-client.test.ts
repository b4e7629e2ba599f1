import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Event, WatchResponse } from '../kv/types.ts';
import { deliverable, type Resume, reopened } from './watch-client.ts';

const event = (key: string, revision: number): Event => ({
  type: 'put',
  kv: {
    key: new TextEncoder().encode(key),
    value: new Uint8Array(),
    createRevision: revision,
    modRevision: revision,
    version: 1,
    lease: 0,
  },
});
const response = (events: Event[], fragment = false, revision = 10): WatchResponse => ({
  watchId: 1,
  revision,
  events,
  fragment,
});
const keys = (batch: { events: readonly Event[] } | undefined) =>
  batch?.events.map((e) => `${new TextDecoder().decode(e.kv.key)}@${e.kv.modRevision}`);

describe('watch resume bookkeeping', () => {
  it('moves past whole revisions, and after a progress notification past its revision', () => {
    const resume: Resume = { next: 3, delivered: 0, skip: 0 };
    assert.deepEqual(keys(deliverable(response([event('a', 3), event('b', 4)]), resume)), ['a@3', 'b@4']);
    assert.deepEqual(resume, { next: 5, delivered: 0, skip: 0 });
    assert.deepEqual(deliverable(response([], false, 8), resume), { revision: 8, events: [] });
    assert.deepEqual(resume, { next: 9, delivered: 0, skip: 0 });
  });

  it('after a revision delivered in fragments, a resumed stream repeats none of its events and misses none', () => {
    const resume: Resume = { next: 5, delivered: 0, skip: 0 };
    // Revision 5 has three changes; the first response carries two of them.
    deliverable(response([event('a', 5), event('b', 5)], true), resume);
    assert.deepEqual(resume, { next: 5, delivered: 2, skip: 0 });
    // The stream broke; the new one starts at revision 5 again, from its first change.
    reopened(resume);
    const again = deliverable(response([event('a', 5), event('b', 5), event('c', 5), event('d', 6)]), resume);
    assert.deepEqual(keys(again), ['c@5', 'd@6']);
    assert.deepEqual(resume, { next: 7, delivered: 0, skip: 0 });
    // Fragments across two responses of one stream add up.
    deliverable(response([event('e', 7)], true), resume);
    deliverable(response([event('f', 7)], true), resume);
    assert.deepEqual(resume, { next: 7, delivered: 2, skip: 0 });
    reopened(resume);
    assert.deepEqual(keys(deliverable(response([event('e', 7), event('f', 7), event('g', 7)]), resume)), [
      'g@7',
    ]);
  });

  it('a response of only events already delivered yields nothing', () => {
    const resume: Resume = { next: 9, delivered: 0, skip: 0 };
    assert.equal(deliverable(response([event('a', 7), event('b', 8)]), resume), undefined);
    assert.deepEqual(resume, { next: 9, delivered: 0, skip: 0 });
  });
});
