import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkHistory } from './check-history.ts';
import type { KvCommand, KvOutput } from './kv-machine.ts';
import type { HistoryOperation } from './simulation.ts';

const NEVER = Number.POSITIVE_INFINITY;

function op(
  clientId: number,
  input: KvCommand,
  call: number,
  ret: number,
  output: KvOutput | undefined,
): HistoryOperation {
  return { clientId, input, call, ret, output };
}

const put = (key: string, value: string): KvCommand => ({ op: 'put', key, value });
const get = (key: string): KvCommand => ({ op: 'get', key });

describe('checkHistory (KV model, per-key linearizability)', () => {
  it('accepts a read that sees either of two concurrent writes', () => {
    for (const seen of ['a', 'b']) {
      const history = [
        op(1, put('x', 'a'), 0, 10, {}),
        op(2, put('x', 'b'), 1, 9, {}),
        op(3, get('x'), 11, 12, { value: seen }),
      ];
      assert.deepEqual(checkHistory(history), { result: 'ok' });
    }
  });

  it('refuses a stale read after a completed write', () => {
    const history = [
      op(1, put('x', 'a'), 0, 1, {}),
      op(1, put('x', 'b'), 2, 3, {}),
      op(2, get('x'), 4, 5, { value: 'a' }),
    ];
    const verdict = checkHistory(history);
    assert.equal(verdict.result, 'illegal');
    assert.match(verdict.result === 'illegal' ? verdict.report : '', /x/);
  });

  it('refuses reads that go back in time', () => {
    const history = [
      op(1, put('x', 'a'), 0, 1, {}),
      op(2, put('x', 'b'), 2, 20, {}),
      op(3, get('x'), 3, 4, { value: 'b' }),
      op(3, get('x'), 5, 6, { value: 'a' }),
    ];
    assert.equal(checkHistory(history).result, 'illegal');
  });

  it('an unknown-outcome write may take effect or not, but not both', () => {
    const observed = [op(1, put('x', 'a'), 0, NEVER, undefined), op(2, get('x'), 5, 6, { value: 'a' })];
    assert.deepEqual(checkHistory(observed), { result: 'ok' });
    const unobserved = [
      op(1, put('x', 'a'), 0, NEVER, undefined),
      op(2, get('x'), 5, 6, { value: undefined }),
    ];
    assert.deepEqual(checkHistory(unobserved), { result: 'ok' });
    const flickers = [
      op(1, put('x', 'a'), 0, NEVER, undefined),
      op(2, get('x'), 5, 6, { value: 'a' }),
      op(2, get('x'), 7, 8, { value: undefined }),
    ];
    assert.equal(checkHistory(flickers).result, 'illegal');
  });

  it('refuses two compare-and-sets from the same expected value that both succeed', () => {
    const history = [
      op(1, put('x', 'a'), 0, 1, {}),
      op(2, { op: 'cas', key: 'x', expected: 'a', value: 'b' }, 2, 5, { ok: true }),
      op(3, { op: 'cas', key: 'x', expected: 'a', value: 'c' }, 3, 6, { ok: true }),
    ];
    assert.equal(checkHistory(history).result, 'illegal');
  });

  it('checks keys independently: a violation on one key is found among many clean ones', () => {
    const history: HistoryOperation[] = [];
    for (let i = 0; i < 50; i++) history.push(op(1, put(`k${i}`, 'v'), i * 2, i * 2 + 1, {}));
    history.push(op(2, get('k7'), 200, 201, { value: 'other' }));
    const verdict = checkHistory(history);
    assert.equal(verdict.result, 'illegal');
    assert.match(verdict.result === 'illegal' ? verdict.report : '', /k7/);
  });
});
