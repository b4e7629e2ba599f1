import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../base/errors.ts';
import {
  createRefusalOf,
  WATCH_RANGE_EMPTY_REASON,
  type WireWatchCreateRequest,
  watchCallOf,
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
