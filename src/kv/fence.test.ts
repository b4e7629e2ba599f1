import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FencedError, InvalidArgumentError, ProtocolError } from '../base/errors.ts';
import { checkedCommand, decodeCommand, encodeCommand } from './kv-command.ts';
import { MvccStore } from './mvcc-store.ts';
import type { Fence, RequestOp } from './types.ts';

const text = (value: string) => new TextEncoder().encode(value);
const str = (value: Uint8Array) => new TextDecoder().decode(value);
const fence = (token: number, lock = 'jobs'): Fence => ({ lock: text(lock), token });

/** A store where lock "jobs" has holder jobs/a (token 3) and waiter jobs/b (token 5). */
function lockedStore(): MvccStore {
  const store = new MvccStore();
  store.put({ key: text('jobsX'), value: text('outside, older') }); // rev 2: not under "jobs/"
  store.put({ key: text('jobs/a'), value: text('') }); // rev 3: the holder
  store.put({ key: text('data'), value: text('initial') }); // rev 4
  store.put({ key: text('jobs/b'), value: text('') }); // rev 5: waiting
  return store;
}

function value(store: MvccStore, key: string): string | undefined {
  const kv = store.range({ key: text(key) }).kvs[0];
  return kv === undefined ? undefined : str(kv.value);
}

function fencedRefusal(holderToken: number, token: number) {
  return (error: unknown) => {
    assert.ok(error instanceof FencedError, String(error));
    assert.equal(error.code, 'FENCED');
    assert.deepEqual(error.details, { token, holderToken });
    return true;
  };
}

describe('fenced writes', () => {
  it('a put runs while its token holds the lock, and is refused with FENCED, changing nothing, once it does not', () => {
    const store = lockedStore();
    store.put({ key: text('data'), value: text('by holder'), fence: fence(3) });
    assert.equal(value(store, 'data'), 'by holder');
    const revision = store.revision;
    // The waiter's token does not hold the lock yet.
    assert.throws(
      () => store.put({ key: text('data'), value: text('by waiter'), fence: fence(5) }),
      fencedRefusal(3, 5),
    );
    assert.equal(store.revision, revision);
    // The holder unlocks: the waiter holds, the old token is fenced off.
    store.deleteRange({ key: text('jobs/a') });
    store.put({ key: text('data'), value: text('by waiter'), fence: fence(5) });
    const after = store.revision;
    assert.throws(
      () => store.put({ key: text('data'), value: text('stale'), fence: fence(3) }),
      fencedRefusal(5, 3),
    );
    assert.equal(value(store, 'data'), 'by waiter');
    assert.equal(store.revision, after);
  });

  it('a lock without keys has no holder: every token is fenced off', () => {
    const store = lockedStore();
    store.deleteRange({ key: text('jobs/'), rangeEnd: text('jobs0') });
    assert.throws(
      () => store.put({ key: text('data'), value: text('x'), fence: fence(3) }),
      fencedRefusal(0, 3),
    );
    assert.throws(
      () => store.put({ key: text('data'), value: text('x'), fence: fence(2, 'jobsX') }),
      fencedRefusal(0, 2),
    );
  });

  it('deletes and transactions are fenced too, whole', () => {
    const store = lockedStore();
    assert.throws(() => store.deleteRange({ key: text('data'), fence: fence(5) }), fencedRefusal(3, 5));
    assert.equal(value(store, 'data'), 'initial');
    const putData: RequestOp = { type: 'put', request: { key: text('data'), value: text('txn') } };
    const putOther: RequestOp = { type: 'put', request: { key: text('other'), value: text('1') } };
    const fencedPut: RequestOp = {
      type: 'put',
      request: { key: text('fenced'), value: text('1'), fence: fence(5) },
    };
    // A fence on the transaction: checked whatever the compares say.
    assert.throws(
      () => store.txn({ success: [putData], failure: [putData], fence: fence(5) }),
      fencedRefusal(3, 5),
    );
    // A fenced put on the branch taken refuses the whole transaction: the other put is not written.
    assert.throws(() => store.txn({ success: [putOther, fencedPut] }), fencedRefusal(3, 5));
    assert.equal(value(store, 'other'), undefined);
    // On the branch not taken it is not checked.
    const { response } = store.txn({
      compare: [{ key: text('data'), target: 'version', result: 'equal', version: 99 }],
      success: [fencedPut],
      failure: [putOther],
    });
    assert.equal(response.succeeded, false);
    assert.equal(value(store, 'other'), '1');
    // A fenced nested transaction.
    assert.throws(
      () => store.txn({ success: [{ type: 'txn', request: { fence: fence(5) } }] }),
      fencedRefusal(3, 5),
    );
    store.txn({ success: [putData], fence: fence(3) });
    assert.equal(value(store, 'data'), 'txn');
    store.deleteRange({ key: text('data'), fence: fence(3) });
    assert.equal(value(store, 'data'), undefined);
  });

  it('a malformed fence is refused before the log, by shape and by meaning', () => {
    const put = (fenceValue: unknown) => ({ key: text('k'), value: text('v'), fence: fenceValue });
    assert.throws(() => checkedCommand('put', put({ lock: text('l') })), InvalidArgumentError);
    assert.throws(() => checkedCommand('put', put({ lock: 'l', token: 3 })), InvalidArgumentError);
    assert.throws(
      () => checkedCommand('put', put({ lock: text('l'), token: 3, holder: 1 })),
      InvalidArgumentError,
    );
    assert.throws(
      () => checkedCommand('put', put({ lock: text('l'), token: 0 })),
      /fence.token must be an integer >= 1/,
    );
    assert.throws(
      () => checkedCommand('deleteRange', { key: text('k'), fence: { lock: text(''), token: 2 } }),
      /fence.lock is empty/,
    );
    assert.throws(
      () => checkedCommand('txn', { fence: { lock: text('l'), token: -1 } }),
      InvalidArgumentError,
    );
    assert.throws(
      () => decodeCommand(encodeCommand({ type: 'put', request: put(7) as never })),
      ProtocolError,
    );
    const command = checkedCommand('txn', { fence: { lock: text('l'), token: 9 } });
    assert.deepEqual(decodeCommand(encodeCommand(command)), command);
  });
});
