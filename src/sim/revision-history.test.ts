import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Event } from '../kv/types.ts';
import { RevisionHistory } from './revision-history.ts';

const encoder = new TextEncoder();

function put(
  key: string,
  value: string,
  createRevision: number,
  modRevision: number,
  version: number,
): Event {
  const kv = { key: encoder.encode(key), value: encoder.encode(value), createRevision, modRevision, version };
  return { type: 'put', kv: { ...kv, lease: 0 } };
}

function del(key: string, modRevision: number): Event {
  const kv = { key: encoder.encode(key), value: new Uint8Array(0), createRevision: 0, modRevision };
  return { type: 'delete', kv: { ...kv, version: 0, lease: 0 } };
}

describe('RevisionHistory', () => {
  it('keyAt gives each key as it was at any revision, deletes included', () => {
    const history = new RevisionHistory(1);
    history.record(2, [put('a', 'x', 2, 2, 1)]);
    history.record(3, [put('b', 'y', 3, 3, 1), put('a', 'z', 2, 3, 2)]);
    history.record(4, [del('a', 4)]);
    assert.equal(history.keyAt('a', 1), undefined);
    assert.equal(history.keyAt('a', 2)?.value, 'x');
    assert.deepEqual(history.keyAt('a', 3), {
      key: 'a',
      value: 'z',
      createRevision: 2,
      modRevision: 3,
      version: 2,
      lease: 0,
    });
    assert.equal(history.keyAt('a', 4), undefined);
    assert.equal(history.keyAt('b', 9)?.value, 'y');
    assert.equal(history.latest, 4);
  });

  it('rangeAt gives the keys under a prefix present at a revision, in key order', () => {
    const history = new RevisionHistory(1);
    history.record(2, [put('k1.b', '1', 2, 2, 1), put('k1.a', '2', 2, 2, 1), put('k10.a', '3', 2, 2, 1)]);
    history.record(3, [del('k1.b', 3)]);
    assert.deepEqual(
      history.rangeAt('k1.', 2).map((kv) => kv.key),
      ['k1.a', 'k1.b'],
    );
    assert.deepEqual(
      history.rangeAt('k1.', 3).map((kv) => kv.key),
      ['k1.a'],
    );
  });

  it('record keeps the first changes of a revision and refuses a gap', () => {
    const history = new RevisionHistory(1);
    assert.equal(history.record(2, [put('a', 'x', 2, 2, 1)]), undefined);
    assert.equal(history.record(2, [put('a', 'other', 2, 2, 1)]), undefined);
    assert.equal(history.keyAt('a', 2)?.value, 'x');
    assert.match(history.record(4, [put('a', 'y', 2, 4, 2)]) ?? '', /revision 4 applied before revision 3/);
  });
});
