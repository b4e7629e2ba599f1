import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type KvLeaseInput,
  type KvLeaseOperation,
  type KvLeaseOutput,
  type KvLeaseState,
  kvLeaseModel,
  kvLeasePartition,
} from './kv-lease-model.ts';
import { checkLinearizable } from './linearizability.ts';

const UNKNOWN = Number.POSITIVE_INFINITY;

function op(input: KvLeaseInput, call: number, ret: number, output?: KvLeaseOutput): KvLeaseOperation {
  return { clientId: 1, input, call, ret: output === undefined ? UNKNOWN : ret, output };
}

const grant = (lease: number, call: number, ret: number) =>
  op({ op: 'grant', lease, ttl: 2 }, call, ret, { ok: true, ttl: 2 });
const leasePut = (value: string, lease: number, call: number, ret: number, ok?: boolean) =>
  op({ op: 'leasePut', key: 'x', value, lease }, call, ret, ok === undefined ? undefined : { ok });
const expire = (lease: number, call: number, ret: number) =>
  op({ op: 'expire', lease }, call, ret, { ok: true });
const revoke = (lease: number, call: number, ret: number, ok: boolean) =>
  op({ op: 'revoke', lease }, call, ret, { ok });
const keepAlive = (lease: number, call: number, ret: number, ok?: boolean) =>
  op({ op: 'keepAlive', lease }, call, ret, ok === undefined ? undefined : { ok });
const get = (value: string | undefined, call: number, ret: number) =>
  op({ op: 'get', key: 'x' }, call, ret, { value });
const put = (value: string, call: number, ret: number) => op({ op: 'put', key: 'x', value }, call, ret, {});

const state = (value: string | undefined, lease: number, live: number[]): KvLeaseState => ({
  value,
  lease,
  live,
});

describe('kvLeaseModel.step', () => {
  it('a lease put succeeds exactly when its lease is alive, and attaches the key', () => {
    const input = { op: 'leasePut', key: 'x', value: 'a', lease: 7 } as const;
    assert.deepEqual(kvLeaseModel.step(state(undefined, 0, [7]), input, { ok: true }), {
      ok: true,
      state: state('a', 7, [7]),
    });
    assert.equal(kvLeaseModel.step(state(undefined, 0, []), input, { ok: true }).ok, false);
    assert.deepEqual(kvLeaseModel.step(state('b', 0, []), input, { ok: false }), {
      ok: true,
      state: state('b', 0, []),
    });
  });

  it('a revoke or an expiry ends the lease and deletes the key only when attached to it', () => {
    for (const kind of ['revoke', 'expire'] as const) {
      assert.deepEqual(kvLeaseModel.step(state('a', 7, [3, 7]), { op: kind, lease: 7 }, { ok: true }), {
        ok: true,
        state: state(undefined, 0, [3]),
      });
      assert.deepEqual(kvLeaseModel.step(state('a', 3, [3, 7]), { op: kind, lease: 7 }, { ok: true }), {
        ok: true,
        state: state('a', 3, [3]),
      });
      assert.equal(kvLeaseModel.step(state('a', 0, []), { op: kind, lease: 7 }, { ok: true }).ok, false);
    }
  });

  it('a plain write detaches the key from its lease; a get or a failed cas does not', () => {
    assert.deepEqual(kvLeaseModel.step(state('a', 7, [7]), { op: 'put', key: 'x', value: 'b' }, {}).state, {
      value: 'b',
      lease: 0,
      live: [7],
    });
    const failedCas = { op: 'cas', key: 'x', expected: 'z', value: 'b' } as const;
    assert.deepEqual(
      kvLeaseModel.step(state('a', 7, [7]), failedCas, { ok: false }).state,
      state('a', 7, [7]),
    );
    assert.equal(kvLeaseModel.step(state('a', 7, [7]), { op: 'get', key: 'x' }, { value: 'b' }).ok, false);
  });

  it('a keep-alive answers whether the lease is alive; a grant whether it was not', () => {
    assert.equal(
      kvLeaseModel.step(state(undefined, 0, [7]), { op: 'keepAlive', lease: 7 }, { ok: true }).ok,
      true,
    );
    assert.equal(
      kvLeaseModel.step(state(undefined, 0, []), { op: 'keepAlive', lease: 7 }, { ok: true }).ok,
      false,
    );
    assert.deepEqual(
      kvLeaseModel.step(state(undefined, 0, [9]), { op: 'grant', lease: 7, ttl: 2 }, { ok: true }),
      {
        ok: true,
        state: state(undefined, 0, [7, 9]),
      },
    );
  });

  it('refuses a lease output without a boolean ok as a recording bug', () => {
    assert.throws(
      () => kvLeaseModel.step(state(undefined, 0, []), { op: 'keepAlive', lease: 7 }, {}),
      TypeError,
    );
  });

  it('hashes equal states alike and tells the absent value from the string "null"', () => {
    assert.equal(kvLeaseModel.hash(state('a', 7, [7])), kvLeaseModel.hash(state('a', 7, [7])));
    assert.notEqual(kvLeaseModel.hash(state(undefined, 0, [])), kvLeaseModel.hash(state('null', 0, [])));
    assert.ok(kvLeaseModel.equal(state('a', 7, [1, 7]), state('a', 7, [1, 7])));
    assert.ok(!kvLeaseModel.equal(state('a', 7, [1, 7]), state('a', 7, [7])));
  });
});

describe('kvLeaseModel histories', () => {
  it('accepts a key vanishing with the expiry of its lease', () => {
    const history = [
      grant(7, 0, 1),
      leasePut('a', 7, 2, 3, true),
      get('a', 4, 5),
      expire(7, 6, 9),
      get(undefined, 10, 11),
    ];
    assert.equal(checkLinearizable(kvLeaseModel, history).result, 'ok');
  });

  it('refuses a key read after the expiry of its lease returned', () => {
    const history = [grant(7, 0, 1), leasePut('a', 7, 2, 3, true), expire(7, 6, 9), get('a', 10, 11)];
    assert.equal(checkLinearizable(kvLeaseModel, history).result, 'illegal');
  });

  it('refuses a keep-alive that finds the lease alive after its expiry returned', () => {
    const history = [grant(7, 0, 1), expire(7, 2, 3), keepAlive(7, 4, 5, true)];
    const verdict = checkLinearizable(kvLeaseModel, history);
    assert.equal(verdict.result, 'illegal');
    assert.match(verdict.result === 'illegal' ? verdict.counterexample.report : '', /lease 7/);
  });

  it('refuses a lease put that succeeds on a lease revoked before it was called', () => {
    const history = [grant(7, 0, 1), revoke(7, 2, 3, true), leasePut('a', 7, 4, 5, true)];
    assert.equal(checkLinearizable(kvLeaseModel, history).result, 'illegal');
  });

  it('keeps an unobserved lease put of unknown outcome: a revoke after it can explain a delete', () => {
    // Legal only if the lease put took effect and the revoke then deleted the key; pruning it as
    // unobserved (as kvPartition does for plain keys) would make this history look illegal.
    const history = [
      put('a', 0, 1),
      grant(7, 0, 1),
      leasePut('b', 7, 2, UNKNOWN),
      revoke(7, 5, 6, true),
      get(undefined, 7, 8),
    ];
    assert.equal(checkLinearizable(kvLeaseModel, history).result, 'ok');
    const pruned = history.filter((operation) => operation.input.op !== 'leasePut');
    assert.equal(checkLinearizable(kvLeaseModel, pruned).result, 'illegal');
  });
});

describe('kvLeasePartition', () => {
  it('gives a leased key the grants, revokes and expiries of its leases, and each lease its keep-alives', () => {
    const history = [
      grant(7, 0, 1),
      grant(8, 0, 1),
      leasePut('a', 7, 2, 3, true),
      keepAlive(7, 4, 5, true),
      keepAlive(8, 4, UNKNOWN),
      expire(7, 6, 7),
      expire(8, 6, 7),
    ];
    const [key, lease7, lease8, ...rest] = kvLeasePartition(history);
    assert.deepEqual(rest, []);
    assert.deepEqual(key, [history[0], history[2], history[5]]);
    assert.deepEqual(lease7, [history[0], history[3], history[5]]);
    assert.deepEqual(lease8, [history[1], history[6]], 'a keep-alive of unknown outcome is dropped');
    assert.equal(kvLeaseModel.describePartition?.(key ?? []), 'key "x"');
    assert.equal(kvLeaseModel.describePartition?.(lease8 ?? []), 'lease 8');
  });

  it('prunes a key no lease put names as kvPartition does', () => {
    const lost = op({ op: 'put', key: 'y', value: 'lost' }, 0, UNKNOWN);
    const known = op({ op: 'put', key: 'y', value: 'b' }, 0, 1, {});
    assert.deepEqual(kvLeasePartition([known, lost]), [[known]]);
    const leased = [
      grant(7, 0, 1),
      leasePut('c', 7, 2, UNKNOWN),
      op({ op: 'put', key: 'x', value: 'd' }, 0, UNKNOWN),
    ];
    assert.equal(kvLeasePartition(leased)[0]?.length, 3, 'a leased key keeps its writes of unknown outcome');
  });
});
