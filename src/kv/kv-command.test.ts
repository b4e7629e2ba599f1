import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  InvalidArgumentError,
  LimitExceededError,
  ProtocolError,
  TesseraError,
  TooLargeError,
} from '../base/errors.ts';
import { encode } from '../codec/msgpack.ts';
import { COMMAND_BYTES_MAX, decodeCommand, encodeCommand, type KvCommand } from './kv-command.ts';
import { applyCommand } from './kv-machine.ts';
import { LEASE_KEEPALIVES_MAX, TXN_DEPTH_MAX } from './limits.ts';
import { MvccStore } from './mvcc-store.ts';
import type { Compare, RequestOp, TxnRequest } from './types.ts';

const text = (value: string) => new TextEncoder().encode(value);

const bytesArb = fc.uint8Array({ minLength: 1, maxLength: 8 });
const intArb = fc.oneof(fc.nat({ max: 50 }), fc.integer({ min: -5, max: Number.MAX_SAFE_INTEGER }));

const rangeArb = fc.record(
  {
    key: bytesArb,
    rangeEnd: bytesArb,
    limit: intArb,
    revision: intArb,
    sortOrder: fc.constantFrom('none', 'ascend', 'descend'),
    sortTarget: fc.constantFrom('key', 'version', 'create', 'mod', 'value'),
    keysOnly: fc.boolean(),
    countOnly: fc.boolean(),
    minModRevision: intArb,
    maxModRevision: intArb,
    minCreateRevision: intArb,
    maxCreateRevision: intArb,
  },
  { requiredKeys: ['key'], noNullPrototype: true },
);
const putArb = fc.record(
  {
    key: bytesArb,
    value: fc.uint8Array({ maxLength: 8 }),
    lease: intArb,
    prevKv: fc.boolean(),
    ignoreValue: fc.boolean(),
    ignoreLease: fc.boolean(),
  },
  { requiredKeys: ['key'], noNullPrototype: true },
);
const deleteArb = fc.record(
  { key: bytesArb, rangeEnd: bytesArb, prevKv: fc.boolean() },
  { requiredKeys: ['key'], noNullPrototype: true },
);
const compareArb: fc.Arbitrary<Compare> = fc
  .record(
    { key: bytesArb, rangeEnd: bytesArb, result: fc.constantFrom('equal', 'notEqual', 'less', 'greater') },
    { requiredKeys: ['key', 'result'], noNullPrototype: true },
  )
  .chain((base) =>
    fc.oneof(
      intArb.map((version): Compare => ({ ...base, target: 'version', version })),
      intArb.map((createRevision): Compare => ({ ...base, target: 'createRevision', createRevision })),
      intArb.map((modRevision): Compare => ({ ...base, target: 'modRevision', modRevision })),
      bytesArb.map((value): Compare => ({ ...base, target: 'value', value })),
      intArb.map((lease): Compare => ({ ...base, target: 'lease', lease })),
    ),
  );
const { txn: txnArb } = fc.letrec<{ txn: TxnRequest; op: RequestOp }>((tie) => ({
  txn: fc.record(
    {
      compare: fc.array(compareArb, { maxLength: 3 }),
      success: fc.array(tie('op'), { maxLength: 3 }),
      failure: fc.array(tie('op'), { maxLength: 3 }),
    },
    { requiredKeys: [], noNullPrototype: true },
  ),
  op: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    rangeArb.map((request): RequestOp => ({ type: 'range', request })),
    putArb.map((request): RequestOp => ({ type: 'put', request })),
    deleteArb.map((request): RequestOp => ({ type: 'deleteRange', request })),
    tie('txn').map((request): RequestOp => ({ type: 'txn', request: request as TxnRequest })),
  ),
}));
const commandArb: fc.Arbitrary<KvCommand> = fc.oneof(
  rangeArb.map((request): KvCommand => ({ type: 'range', request })),
  putArb.map((request): KvCommand => ({ type: 'put', request })),
  deleteArb.map((request): KvCommand => ({ type: 'deleteRange', request })),
  txnArb.map((request): KvCommand => ({ type: 'txn', request })),
  intArb.map((revision): KvCommand => ({ type: 'compact', request: { revision } })),
  fc
    .record({ id: intArb, ttl: intArb }, { noNullPrototype: true })
    .map((request): KvCommand => ({ type: 'leaseGrant', request })),
  intArb.map((id): KvCommand => ({ type: 'leaseRevoke', request: { id } })),
  fc
    .array(fc.record({ id: intArb, remainingTtl: intArb }, { noNullPrototype: true }), { maxLength: 3 })
    .map((checkpoints): KvCommand => ({ type: 'leaseCheckpoint', request: { checkpoints } })),
  fc.array(intArb, { maxLength: 3 }).map((ids): KvCommand => ({ type: 'leaseKeepAlives', request: { ids } })),
);

function txnDepth(request: TxnRequest): number {
  const nested = [...(request.success ?? []), ...(request.failure ?? [])].flatMap((op) =>
    op.type === 'txn' ? [txnDepth(op.request)] : [],
  );
  return 1 + Math.max(0, ...nested);
}

/** A small store with some state for commands to meet. */
function seededStore(): MvccStore {
  const store = new MvccStore();
  store.leaseGrant({ id: 1, ttl: 10 });
  store.put({ key: Uint8Array.of(1), value: text('a'), lease: 1 });
  store.put({ key: Uint8Array.of(2), value: text('b') });
  return store;
}

/** Applying a decoded command either answers or throws a typed error, and keeps the invariants. */
function applyIsSafe(command: KvCommand): void {
  const store = seededStore();
  try {
    applyCommand(store, command);
  } catch (error) {
    if (!(error instanceof TesseraError)) throw error;
  }
  store.checkInvariants();
}

describe('encodeCommand / decodeCommand', () => {
  it('round-trips every valid command, and applying it answers or throws a typed error', () => {
    fc.assert(
      fc.property(commandArb, (command) => {
        const decoded = decodeCommand(encodeCommand(command));
        assert.deepEqual(decoded, command);
        applyIsSafe(decoded);
      }),
      { numRuns: 200 },
    );
  });

  it('never throws anything but a typed error on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
        try {
          applyIsSafe(decodeCommand(data));
        } catch (error) {
          assert.ok(error instanceof TesseraError, String(error));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('never throws anything but a typed error on random values in a command shape', () => {
    const fieldNames = [
      'key',
      'value',
      'rangeEnd',
      'lease',
      'limit',
      'revision',
      'compare',
      'success',
      'id',
      'ttl',
    ];
    const hostile = fc.oneof(
      fc.anything(),
      fc.record({
        type: fc.constantFrom('range', 'put', 'txn', 'compact', 'leaseGrant', 'leaseCheckpoint'),
        request: fc.anything(),
      }),
      fc
        .tuple(
          fc.constantFrom('range', 'put', 'deleteRange', 'txn'),
          fc.dictionary(fc.constantFrom(...fieldNames), fc.anything(), { maxKeys: 3 }),
          bytesArb,
        )
        .map(([type, fields, key]) => ({ type, request: { key, ...fields } })),
      fc.anything().map((anything) => ({
        type: 'txn',
        request: {
          success: [
            {
              type: 'txn',
              request: {
                compare: [{ key: Uint8Array.of(1), target: 'value', result: 'equal', value: anything }],
              },
            },
          ],
        },
      })),
    );
    fc.assert(
      fc.property(hostile, (value) => {
        let data: Uint8Array;
        try {
          data = encode(value);
        } catch {
          return; // not encodable: not a case the decoder can meet
        }
        try {
          applyIsSafe(decodeCommand(data));
        } catch (error) {
          assert.ok(error instanceof TesseraError, String(error));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses specific malformed commands with PROTOCOL', () => {
    const bad: unknown[] = [
      null,
      [1, 2],
      { type: 'put' },
      { type: 'put', request: {} },
      { type: 'put', request: { key: 'text' } },
      { type: 'put', request: { key: Uint8Array.of(1), extra: 1 } },
      { type: 'put', request: { key: Uint8Array.of(1), lease: 1.5 } },
      { type: 'put', request: { key: Uint8Array.of(1), prevKv: 1 } },
      { type: 'range', request: { key: Uint8Array.of(1), sortOrder: 'up' } },
      { type: 'watch', request: { key: Uint8Array.of(1) } },
      { type: 'txn', request: { compare: [{ key: Uint8Array.of(1), target: 'version', result: 'equal' }] } },
      {
        type: 'txn',
        request: {
          compare: [
            {
              key: Uint8Array.of(1),
              target: 'version',
              result: 'equal',
              version: 1,
              value: Uint8Array.of(1),
            },
          ],
        },
      },
      { type: 'txn', request: { success: [{ type: 'put', request: { key: Uint8Array.of(1) }, more: 1 }] } },
      { type: 'compact', request: {} },
      { type: 'leaseCheckpoint', request: { checkpoints: [{ id: 1 }] } },
      { type: 'leaseKeepAlives', request: {} },
      { type: 'leaseKeepAlives', request: { ids: [1.5] } },
      { type: 'leaseKeepAlives', request: { ids: 1 } },
    ];
    for (const value of bad) {
      assert.throws(() => decodeCommand(encode(value)), ProtocolError, JSON.stringify(value));
    }
    assert.throws(() => decodeCommand(Uint8Array.of(0xc1)), ProtocolError);
  });

  it('refuses transactions nested deeper than TXN_DEPTH_MAX, and commands over COMMAND_BYTES_MAX', () => {
    let request: TxnRequest = {};
    for (let depth = 1; depth < TXN_DEPTH_MAX; depth++) request = { success: [{ type: 'txn', request }] };
    assert.equal(txnDepth(request), TXN_DEPTH_MAX);
    decodeCommand(encodeCommand({ type: 'txn', request }));
    const deeper: KvCommand = { type: 'txn', request: { success: [{ type: 'txn', request }] } };
    assert.throws(() => decodeCommand(encodeCommand(deeper)), ProtocolError);
    const huge = encodeCommand({
      type: 'put',
      request: { key: Uint8Array.of(1), value: new Uint8Array(COMMAND_BYTES_MAX) },
    });
    assert.throws(() => decodeCommand(huge), TooLargeError);
  });

  it('decodes bytes into fresh arrays that share nothing with the entry', () => {
    const data = Buffer.from(encodeCommand({ type: 'put', request: { key: text('k'), value: text('v') } }));
    const command = decodeCommand(data);
    data.fill(0);
    assert.ok(command.type === 'put');
    assert.deepEqual(command.request.key, text('k'));
    assert.equal(Object.getPrototypeOf(command.request.key), Uint8Array.prototype);
  });
});

describe('applyCommand', () => {
  it('dispatches each command to the store and returns its response and events', () => {
    const store = new MvccStore();
    const grant = applyCommand(store, { type: 'leaseGrant', request: { id: 5, ttl: 30 } });
    assert.deepEqual(grant, {
      type: 'leaseGrant',
      response: { revision: 1, id: 5, ttl: 30 },
      events: [],
      leases: [{ type: 'granted', id: 5, ttl: 30 }],
    });
    const put = applyCommand(store, { type: 'put', request: { key: text('a'), value: text('1'), lease: 5 } });
    assert.equal(put.type, 'put');
    assert.equal(put.events.length, 1);
    const txn = applyCommand(store, {
      type: 'txn',
      request: { success: [{ type: 'put', request: { key: text('b'), value: text('2') } }] },
    });
    assert.equal(txn.type === 'txn' && txn.response.succeeded, true);
    const range = applyCommand(store, { type: 'range', request: { key: text('a'), rangeEnd: text('c') } });
    assert.equal(range.type === 'range' && range.response.count, 2);
    const checkpoint = applyCommand(store, {
      type: 'leaseCheckpoint',
      request: {
        checkpoints: [
          { id: 5, remainingTtl: 9 },
          { id: 6, remainingTtl: 9 },
        ],
      },
    });
    assert.equal(store.leaseTimeToLive(5)?.remainingTtl, 9);
    // The lessors mirror only leases that exist, as the store skips the others.
    assert.deepEqual(checkpoint.leases, [{ type: 'checkpointed', id: 5, remainingTtl: 9 }]);
    const keepAlive = applyCommand(store, { type: 'leaseKeepAlive', request: { id: 5 } });
    assert.deepEqual(keepAlive.type === 'leaseKeepAlive' && keepAlive.response, {
      revision: 3,
      id: 5,
      ttl: 30,
    });
    assert.deepEqual(keepAlive.leases, [{ type: 'checkpointed', id: 5, remainingTtl: 30 }]);
    assert.equal(store.leaseTimeToLive(5)?.remainingTtl, 30);
    assert.throws(
      () => applyCommand(store, { type: 'leaseKeepAlive', request: { id: 6 } }),
      (error: Error) => (error as InvalidArgumentError).details?.['reason'] === 'LEASE_NOT_FOUND',
    );
    // Many in one entry: each existing lease renewed, -1 for one that does not exist.
    applyCommand(store, { type: 'leaseCheckpoint', request: { checkpoints: [{ id: 5, remainingTtl: 9 }] } });
    const keepAlives = applyCommand(store, { type: 'leaseKeepAlives', request: { ids: [5, 6, 5] } });
    assert.deepEqual(keepAlives.type === 'leaseKeepAlives' && keepAlives.response, {
      revision: 3,
      ttls: [30, -1, 30],
    });
    assert.deepEqual(keepAlives.leases, [
      { type: 'checkpointed', id: 5, remainingTtl: 30 },
      { type: 'checkpointed', id: 5, remainingTtl: 30 },
    ]);
    assert.equal(store.leaseTimeToLive(5)?.remainingTtl, 30);
    // A bad list renews nothing.
    applyCommand(store, { type: 'leaseCheckpoint', request: { checkpoints: [{ id: 5, remainingTtl: 9 }] } });
    assert.throws(
      () => applyCommand(store, { type: 'leaseKeepAlives', request: { ids: [5, 0] } }),
      InvalidArgumentError,
    );
    assert.throws(
      () => applyCommand(store, { type: 'leaseKeepAlives', request: { ids: [] } }),
      InvalidArgumentError,
    );
    assert.throws(
      () =>
        applyCommand(store, {
          type: 'leaseKeepAlives',
          request: { ids: Array.from({ length: LEASE_KEEPALIVES_MAX + 1 }, () => 5) },
        }),
      LimitExceededError,
    );
    assert.equal(store.leaseTimeToLive(5)?.remainingTtl, 9);
    const revoke = applyCommand(store, { type: 'leaseRevoke', request: { id: 5 } });
    assert.deepEqual(revoke.leases, [{ type: 'revoked', id: 5 }]);
    assert.deepEqual(
      revoke.events.map((event) => event.type),
      ['delete'],
    );
    const deleted = applyCommand(store, { type: 'deleteRange', request: { key: text('b') } });
    assert.equal(deleted.type === 'deleteRange' && deleted.response.deleted, 1);
    const compact = applyCommand(store, { type: 'compact', request: { revision: store.revision } });
    assert.deepEqual(compact, { type: 'compact', response: { revision: 5 }, events: [], leases: [] });
    store.checkInvariants();
  });
});
