import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../base/errors.ts';
import type { Event, KeyValue } from '../../kv/types.ts';
import { etcdService } from './proto.ts';
import {
  createRefusalOf,
  encodingEventsOnce,
  WATCH_RANGE_EMPTY_REASON,
  type WireWatchCreateRequest,
  type WireWatchResponse,
  watchCallOf,
  wireEventOf,
} from './watch-wire.ts';

const bytes = (text: string) => Buffer.from(text);

/** A create request as decoded: every field present, proto3's zero values unless given. */
const create = (fields: Partial<WireWatchCreateRequest> = {}): WireWatchCreateRequest => ({
  key: bytes('k'),
  range_end: Buffer.alloc(0),
  start_revision: '0',
  progress_notify: false,
  filters: [],
  prev_kv: false,
  watch_id: '0',
  fragment: false,
  ...fields,
});

describe('watchCallOf', () => {
  it('reads proto3 zero values as etcd does: no range end, no start revision, the smallest key for an empty one', () => {
    assert.deepEqual(watchCallOf(create()), { key: bytes('k'), prevKv: false, progressNotify: false });
    const fromSmallest = watchCallOf(create({ key: Buffer.alloc(0), range_end: Buffer.of(0) }));
    assert.deepEqual([fromSmallest.key, fromSmallest.rangeEnd], [Uint8Array.of(0), Buffer.of(0)]);
  });

  it('maps filters, ignoring those etcd does not name, and keeps a start revision and flags', () => {
    const call = watchCallOf(
      create({
        filters: ['NOPUT', 'NODELETE', 'NOPUT', 7],
        start_revision: '42',
        prev_kv: true,
        progress_notify: true,
      }),
    );
    assert.deepEqual(call.filters, ['noPut', 'noDelete']);
    assert.deepEqual([call.startRevision, call.prevKv, call.progressNotify], [42, true, true]);
  });

  it('refuses what the native validator refuses', () => {
    assert.throws(() => watchCallOf(create({ start_revision: '9223372036854775807' })), InvalidArgumentError);
  });
});

describe('createRefusalOf', () => {
  it('gives etcd’s reasons: a negative start revision is compacted, a range end at or before the key is empty', () => {
    assert.equal(createRefusalOf(create()), undefined);
    assert.equal(
      createRefusalOf(create({ start_revision: '-1' })),
      'etcdserver: mvcc: required revision has been compacted',
    );
    assert.equal(
      createRefusalOf(create({ key: bytes('b'), range_end: bytes('a') })),
      WATCH_RANGE_EMPTY_REASON,
    );
    assert.equal(
      createRefusalOf(create({ key: bytes('b'), range_end: bytes('b') })),
      WATCH_RANGE_EMPTY_REASON,
    );
    assert.equal(createRefusalOf(create({ key: bytes('b'), range_end: bytes('c') })), undefined);
    // `\0` as range end means every key from the key on.
    assert.equal(createRefusalOf(create({ key: bytes('b'), range_end: Buffer.of(0) })), undefined);
  });
});

const keyValue = (key: string, revision: number, value: string): KeyValue => ({
  key: bytes(key),
  value: bytes(value),
  createRevision: 2,
  modRevision: revision,
  version: revision - 1,
  lease: 0,
});

describe('wireEventOf', () => {
  it('gives every watcher of a change the same wire event, with prev_kv or without', () => {
    const kv = keyValue('a', 5, 'new');
    const withPrevKv: Event = { type: 'put', kv, prevKv: keyValue('a', 4, 'old') };
    // The hub's view of the change for a watcher that did not ask for prev_kv: the same kv, no prevKv.
    const plain: Event = { type: 'put', kv };
    assert.equal(wireEventOf(withPrevKv), wireEventOf({ ...withPrevKv }));
    assert.equal(wireEventOf(plain), wireEventOf({ type: 'put', kv }));
    assert.notEqual(wireEventOf(plain), wireEventOf(withPrevKv));
    assert.deepEqual(wireEventOf(withPrevKv).prev_kv?.value, bytes('old'));
    assert.equal(wireEventOf(plain).prev_kv, undefined);
    // Another change of the key is another event.
    assert.notEqual(wireEventOf({ type: 'put', kv: keyValue('a', 5, 'new') }), wireEventOf(plain));
  });
});

describe('encodingEventsOnce', () => {
  const serialize = etcdService('etcdserverpb.Watch')['Watch']?.responseSerialize as (
    response: WireWatchResponse,
  ) => Buffer;
  const header = { cluster_id: 1, member_id: 2, revision: 9, raft_term: 3 };
  const put = wireEventOf({
    type: 'put',
    kv: keyValue('a', 9, 'x'.repeat(300)),
    prevKv: keyValue('a', 8, 'y'),
  });
  const deleted = wireEventOf({ type: 'delete', kv: keyValue('b', 9, '') });
  const responses: WireWatchResponse[] = [
    { header, watch_id: 7, events: [put, deleted] },
    { header, watch_id: 8, events: [deleted], fragment: true },
    { header, watch_id: 0, created: true },
    { header, watch_id: 7, canceled: true, cancel_reason: 'gone', compact_revision: 4 },
  ];

  it('makes the bytes the protocol library makes of the whole response', () => {
    const once = encodingEventsOnce(serialize);
    for (const response of responses) assert.deepEqual(once(response), serialize(response));
  });

  it('encodes an event once, however many responses carry it', () => {
    const encoded: unknown[] = [];
    const once = encodingEventsOnce((response) => {
      if (response.header === undefined) encoded.push(...(response.events ?? []));
      return serialize(response);
    });
    for (let watcher = 0; watcher < 64; watcher++)
      once({ header, watch_id: watcher, events: [put, deleted] });
    assert.deepEqual(encoded, [put, deleted]);
  });
});
