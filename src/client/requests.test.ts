import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CancelledError,
  ConnectionLostError,
  DeadlineExceededError,
  errorFromWire,
  InvalidArgumentError,
  NotLeaderError,
  OutcomeUnknownError,
  ProposalDroppedError,
  RemoteError,
  UnavailableError,
} from '../base/errors.ts';
import { checkedCommand } from '../kv/kv-command.ts';
import { text, toBytes } from './bytes.ts';
import { txnMayWrite } from './kv-client.ts';
import { deleteRequest, putRequest, rangeRequest, spanRequest } from './requests.ts';
import { failureVerdict } from './retry-policy.ts';
import { compare, op } from './txn-ops.ts';

const bytes = (value: string) => new TextEncoder().encode(value);

describe('spanRequest', () => {
  it('reads a key alone, a key range, and a prefix as the store spells them', () => {
    assert.deepEqual(spanRequest('a'), { key: bytes('a') });
    assert.deepEqual(spanRequest({ key: 'a', rangeEnd: 'c' }), { key: bytes('a'), rangeEnd: bytes('c') });
    assert.deepEqual(spanRequest({ prefix: 'jobs/' }), { key: bytes('jobs/'), rangeEnd: bytes('jobs0') });
    assert.deepEqual(spanRequest({ prefix: Uint8Array.of(0x61, 0xff) }), {
      key: Uint8Array.of(0x61, 0xff),
      rangeEnd: Uint8Array.of(0x62),
    });
  });

  it('spells an empty prefix as every key (key 0x00, rangeEnd 0x00), since the store refuses an empty key', () => {
    assert.deepEqual(spanRequest({ prefix: '' }), { key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) });
  });

  it('refuses a span with both a prefix and a key, or neither, and keys that are not text or bytes', () => {
    assert.throws(() => spanRequest({ prefix: 'a', key: 'b' } as never), TypeError);
    assert.throws(() => spanRequest({} as never), TypeError);
    assert.throws(() => spanRequest(42 as never), TypeError);
    assert.throws(() => toBytes(null as never), /expected a string or a Uint8Array, got null/);
  });
});

describe('request builders', () => {
  it('copy the store fields that are set and nothing else, so the server validators accept them', () => {
    const range = rangeRequest({ prefix: 'a/', limit: 5, keysOnly: true, revision: undefined } as never);
    assert.deepEqual(range, { key: bytes('a/'), rangeEnd: bytes('a0'), limit: 5, keysOnly: true });
    checkedCommand('range', range);
    const put = putRequest('k', 'v', { prevKv: true, timeoutMs: 5, signal: AbortSignal.abort() } as never);
    assert.deepEqual(put, { key: bytes('k'), value: bytes('v'), prevKv: true });
    checkedCommand('put', put);
    const del = deleteRequest({ prefix: 'tmp/' }, { prevKv: true });
    assert.deepEqual(del, { key: bytes('tmp/'), rangeEnd: bytes('tmp0'), prevKv: true });
    checkedCommand('deleteRange', del);
  });

  it('build transactions the server validator accepts', () => {
    const request = {
      compare: [
        compare.value('k', 'equal', 'v'),
        compare.version({ prefix: 'p/' }, 'greater', 0),
        compare.createRevision('k', 'less', 9),
        compare.modRevision('k', 'notEqual', 3),
        compare.lease('k', 'equal', 0),
      ],
      success: [op.put('k', 'w', { prevKv: true }), op.get({ prefix: 'p/', limit: 2 }), op.delete('x')],
      failure: [op.txn({ success: [op.get('k')] })],
    };
    checkedCommand('txn', request);
    assert.deepEqual(request.compare[0], {
      key: bytes('k'),
      result: 'equal',
      target: 'value',
      value: bytes('v'),
    });
  });

  it('txnMayWrite: a put or delete in either branch, at any depth, is a write; ranges alone are not', () => {
    assert.equal(txnMayWrite({ success: [op.get('a')], failure: [op.get('b')] }), false);
    assert.equal(txnMayWrite({ failure: [op.delete('b')] }), true);
    assert.equal(
      txnMayWrite({ success: [op.txn({ failure: [op.txn({ success: [op.put('a', '1')] })] })] }),
      true,
    );
    assert.equal(txnMayWrite({ success: [op.txn({ success: [op.get('a')] })] }), false);
  });

  it('text decodes UTF-8 bytes', () => {
    assert.equal(text(toBytes('café ✓')), 'café ✓');
  });
});

describe('failureVerdict', () => {
  it('retries reads after any failure on the way, and writes only when they certainly did not apply', () => {
    const cases: [Error, 'read' | 'write', string][] = [
      [new UnavailableError('x'), 'write', 'retry'],
      [new NotLeaderError('x'), 'write', 'retry'],
      [new ProposalDroppedError('x'), 'write', 'retry'],
      [new ConnectionLostError('x'), 'write', 'outcomeUnknown'],
      [new DeadlineExceededError('x'), 'write', 'outcomeUnknown'],
      [new ConnectionLostError('x'), 'read', 'retry'],
      [new DeadlineExceededError('x'), 'read', 'retry'],
      [new InvalidArgumentError('x'), 'read', 'fail'],
      [new InvalidArgumentError('x'), 'write', 'fail'],
      [new CancelledError('x'), 'read', 'fail'],
      [new OutcomeUnknownError('x'), 'write', 'fail'],
      [new RemoteError('FUTURE_CODE', 'x'), 'read', 'fail'],
      [new RemoteError('UNAVAILABLE', 'x'), 'write', 'retry'],
      [new TypeError('x'), 'read', 'fail'],
    ];
    for (const [error, kind, verdict] of cases) {
      assert.equal(failureVerdict(error, kind), verdict, `${error.constructor.name} on a ${kind}`);
    }
  });

  it('OUTCOME_UNKNOWN is rebuilt from the wire as OutcomeUnknownError', () => {
    const error = errorFromWire('OUTCOME_UNKNOWN', 'lost', { endpoint: 'a:1' });
    assert.ok(error instanceof OutcomeUnknownError);
    assert.deepEqual(error.details, { endpoint: 'a:1' });
  });
});
