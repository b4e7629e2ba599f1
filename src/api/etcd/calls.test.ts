import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { ServerUnaryCall } from '@grpc/grpc-js';
import { CancelledError } from '../../base/errors.ts';
import { callContextOf } from './calls.ts';

/** The parts of a grpc-js unary call `callContextOf` reads. */
function fakeCall(deadline: number = Number.POSITIVE_INFINITY): ServerUnaryCall<unknown, unknown> {
  const call = new EventEmitter() as EventEmitter & Record<string, unknown>;
  call['getDeadline'] = () => deadline;
  call['getPeer'] = () => '127.0.0.1:4000';
  return call as unknown as ServerUnaryCall<unknown, unknown>;
}

describe('callContextOf', () => {
  it('aborts the signal when the client cancels, whether it was read before or after', () => {
    const early = fakeCall();
    const readFirst = callContextOf(early, '/etcdserverpb.KV/Range');
    const signal = readFirst.signal;
    assert.equal(signal.aborted, false);
    early.emit('cancelled');
    assert.equal(signal.aborted, true);
    assert.ok(signal.reason instanceof CancelledError);

    const late = fakeCall();
    const readAfter = callContextOf(late, '/etcdserverpb.KV/Range');
    late.emit('cancelled');
    assert.equal(readAfter.signal.aborted, true, 'a signal first read after the cancel starts aborted');
    assert.ok(readAfter.signal.reason instanceof CancelledError);
    assert.equal(readAfter.signal, readAfter.signal, 'one signal per call');
  });

  it('does not abort for the close that follows an answer', () => {
    const call = fakeCall();
    const context = callContextOf(call, '/etcdserverpb.KV/Put', () => true);
    call.emit('cancelled');
    assert.equal(context.signal.aborted, false);
  });

  it('gives the time left before the deadline and the peer', () => {
    const context = callContextOf(fakeCall(Date.now() + 5_000), '/etcdserverpb.KV/Range');
    assert.ok(context.timeRemainingMs !== undefined && context.timeRemainingMs > 4_000);
    assert.equal(context.remoteAddress, '127.0.0.1:4000');
    assert.equal(callContextOf(fakeCall(), '/etcdserverpb.KV/Range').timeRemainingMs, undefined);
  });
});
