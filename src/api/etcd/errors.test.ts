import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import {
  CompactedError,
  ConnectionLostError,
  DeadlineExceededError,
  InvalidArgumentError,
  LimitExceededError,
  NotLeaderError,
  OutcomeUnknownError,
  ProposalDroppedError,
  RemoteError,
  TooLargeError,
  UnavailableError,
} from '../../base/errors.ts';
import { MvccStore } from '../../kv/mvcc-store.ts';
import { LeaseService, validated } from '../../server/api.ts';
import { etcdStatusOf, grpcErrorOf } from './errors.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

/** What `action` throws. */
function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  assert.fail('expected it to throw');
}

describe('etcdStatusOf', () => {
  it('gives etcd code and text by details.reason', () => {
    const notFound = new InvalidArgumentError('Cannot revoke lease 7: it does not exist', {
      details: { leaseId: 7, reason: 'LEASE_NOT_FOUND' },
    });
    assert.deepEqual(etcdStatusOf(notFound), {
      code: status.NOT_FOUND,
      message: 'etcdserver: requested lease not found',
    });
    const tooMany = new LimitExceededError('…', { details: { limit: 128, reason: 'TOO_MANY_OPS' } });
    assert.deepEqual(etcdStatusOf(tooMany), {
      code: status.INVALID_ARGUMENT,
      message: 'etcdserver: too many operations in txn request',
    });
    const noLeader = new UnavailableError('Cannot propose', { details: { reason: 'NO_LEADER' } });
    assert.deepEqual(etcdStatusOf(noLeader), { code: status.UNAVAILABLE, message: 'etcdserver: no leader' });
    const leaderFailed = new OutcomeUnknownError('Leader 1 lost its leadership', {
      details: { reason: 'LEADER_FAILED' },
    });
    assert.deepEqual(etcdStatusOf(leaderFailed), {
      code: status.UNAVAILABLE,
      message: 'etcdserver: request timed out, possibly due to previous leader failure',
    });
  });

  it('gives etcd code and text by Tessera code', () => {
    assert.deepEqual(etcdStatusOf(new CompactedError('…')), {
      code: status.OUT_OF_RANGE,
      message: 'etcdserver: mvcc: required revision has been compacted',
    });
    assert.deepEqual(etcdStatusOf(new TooLargeError('…')), {
      code: status.INVALID_ARGUMENT,
      message: 'etcdserver: request is too large',
    });
    assert.deepEqual(etcdStatusOf(new DeadlineExceededError('…')), {
      code: status.UNAVAILABLE,
      message: 'etcdserver: request timed out',
    });
    assert.deepEqual(etcdStatusOf(new ConnectionLostError('…')), {
      code: status.UNAVAILABLE,
      message: 'etcdserver: request timed out, possibly due to connection lost',
    });
    assert.deepEqual(etcdStatusOf(new ProposalDroppedError('…')), {
      code: status.UNAVAILABLE,
      message: 'etcdserver: leader changed',
    });
  });

  it('tells a NOT_LEADER with no leader (no leader) from one naming it (leader changed)', () => {
    const none = new NotLeaderError('…', { details: { leaderHint: 0 } });
    assert.equal(etcdStatusOf(none).message, 'etcdserver: no leader');
    const moved = new NotLeaderError('…', { details: { leaderHint: 3, leaderClient: 'a:1' } });
    assert.deepEqual(etcdStatusOf(moved), {
      code: status.UNAVAILABLE,
      message: 'etcdserver: leader changed',
    });
  });

  it('keeps Tessera text where etcd has none, and answers UNKNOWN for the unknown', () => {
    assert.deepEqual(etcdStatusOf(new InvalidArgumentError('ttl must be an integer')), {
      code: status.INVALID_ARGUMENT,
      message: 'ttl must be an integer',
    });
    // A reason that is no key of the table (nor of Object.prototype) falls back to the code.
    const odd = new InvalidArgumentError('odd', { details: { reason: 'toString' } });
    assert.deepEqual(etcdStatusOf(odd), { code: status.INVALID_ARGUMENT, message: 'odd' });
    assert.deepEqual(etcdStatusOf(new RemoteError('NEWER_CODE', 'from a newer member')), {
      code: status.UNKNOWN,
      message: 'from a newer member',
    });
    assert.deepEqual(etcdStatusOf(new TypeError('boom')), { code: status.UNKNOWN, message: 'boom' });
  });

  it("maps the store's own refusals to etcd's (the reasons the store puts on them)", () => {
    const store = new MvccStore();
    store.put({ key: bytes('k'), value: bytes('v') });
    store.put({ key: bytes('k'), value: bytes('w') });
    store.compact({ revision: 2 });
    const cases: [unknown, string][] = [
      [
        thrown(() => store.range({ key: bytes('k'), revision: 99 })),
        'mvcc: required revision is a future revision',
      ],
      [
        thrown(() => store.range({ key: bytes('k'), revision: 1 })),
        'mvcc: required revision has been compacted',
      ],
      [thrown(() => store.compact({ revision: 99 })), 'mvcc: required revision is a future revision'],
      [thrown(() => store.put({ key: new Uint8Array(), value: bytes('v') })), 'key is not provided'],
      [thrown(() => store.put({ key: bytes('k'), lease: 5 })), 'requested lease not found'],
      [thrown(() => store.put({ key: bytes('new'), ignoreValue: true })), 'key not found'],
      [
        thrown(() => store.put({ key: bytes('k'), value: bytes('v'), ignoreValue: true })),
        'value is provided',
      ],
      [thrown(() => store.put({ key: bytes('k'), lease: 5, ignoreLease: true })), 'lease is provided'],
      [
        thrown(() =>
          store.txn({
            success: [
              { type: 'put', request: { key: bytes('d'), value: bytes('1') } },
              { type: 'put', request: { key: bytes('d'), value: bytes('2') } },
            ],
          }),
        ),
        'duplicate key given in txn request',
      ],
      [
        thrown(() =>
          store.txn({
            success: Array.from({ length: 129 }, (_, i) => ({
              type: 'put' as const,
              request: { key: bytes(`m${i}`), value: bytes('x') },
            })),
          }),
        ),
        'too many operations in txn request',
      ],
    ];
    const grant = LeaseService.methods.grant;
    cases.push([thrown(() => validated(grant, 'grant', { ttl: 9_000_000_001 })), 'too large lease TTL']);
    for (const [error, text] of cases)
      assert.equal(etcdStatusOf(error).message, `etcdserver: ${text}`, String(error));
  });
});

describe('grpcErrorOf', () => {
  it('is what grpc-js sends as a status: code, details and metadata', () => {
    const error = grpcErrorOf(new CompactedError('…'));
    assert.equal(error.code, status.OUT_OF_RANGE);
    assert.equal(error.details, 'etcdserver: mvcc: required revision has been compacted');
    assert.equal(error.message, error.details);
    assert.ok(error.metadata !== undefined);
  });
});
