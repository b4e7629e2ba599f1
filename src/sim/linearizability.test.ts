import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { SeededRandom } from '../base/random.ts';
import { type KvInput, type KvOperation, type KvOutput, kvModel } from './kv-model.ts';
import {
  checkLinearizable,
  LINEARIZABILITY_STEPS_MAX_DEFAULT,
  type LinearizabilityCounterexample,
  type LinearizabilityResult,
} from './linearizability.ts';
import { applyKv, generateKvHistory, type KvHistoryOptions } from './testdata/kv-histories.ts';

const UNKNOWN = Number.POSITIVE_INFINITY;

function get(
  clientId: number,
  key: string,
  call: number,
  ret: number,
  value: string | undefined,
): KvOperation {
  return { clientId, input: { op: 'get', key }, call, ret, output: { value } };
}

function put(clientId: number, key: string, value: string, call: number, ret: number): KvOperation {
  return { clientId, input: { op: 'put', key, value }, call, ret, output: ret === UNKNOWN ? undefined : {} };
}

function del(clientId: number, key: string, call: number, ret: number): KvOperation {
  return { clientId, input: { op: 'delete', key }, call, ret, output: ret === UNKNOWN ? undefined : {} };
}

function cas(
  clientId: number,
  key: string,
  swap: [expected: string | undefined, value: string],
  call: number,
  ret: number,
  ok: boolean | undefined,
): KvOperation {
  const [expected, value] = swap;
  const output = ok === undefined ? undefined : { ok };
  return { clientId, input: { op: 'cas', key, expected, value }, call, ret, output };
}

function check(history: KvOperation[], stepsMax?: number): LinearizabilityResult<KvInput, KvOutput> {
  return checkLinearizable(kvModel, history, stepsMax === undefined ? {} : { stepsMax });
}

function assertIllegal(history: KvOperation[]): LinearizabilityCounterexample<KvInput, KvOutput> {
  const verdict = check(history);
  assert.equal(verdict.result, 'illegal');
  if (verdict.result !== 'illegal') throw new Error('unreachable');
  return verdict.counterexample;
}

/**
 * A reference checker by brute force, independent of the search and of the
 * per-key partition: tries every order of the operations on one map that
 * respects real time (a before b when a returned before b was called), with
 * unknown-outcome operations placed anywhere after their call or left out.
 */
function bruteForceLinearizable(history: readonly KvOperation[]): boolean {
  const placed = history.map(() => false);
  const returnOf = (operation: KvOperation) => (operation.output === undefined ? UNKNOWN : operation.ret);
  const search = (data: Map<string, string>, knownLeft: number): boolean => {
    if (knownLeft === 0) return true;
    for (const [i, operation] of history.entries()) {
      if (placed[i]) continue;
      const mustWait = history.some((other, j) => !placed[j] && j !== i && returnOf(other) < operation.call);
      if (mustWait) continue;
      const after = new Map(data);
      const output = applyKv(after, operation.input);
      if (operation.output !== undefined && !isDeepStrictEqual(output, operation.output)) continue;
      placed[i] = true;
      const found = search(after, knownLeft - (operation.output === undefined ? 0 : 1));
      placed[i] = false;
      if (found) return true;
    }
    return false;
  };
  return search(new Map(), history.filter((operation) => operation.output !== undefined).length);
}

describe('checkLinearizable on known linearizable histories', () => {
  it('accepts an empty history', () => {
    assert.deepEqual(check([]), { result: 'ok', partitionsChecked: 0, steps: 0 });
  });

  it('accepts a sequential history', () => {
    const verdict = check([
      get(1, 'x', 0, 1, undefined),
      put(1, 'x', '1', 2, 3),
      get(2, 'x', 4, 5, '1'),
      cas(2, 'x', ['1', '2'], 6, 7, true),
      cas(1, 'x', ['1', '3'], 8, 9, false),
      get(1, 'x', 10, 11, '2'),
    ]);
    assert.equal(verdict.result, 'ok');
    assert.equal(verdict.partitionsChecked, 1);
  });

  it('accepts a read that sees either of two overlapping writes', () => {
    for (const seen of ['1', '2']) {
      const verdict = check([put(1, 'x', '1', 0, 10), put(2, 'x', '2', 5, 15), get(3, 'x', 20, 25, seen)]);
      assert.equal(verdict.result, 'ok', `read of ${seen}`);
    }
  });

  it('accepts a read concurrent with a write seeing the old or the new value', () => {
    for (const seen of [undefined, '1']) {
      assert.equal(check([put(1, 'x', '1', 0, 10), get(2, 'x', 5, 8, seen)]).result, 'ok');
    }
  });

  it('accepts touching intervals in either order, as concurrent', () => {
    assert.equal(check([put(1, 'x', '1', 0, 10), get(2, 'x', 10, 12, undefined)]).result, 'ok');
  });

  it('accepts concurrent cas calls of which exactly one succeeds', () => {
    const verdict = check([
      put(1, 'x', 'a', 0, 10),
      cas(2, 'x', ['a', 'b'], 20, 40, false),
      cas(3, 'x', ['a', 'c'], 25, 45, true),
      get(1, 'x', 50, 55, 'c'),
    ]);
    assert.equal(verdict.result, 'ok');
  });
});

describe('checkLinearizable on known non-linearizable histories', () => {
  it('rejects a stale read after a completed write, naming the key and the read', () => {
    const stale = get(2, 'x', 20, 30, undefined);
    const written = put(1, 'x', '1', 0, 10);
    const counterexample = assertIllegal([stale, written]);
    assert.equal(counterexample.partition, 'key "x"');
    assert.deepEqual(counterexample.longestPrefix, [written]);
    assert.equal(counterexample.stateAfterPrefix, '"1"');
    assert.deepEqual(counterexample.unplaceable, [stale]);
    assert.equal(counterexample.overdue, stale);
    assert.match(counterexample.report, /Not linearizable: key "x" \(2 operations\)/);
    assert.match(counterexample.report, /1\. client 1 \[0, 10\] put "x" = "1"/);
    assert.match(
      counterexample.report,
      /client 2 \[20, 30\] get "x" -> \(absent\) {3}<- had to take effect by t=30/,
    );
  });

  it('rejects a read of a value never written', () => {
    const counterexample = assertIllegal([put(1, 'x', '1', 0, 10), get(2, 'x', 5, 30, 'ghost')]);
    assert.equal(counterexample.partition, 'key "x"');
    assert.equal(counterexample.unplaceable.length, 1);
  });

  it('rejects two sequential reads that go back in time, with no write concurrent', () => {
    const counterexample = assertIllegal([
      put(1, 'x', '1', 0, 10),
      put(1, 'x', '2', 20, 30),
      get(2, 'x', 40, 50, '2'),
      get(2, 'x', 60, 70, '1'),
    ]);
    assert.equal(counterexample.longestPrefix.length, 3);
  });

  it('rejects two sequential reads that go back in time during a write', () => {
    assertIllegal([
      put(1, 'x', '1', 0, 10),
      put(1, 'x', '2', 20, 100),
      get(2, 'x', 30, 40, '2'),
      get(3, 'x', 50, 60, '1'),
    ]);
  });

  it('rejects a lost cas: two concurrent cas from the same expected value both succeed', () => {
    const counterexample = assertIllegal([
      put(1, 'x', 'a', 0, 10),
      cas(2, 'x', ['a', 'b'], 20, 40, true),
      cas(3, 'x', ['a', 'c'], 25, 45, true),
    ]);
    assert.equal(counterexample.partition, 'key "x"');
    assert.match(counterexample.report, /cas "x" "a" => "[bc]" -> ok/);
  });

  it('checks keys independently and reports the broken one', () => {
    const verdict = check([
      put(1, 'x', '1', 0, 10),
      get(2, 'x', 20, 30, '1'),
      put(1, 'y', '1', 0, 10),
      get(2, 'y', 20, 30, '2'),
    ]);
    assert.equal(verdict.result, 'illegal');
    if (verdict.result !== 'illegal') return;
    assert.equal(verdict.partitionsChecked, 2);
    assert.equal(verdict.counterexample.partition, 'key "y"');
    assert.equal(verdict.counterexample.partitionIndex, 1);
  });
});

describe('checkLinearizable on operations of unknown outcome', () => {
  it('accepts a write that never returned and is read later', () => {
    assert.equal(check([put(1, 'x', '1', 0, UNKNOWN), get(2, 'x', 10, 20, '1')]).result, 'ok');
  });

  it('accepts a write that never returned and is never observed', () => {
    const verdict = check([
      put(1, 'x', '1', 0, UNKNOWN),
      get(2, 'x', 10, 20, undefined),
      get(2, 'x', 30, 40, undefined),
    ]);
    assert.equal(verdict.result, 'ok');
  });

  it('rejects a write of unknown outcome that is observed and then unobserved', () => {
    const counterexample = assertIllegal([
      put(1, 'x', '1', 0, UNKNOWN),
      get(2, 'x', 10, 20, '1'),
      get(2, 'x', 30, 40, undefined),
    ]);
    assert.equal(counterexample.partition, 'key "x"');
    // The read proves the write took effect by t=20, so the checker treats it as a put that returned then.
    assert.match(counterexample.report, /client 1 \[0, 20\] put "x" = "1"\n/);
  });

  it('ignores ret of a timed-out call: the write may land after the client gave up', () => {
    const timedOut: KvOperation = {
      clientId: 1,
      input: { op: 'put', key: 'x', value: '1' },
      call: 0,
      ret: 5,
      output: undefined,
    };
    assert.equal(check([timedOut, get(2, 'x', 10, 20, undefined), get(2, 'x', 30, 40, '1')]).result, 'ok');
  });

  it('accepts a cas of unknown outcome whether or not it swapped, but not both', () => {
    const before = [put(1, 'x', 'a', 0, 5), cas(1, 'x', ['a', 'b'], 10, UNKNOWN, undefined)];
    assert.equal(check([...before, get(2, 'x', 20, 30, 'b')]).result, 'ok');
    assert.equal(check([...before, get(2, 'x', 20, 30, 'a'), get(2, 'x', 40, 50, 'b')]).result, 'ok');
    assertIllegal([...before, get(2, 'x', 20, 30, 'b'), get(2, 'x', 40, 50, 'a')]);
  });

  it('lets kvModel.partition drop gets of unknown outcome, which constrain nothing', () => {
    const history = [
      put(1, 'x', '1', 0, 10),
      { ...get(2, 'x', 5, 6, undefined), ret: UNKNOWN, output: undefined },
    ];
    assert.deepEqual(kvModel.partition?.(history), [[history[0]]]);
  });
});

describe('checkLinearizable search budget', () => {
  // Ten fully concurrent writes and a read of a value none of them wrote:
  // proving that illegal means trying every subset of writes before the read.
  const hard = [
    ...Array.from({ length: 10 }, (_, i) => put(i, 'x', `${i}`, 0, 100)),
    get(10, 'x', 0, 100, 'ghost'),
  ];

  it('returns unknown, never more than stepsMax steps, when the budget runs out', () => {
    const verdict = check(hard, 50);
    assert.equal(verdict.result, 'unknown');
    if (verdict.result !== 'unknown') return;
    assert.equal(verdict.steps, 50);
    assert.deepEqual(verdict.partitionsUnknown, ['key "x"']);
  });

  it('decides the same history within the default budget', () => {
    const verdict = check(hard);
    assert.equal(verdict.result, 'illegal');
    assert.ok(verdict.steps > 50 && verdict.steps < LINEARIZABILITY_STEPS_MAX_DEFAULT);
  });

  it('reports an illegal partition even after an unknown one', () => {
    const verdict = check([...hard, put(1, 'y', '1', 0, 10), get(2, 'y', 20, 30, undefined)], 50);
    assert.equal(verdict.result, 'illegal');
  });

  it('refuses a stepsMax that is not a positive safe integer', () => {
    for (const stepsMax of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => check([], stepsMax), RangeError, String(stepsMax));
    }
  });

  it('refuses operations with impossible times, naming the operation', () => {
    assert.throws(() => check([put(1, 'x', '1', 10, 5)]), /operation 0 has ret=5 before call=10/);
    assert.throws(() => check([put(1, 'x', '1', Number.NaN, 5)]), RangeError);
    assert.throws(() => check([put(1, 'x', '1', UNKNOWN, UNKNOWN)]), RangeError);
  });
});

const historyOptions = fc.record({
  seed: fc.integer(),
  operations: fc.integer({ min: 1, max: 80 }),
  clients: fc.integer({ min: 1, max: 5 }),
  keys: fc.integer({ min: 1, max: 3 }),
  unknownRate: fc.constantFrom(0, 0.1, 0.3),
  widenMax: fc.integer({ min: 0, max: 60 }),
});

function generate(options: KvHistoryOptions & { seed: number }): KvOperation[] {
  return generateKvHistory(new SeededRandom(options.seed), options);
}

describe('checkLinearizable properties', () => {
  it('accepts any sequential execution with intervals widened around the true points', () => {
    fc.assert(
      fc.property(historyOptions, (options) => {
        const verdict = check(generate(options));
        assert.equal(verdict.result, 'ok');
      }),
      { numRuns: 300 },
    );
  });

  it('rejects the same history once one read returns a value never written', () => {
    // A hard history (wide intervals, many outcomes unknown) can exhaust the search budget: the checker
    // then answers `unknown`, no claim either way. It must never answer `ok`, and must decide nearly all.
    let decided = 0;
    let undecided = 0;
    fc.assert(
      fc.property(historyOptions, fc.nat(), (options, pick) => {
        const history = generate(options);
        const reads = history.flatMap((operation, index) =>
          operation.input.op === 'get' && operation.output !== undefined ? [index] : [],
        );
        fc.pre(reads.length > 0);
        const index = reads[pick % reads.length]!;
        const corrupted = history.map((operation, i) =>
          i === index ? { ...operation, output: { value: 'never-written' } } : operation,
        );
        const verdict = check(corrupted);
        assert.notEqual(verdict.result, 'ok', 'a history with a value never written is never accepted');
        if (verdict.result === 'unknown') {
          undecided++;
          return;
        }
        decided++;
        assert.equal(verdict.result, 'illegal');
        const key = history[index]!.input.key;
        assert.equal(verdict.counterexample.partition, `key ${JSON.stringify(key)}`);
        assert.ok(
          verdict.counterexample.unplaceable.includes(corrupted[index]!),
          'the corrupted read is named',
        );
      }),
      { numRuns: 300 },
    );
    assert.ok(
      undecided * 20 <= decided,
      `${undecided} of ${decided + undecided} histories undecided within the budget`,
    );
  });

  it('agrees with a brute-force search on small arbitrary histories', () => {
    const value = fc.constantFrom('1', '2');
    const operation = fc.record({
      clientId: fc.integer({ min: 0, max: 2 }),
      input: fc.oneof(
        fc.record({ op: fc.constant('get' as const), key: fc.constantFrom('x', 'y') }),
        fc.record({ op: fc.constant('put' as const), key: fc.constantFrom('x', 'y'), value }),
        fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom('x', 'y') }),
        fc.record({
          op: fc.constant('cas' as const),
          key: fc.constantFrom('x', 'y'),
          expected: fc.constantFrom(undefined, '1', '2'),
          value,
        }),
      ),
      call: fc.integer({ min: 0, max: 20 }),
      duration: fc.integer({ min: 0, max: 12 }),
      unknown: fc.boolean(),
      value: fc.constantFrom(undefined, '1', '2'),
      ok: fc.boolean(),
    });
    const verdicts = { ok: 0, illegal: 0 };
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 7 }), (drawn) => {
        const history: KvOperation[] = drawn.map((d) => {
          const known = !d.unknown || d.input.op === 'get';
          const output = d.input.op === 'get' ? { value: d.value } : d.input.op === 'cas' ? { ok: d.ok } : {};
          return { ...d, ret: known ? d.call + d.duration : UNKNOWN, output: known ? output : undefined };
        });
        const verdict = check(history);
        assert.notEqual(verdict.result, 'unknown');
        const expected = bruteForceLinearizable(history) ? 'ok' : 'illegal';
        assert.equal(verdict.result, expected);
        verdicts[expected]++;
      }),
      { numRuns: 1000 },
    );
    // Both verdicts must be exercised, or the comparison proves little.
    assert.ok(verdicts.ok > 100 && verdicts.illegal > 100, JSON.stringify(verdicts));
  });
});

describe('checkLinearizable against brute force, with unique values', () => {
  // One key only: the key-value model without its partition, which also
  // drops and resolves unknown outcomes.
  const { partition: _, ...unprunedKvModel } = kvModel;

  // Unique written values are what the key-value model's pruning of unknown
  // outcomes relies on, so this is where it is exercised hardest.
  it('agrees on small single-key histories with many unknown outcomes', () => {
    const drawnOperation = fc.record({
      op: fc.constantFrom('get' as const, 'put' as const, 'cas' as const, 'delete' as const),
      call: fc.integer({ min: 0, max: 16 }),
      duration: fc.integer({ min: 0, max: 8 }),
      unknown: fc.boolean(),
      pick: fc.nat(),
      ok: fc.boolean(),
    });
    const verdicts = { ok: 0, illegal: 0 };
    fc.assert(
      fc.property(fc.array(drawnOperation, { maxLength: 8 }), (drawn) => {
        const written = drawn.flatMap((d, i) => (d.op === 'put' || d.op === 'cas' ? [`v${i}`] : []));
        const values = [undefined, ...written, 'ghost'];
        const history = drawn.map((d, i): KvOperation => {
          const picked = values[d.pick % values.length];
          const known = !d.unknown;
          const ret = known ? d.call + d.duration : UNKNOWN;
          const key = 'x';
          if (d.op === 'get') return get(i, key, d.call, ret, picked);
          if (d.op === 'put') return put(i, key, `v${i}`, d.call, ret);
          if (d.op === 'delete') return del(i, key, d.call, ret);
          return cas(i, key, [picked, `v${i}`], d.call, ret, known ? d.ok : undefined);
        });
        const expected = bruteForceLinearizable(history) ? 'ok' : 'illegal';
        assert.equal(check(history).result, expected);
        // Without the model's partition the search meets every unknown outcome itself.
        assert.equal(checkLinearizable(unprunedKvModel, history).result, expected, 'without pruning');
        verdicts[expected]++;
      }),
      { numRuns: 2000 },
    );
    assert.ok(verdicts.ok > 200 && verdicts.illegal > 200, JSON.stringify(verdicts));
  });
});

describe('checkLinearizable search effort', () => {
  it('proves illegal past many unknown-outcome writes without trying every subset of them', () => {
    // Sixteen writes of unknown outcome, none droppable (any one of them
    // could explain the failed cas on the absent key), then a read of a value
    // nobody wrote. Trying every subset of the writes takes over a million
    // steps; measured with dominance and collapsed runs of blind writes: 2,482.
    const history = [
      ...Array.from({ length: 16 }, (_, i) => put(i, 'x', `w${i}`, i, UNKNOWN)),
      cas(20, 'x', [undefined, 'z'], 16, 17, false),
      get(21, 'x', 18, 19, 'ghost'),
    ];
    assert.equal(kvModel.partition?.(history)[0]?.length, 18, 'the checker sees every write');
    const verdict = check(history);
    assert.equal(verdict.result, 'illegal');
    assert.ok(verdict.steps < 20_000, `${verdict.steps} steps`);
  });

  // Seeds 1-10 measured 528 to 780 steps (a step considers one event; each
  // operation has two). The bound leaves over 5x margin while still failing
  // if memoization or the just-in-time ordering stops pruning.
  const STEPS_BOUND = 5_000;

  it('checks a 500-operation, 5-client, 3-key history in a bounded number of steps', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const history = generateKvHistory(new SeededRandom(seed), {
        operations: 500,
        clients: 5,
        keys: 3,
        unknownRate: 0.05,
        widenMax: 40,
      });
      const verdict = check(history);
      assert.equal(verdict.result, 'ok', `seed=${seed}`);
      assert.equal(verdict.partitionsChecked, 3);
      assert.ok(verdict.steps < STEPS_BOUND, `seed=${seed}: ${verdict.steps} steps`);
    }
  });
});
