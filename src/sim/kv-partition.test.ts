import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KvOperation } from './kv-model.ts';
import { kvModel } from './kv-model.ts';
import { kvPartition, kvPartitionObservedWrites, kvPartitionResolver } from './kv-partition.ts';
import { checkLinearizable } from './linearizability.ts';

const UNKNOWN = Number.POSITIVE_INFINITY;

function get(call: number, ret: number, value: string | undefined): KvOperation {
  return { clientId: 1, input: { op: 'get', key: 'x' }, call, ret, output: { value } };
}

function put(value: string, call: number, ret: number): KvOperation {
  const output = ret === UNKNOWN ? undefined : {};
  return { clientId: 2, input: { op: 'put', key: 'x', value }, call, ret, output };
}

function del(call: number, ret: number): KvOperation {
  const output = ret === UNKNOWN ? undefined : {};
  return { clientId: 4, input: { op: 'delete', key: 'x' }, call, ret, output };
}

function cas(
  expected: string | undefined,
  value: string,
  call: number,
  ret: number,
  ok?: boolean,
): KvOperation {
  const output = ok === undefined ? undefined : { ok };
  return { clientId: 3, input: { op: 'cas', key: 'x', expected, value }, call, ret, output };
}

describe('kvPartition', () => {
  it('splits per key in order of first appearance, dropping gets of unknown outcome', () => {
    const x = put('1', 0, 1);
    const y = { ...put('2', 2, 3), input: { op: 'put', key: 'y', value: '2' } } as const;
    const lostGet: KvOperation = { ...get(4, UNKNOWN, undefined), output: undefined };
    assert.deepEqual(kvPartition([y, x, lostGet]), [[y], [x]]);
  });

  it('drops a write of unknown outcome that nothing observes', () => {
    const lost = put('lost', 0, UNKNOWN);
    assert.deepEqual(kvPartition([put('1', 0, 5), lost, get(10, 11, '1')]), [
      [put('1', 0, 5), get(10, 11, '1')],
    ]);
  });

  it('resolves an observed write of unknown outcome into one that returned with its first observer', () => {
    const history = [put('1', 0, UNKNOWN), get(10, 20, '1'), get(15, 30, '1')];
    const [part] = kvPartition(history);
    assert.deepEqual(part?.[0], { ...put('1', 0, 20), clientId: 2 });
    const swapped = cas(undefined, 'b', 0, UNKNOWN);
    const resolve = kvPartitionResolver([swapped, cas('b', 'c', 5, 8, true)]);
    assert.deepEqual(resolve(swapped), { ...swapped, ret: 8, output: { ok: true } });
  });

  it('leaves a write unresolved when another operation writes the same value', () => {
    const first = put('1', 0, UNKNOWN);
    const resolve = kvPartitionResolver([first, put('1', 1, UNKNOWN), get(10, 20, '1')]);
    assert.equal(resolve(first), first);
  });

  it('leaves a write unresolved when its observer returned before it was called', () => {
    const late = put('1', 10, UNKNOWN);
    const history = [get(0, 5, '1'), late];
    assert.equal(kvPartitionResolver(history)(late), late);
    assert.equal(checkLinearizable(kvModel, history).result, 'illegal');
  });
});

describe('kvPartitionObservedWrites', () => {
  it('keeps a write whose value a cas that may succeed expects', () => {
    const write = put('1', 0, UNKNOWN);
    assert.ok(kvPartitionObservedWrites([write, cas('1', '2', 5, UNKNOWN)]).has(write));
    assert.ok(kvPartitionObservedWrites([write, cas('1', '2', 5, 6, true)]).has(write));
    assert.ok(!kvPartitionObservedWrites([write, cas('1', '2', 5, 6, false)]).has(write));
  });

  it('keeps a write that alone explains a failed cas on an absent key', () => {
    const write = put('1', 0, UNKNOWN);
    const history = [write, cas(undefined, '2', 5, 6, false)];
    assert.ok(kvPartitionObservedWrites(history).has(write));
    assert.equal(checkLinearizable(kvModel, history).result, 'ok');
    assert.equal(
      checkLinearizable(kvModel, history.slice(1)).result,
      'illegal',
      'without it the cas must succeed',
    );
  });

  it('keeps a write that alone explains a failed cas on a written value', () => {
    const write = put('b', 2, UNKNOWN);
    const history = [put('a', 0, 1), write, cas('a', 'c', 3, 4, false)];
    assert.ok(kvPartitionObservedWrites(history).has(write));
    assert.equal(checkLinearizable(kvModel, history).result, 'ok');
  });

  it('drops a write when the value a failed cas expects was surely replaced before it', () => {
    const write = put('b', 4, UNKNOWN);
    const history = [put('a', 0, 1), put('c', 2, 3), write, cas('a', 'd', 5, 6, false)];
    assert.ok(!kvPartitionObservedWrites(history).has(write));
    assert.equal(checkLinearizable(kvModel, history).result, 'ok');
  });

  it('keeps a write through a chain: a kept write of unknown outcome can hold the expected value', () => {
    // `a` is kept because only it can explain the first failed cas; then a
    // cas expecting `a` that failed may need `b` in between.
    const a = put('a', 0, UNKNOWN);
    const b = put('b', 10, UNKNOWN);
    const history = [a, cas(undefined, 'z', 1, 2, false), put('c', 3, 4), b, cas('a', 'y', 20, 21, false)];
    const kept = kvPartitionObservedWrites(history);
    assert.ok(kept.has(a) && kept.has(b));
  });

  it('keeps every delete of unknown outcome, and lets a known delete replace a value', () => {
    const lostDelete = del(2, UNKNOWN);
    const history = [put('1', 0, 1), lostDelete, get(10, 11, undefined)];
    assert.deepEqual(kvPartition(history), [history], 'the delete explains the read of an absent key');
    // A failed cas expecting absent after a known delete: the unknown put may sit between them.
    const lostPut = put('2', 5, UNKNOWN);
    const observed = kvPartitionObservedWrites([
      put('1', 0, 1),
      del(2, 3),
      lostPut,
      cas(undefined, '3', 6, 9, false),
    ]);
    assert.ok(observed.has(lostPut), 'kept: it alone explains why the key was not absent');
    assert.equal(
      checkLinearizable(kvModel, [put('1', 0, 1), del(2, 3), lostPut, cas(undefined, '3', 6, 9, false)])
        .result,
      'ok',
    );
    assert.equal(
      checkLinearizable(kvModel, [put('1', 0, 1), del(2, 3), cas(undefined, '3', 6, 9, false)]).result,
      'illegal',
    );
  });
});
