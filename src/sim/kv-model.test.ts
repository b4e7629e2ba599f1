import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kvModel } from './kv-model.ts';

describe('kvModel.step', () => {
  it('gets return the value, puts set it, cas swaps exactly when the value is the expected one', () => {
    assert.deepEqual(kvModel.step(undefined, { op: 'get', key: 'x' }, { value: undefined }), {
      ok: true,
      state: undefined,
    });
    assert.equal(kvModel.step('1', { op: 'get', key: 'x' }, { value: '2' }).ok, false);
    assert.deepEqual(kvModel.step('1', { op: 'put', key: 'x', value: '2' }, {}), { ok: true, state: '2' });
    const swap = { op: 'cas', key: 'x', expected: '1', value: '2' } as const;
    assert.deepEqual(kvModel.step('1', swap, { ok: true }), { ok: true, state: '2' });
    assert.equal(kvModel.step('1', swap, { ok: false }).ok, false);
    assert.deepEqual(kvModel.step('3', swap, { ok: false }), { ok: true, state: '3' });
  });

  it('accepts any result of unknown outcome and applies the operation', () => {
    const swap = { op: 'cas', key: 'x', expected: undefined, value: '2' } as const;
    assert.deepEqual(kvModel.step(undefined, swap, undefined), { ok: true, state: '2' });
    assert.deepEqual(kvModel.step('1', swap, undefined), { ok: true, state: '1' });
    assert.equal(kvModel.step('1', { op: 'get', key: 'x' }, undefined).ok, true);
  });

  it('reads a get output without value as absent, as JSON returns it', () => {
    assert.equal(kvModel.step(undefined, { op: 'get', key: 'x' }, {}).ok, true);
  });

  it('refuses outputs of the wrong shape as a recording bug', () => {
    assert.throws(() => kvModel.step('1', { op: 'cas', key: 'x', expected: '1', value: '2' }, {}), TypeError);
    const numeric = JSON.parse('{"value":5}') as { value: string };
    assert.throws(() => kvModel.step('1', { op: 'get', key: 'x' }, numeric), TypeError);
  });
});

describe('kvModel.hash', () => {
  it('tells the absent value from every string, the empty one included', () => {
    assert.notEqual(kvModel.hash(undefined), kvModel.hash(''));
  });
});
