import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeRequest, type KvCommand } from './kv-machine.ts';
import type { RangeOutput, TxnCompare, TxnInput, TxnOutput } from './kv-range-txn.ts';
import { MvccMachine } from './mvcc-machine.ts';
import { compareHolds } from './revision-checker.ts';
import { SimRevisions } from './sim-revisions.ts';
import type { HistoryOperation } from './simulation.ts';

/** A member's store and what the run recorded of it. */
interface Run {
  readonly revisions: SimRevisions;
  readonly history: HistoryOperation[];
  /** The store every write goes to (and linearizable reads, unless served elsewhere). */
  readonly leader: MvccMachine;
  clock: number;
}

function newRun(options: { splitTxn?: boolean } = {}): Run {
  const revisions = new SimRevisions();
  const leader = new MvccMachine({
    onWrite: (revision, events) => assert.equal(revisions.recordWrite(1, revision, events), undefined),
    ...options,
  });
  return { revisions, history: [], leader, clock: 0 };
}

/** Runs `input` alone (called, then answered), a read on `reader` (default: the leader), a write through the log. */
function call(run: Run, input: KvCommand, reader: MvccMachine = run.leader): HistoryOperation {
  const requestId = run.history.length + 1;
  const operation: HistoryOperation = { clientId: 1, input, call: run.clock++, ret: 0, output: undefined };
  run.history.push(operation);
  run.revisions.issued(operation, requestId);
  if (input.op === 'get' || input.op === 'range') {
    operation.output = reader.execute(input);
    const linearizable = input.op === 'get' || !input.serializable;
    assert.equal(run.revisions.served(operation, reader.revision, linearizable), undefined);
  } else {
    const applied = run.leader.apply(encodeRequest({ clientId: 1, requestId, command: input }));
    assert.equal(run.revisions.applied(1, run.leader.revision, applied), undefined);
    operation.output = applied?.output;
  }
  operation.ret = run.clock++;
  return operation;
}

function violations(run: Run): string[] {
  return run.revisions.check().violations;
}

const range = (prefix: string, limit = 0, serializable = false): KvCommand => ({
  op: 'range',
  prefix,
  limit,
  serializable,
});

const txn = (compare: TxnCompare[], writes: TxnInput['writes']): TxnInput => ({ op: 'txn', compare, writes });

/** A run with a few keys under `k0.`, and one range and two transactions (one fails) answered. */
function sampleRun(options: { splitTxn?: boolean } = {}) {
  const run = newRun(options);
  call(run, { op: 'put', key: 'k0.0', value: 'a' });
  call(run, { op: 'put', key: 'k0.1', value: 'b' });
  const succeeded = call(
    run,
    txn(
      [{ key: 'k0.0', result: 'equal', target: 'value', value: 'a' }],
      [
        { type: 'put', key: 'k0.t0', value: 'c' },
        { type: 'put', key: 'k0.t1', value: 'c' },
        { type: 'delete', key: 'k0.1' },
      ],
    ),
  );
  const failed = call(
    run,
    txn(
      [{ key: 'k0.t0', result: 'equal', target: 'version', version: 0 }],
      [
        { type: 'put', key: 'k0.t0', value: 'd' },
        { type: 'put', key: 'k0.t2', value: 'd' },
      ],
    ),
  );
  const ranged = call(run, range('k0.', 2));
  return { run, succeeded, failed, ranged };
}

describe('revision checker', () => {
  it('accepts what the store answered, one call at a time', () => {
    const { run, succeeded, failed, ranged } = sampleRun();
    assert.deepEqual(violations(run), []);
    assert.equal((succeeded.output as TxnOutput).succeeded, true);
    assert.equal((failed.output as TxnOutput).succeeded, false);
    assert.deepEqual(run.revisions.check().stats, { ranges: 1, txnsSucceeded: 1, txnsFailed: 1, ordered: 5 });
    const output = ranged.output as RangeOutput;
    assert.deepEqual(
      [output.count, output.more, output.kvs.map((kv) => kv.key)],
      [3, true, ['k0.0', 'k0.t0']],
    );
  });

  it('accepts random sequential histories of the real store (property)', () => {
    const key = fc.constantFrom('k0.0', 'k0.1', 'k0.t0', 'k0.t1', 'k1.0');
    const compare: fc.Arbitrary<TxnCompare> = fc.oneof(
      fc.record({
        key,
        result: fc.constantFrom('equal', 'greater'),
        target: fc.constant('version' as const),
        version: fc.nat(3),
      }),
      fc.record({
        key,
        result: fc.constantFrom('equal', 'less'),
        target: fc.constant('modRevision' as const),
        modRevision: fc.nat(8),
      }),
      fc.record({
        key,
        result: fc.constantFrom('equal', 'notEqual'),
        target: fc.constant('value' as const),
        value: fc.constantFrom('a', 'b'),
      }),
    );
    const write = (k: string) =>
      fc.oneof(
        fc.constant({ type: 'delete' as const, key: k }),
        fc.constantFrom('a', 'b').map((value) => ({ type: 'put' as const, key: k, value })),
      );
    const command: fc.Arbitrary<KvCommand> = fc.oneof(
      fc.record({ op: fc.constant('put' as const), key, value: fc.constantFrom('a', 'b') }),
      fc.record({ op: fc.constant('delete' as const), key }),
      fc.record({ op: fc.constant('get' as const), key }),
      fc.record({
        op: fc.constant('range' as const),
        prefix: fc.constantFrom('k0.', 'k0.t', 'k1.'),
        limit: fc.nat(3),
        serializable: fc.boolean(),
      }),
      fc.record({
        op: fc.constant('txn' as const),
        compare: fc.array(compare, { minLength: 1, maxLength: 2 }),
        writes: fc
          .uniqueArray(key, { minLength: 1, maxLength: 3 })
          .chain((keys) => fc.tuple(...keys.map(write))),
      }),
    );
    fc.assert(
      fc.property(fc.array(command, { maxLength: 30 }), (commands) => {
        const run = newRun();
        for (const input of commands) call(run, input);
        assert.deepEqual(violations(run), []);
      }),
      { numRuns: 200 },
    );
  });

  for (const [name, corrupt] of [
    ['a key left out', (output: RangeOutput) => ({ ...output, kvs: output.kvs.slice(1) })],
    ['a wrong count', (output: RangeOutput) => ({ ...output, count: output.count - 1 })],
    ['a wrong more', (output: RangeOutput) => ({ ...output, more: false })],
    ['a wrong revision', (output: RangeOutput) => ({ ...output, revision: output.revision - 1 })],
    [
      'a wrong mod revision',
      (output: RangeOutput) => ({
        ...output,
        kvs: output.kvs.map((kv, i) => (i === 0 ? { ...kv, modRevision: kv.modRevision + 1 } : kv)),
      }),
    ],
  ] as const) {
    it(`refuses a range answered with ${name}`, () => {
      const { run, ranged } = sampleRun();
      ranged.output = corrupt(ranged.output as RangeOutput);
      assert.match(violations(run)[0] ?? '', /"op":"range".*where the state at revision/);
    });
  }

  it('refuses a transaction whose succeeded flag does not match its compares', () => {
    const { run, failed } = sampleRun();
    failed.output = { ...(failed.output as TxnOutput), succeeded: true };
    assert.match(violations(run)[0] ?? '', /where its compares fail at revision/);
  });

  it("refuses a failed transaction's reads that do not match its revision", () => {
    const { run, failed } = sampleRun();
    failed.output = { ...(failed.output as TxnOutput), kvs: [null, null] };
    assert.match(violations(run)[0] ?? '', /read \[null,null\] where revision/);
  });

  it("refuses a transaction's writes split over two revisions (the txn-partial-apply bug)", () => {
    const { run } = sampleRun({ splitTxn: true });
    assert.match(violations(run)[0] ?? '', /"op":"txn".* made revisions 4, 5, not one/);
  });

  it('refuses a get that does not answer the state at its revision', () => {
    const run = newRun();
    call(run, { op: 'put', key: 'x', value: 'a' });
    const read = call(run, { op: 'get', key: 'x' });
    assert.deepEqual(violations(run), []);
    read.output = { value: 'b' };
    assert.match(violations(run)[0] ?? '', /where the key held "a"/);
  });

  it('refuses a linearizable range served at a revision older than a write that returned before it', () => {
    const run = newRun();
    const follower = new MvccMachine();
    call(run, { op: 'put', key: 'k0.0', value: 'a' });
    call(run, range('k0.'), follower);
    assert.match(
      violations(run)[0] ?? '',
      /is at revision 1, but .*"op":"put".* returned before it was called, at revision 2/,
    );
  });

  it('accepts a serializable range served at an older revision', () => {
    const run = newRun();
    const follower = new MvccMachine();
    call(run, { op: 'put', key: 'k0.0', value: 'a' });
    call(run, range('k0.', 0, true), follower);
    assert.deepEqual(violations(run), []);
  });

  it('refuses a read served at a revision newer than any applied', () => {
    const run = newRun();
    const ahead = new MvccMachine();
    ahead.execute({ op: 'put', key: 'x', value: 'a' });
    const operation: HistoryOperation = {
      clientId: 1,
      input: range('x'),
      call: 0,
      ret: 1,
      output: undefined,
    };
    run.revisions.issued(operation, 1);
    assert.match(run.revisions.served(operation, ahead.revision, true) ?? '', /newer than any applied/);
  });

  it('refuses a write placed before a read that returned before the write was called', () => {
    // A read returns at revision 2, then a put is called; the put must make revision 3 or later. Here the
    // log holds the put at revision 2, and the read saw it: as if the read returned before it was called.
    const run = newRun();
    const read: HistoryOperation = { clientId: 2, input: range('k'), call: 0, ret: 1, output: undefined };
    run.revisions.issued(read, 100);
    run.clock = 2;
    const write = call(run, { op: 'put', key: 'k0.0', value: 'a' });
    read.output = run.leader.execute(read.input);
    assert.equal(run.revisions.served(read, run.leader.revision, true), undefined);
    assert.ok(read.ret < write.call);
    assert.match(
      violations(run)[0] ?? '',
      /"op":"put".* is at revision 2, but .*"op":"range".* at revision 2 \(a write must come after\)/,
    );
  });

  it('compareHolds follows etcd: an absent key has version and mod revision 0 and fails value compares', () => {
    const kv = { key: 'x', value: 'b', createRevision: 2, modRevision: 5, version: 3, lease: 0 };
    const key = 'x';
    assert.equal(compareHolds({ key, result: 'equal', target: 'version', version: 3 }, kv), true);
    assert.equal(compareHolds({ key, result: 'less', target: 'modRevision', modRevision: 6 }, kv), true);
    assert.equal(compareHolds({ key, result: 'greater', target: 'value', value: 'a' }, kv), true);
    assert.equal(compareHolds({ key, result: 'notEqual', target: 'version', version: 3 }, kv), false);
    assert.equal(compareHolds({ key, result: 'equal', target: 'version', version: 0 }, undefined), true);
    assert.equal(
      compareHolds({ key, result: 'equal', target: 'modRevision', modRevision: 0 }, undefined),
      true,
    );
    assert.equal(compareHolds({ key, result: 'notEqual', target: 'value', value: 'a' }, undefined), false);
  });
});
