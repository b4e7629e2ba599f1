import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HistoryNode, KeyRecord } from './key-history.ts';
import { historyProblem } from './store-invariants.ts';

const KEY = Uint8Array.of(0x6b);
const KEY_ID = 'k';

function put(modRevision: number, createRevision: number, version: number): KeyRecord {
  return {
    key: KEY,
    keyId: KEY_ID,
    modRevision,
    sub: 0,
    tombstone: false,
    createRevision,
    version,
    lease: 0,
    value: KEY,
  };
}

function tombstone(modRevision: number): KeyRecord {
  const value = new Uint8Array(0);
  return {
    key: KEY,
    keyId: KEY_ID,
    modRevision,
    sub: 0,
    tombstone: true,
    createRevision: 0,
    version: 0,
    lease: 0,
    value,
  };
}

/** A history from its versions, oldest first. */
function history(...records: KeyRecord[]): HistoryNode {
  let head: HistoryNode | undefined;
  for (const record of records) head = { record, older: head };
  if (head === undefined) throw new Error('empty history');
  return head;
}

const problem = (head: HistoryNode, compactRevision = 0, compacted = true) =>
  historyProblem(KEY_ID, head, 20, compactRevision, compacted);

describe('historyProblem', () => {
  it('passes well-formed generations', () => {
    assert.equal(problem(history(put(2, 2, 1), put(3, 2, 2), tombstone(4), put(6, 6, 1))), undefined);
    // The oldest kept version may be a later one of its generation once compaction freed the rest.
    assert.equal(problem(history(put(5, 2, 3), put(7, 2, 4)), 5), undefined);
  });

  it('names each broken rule', () => {
    const cases: [HistoryNode, RegExp, number?][] = [
      [history(put(3, 3, 1), tombstone(2)), /do not grow/],
      [history(put(2, 2, 1), put(2, 2, 2)), /do not grow/],
      [history(put(2, 2, 1), tombstone(3), tombstone(4)), /two deletes/],
      [history(put(2, 2, 1), tombstone(3), put(5, 2, 2)), /does not start a generation/],
      [history(put(2, 2, 1), put(3, 2, 3)), /does not continue/],
      [history(put(2, 2, 1), put(3, 3, 2)), /does not continue/],
      [history(tombstone(3)), /oldest version kept is a delete/],
      [history(put(5, 2, 3)), /lost the versions before it/],
      [history(put(5, 4, 1)), /does not start its generation/],
      [history(put(25, 25, 1)), /outside/],
      [history(put(2, 2, 1), put(4, 2, 2)), /not freed/, 4],
      [history(put(2, 2, 1), tombstone(3)), /not freed/, 3],
    ];
    for (const [head, expected, compactRevision] of cases) {
      assert.match(problem(head, compactRevision) ?? 'no problem', expected);
    }
  });

  it('leaves history below the compacted revision alone for keys compaction has not reached', () => {
    assert.equal(problem(history(put(2, 2, 1), put(4, 2, 2)), 4, false), undefined);
  });
});
