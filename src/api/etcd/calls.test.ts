import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import {
  type ClientReadableStream,
  credentials,
  makeGenericClientConstructor,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { CancelledError } from '../../base/errors.ts';
import { callContextOf, withBufferedStreamWrites } from './calls.ts';

/** The parts of a grpc-js unary call `callContextOf` reads; `cancel()` does what grpc-js does when the client cancels. */
function fakeCall(
  deadline: number = Number.POSITIVE_INFINITY,
): ServerUnaryCall<unknown, unknown> & { cancel(): void } {
  const call = new EventEmitter() as EventEmitter & Record<string, unknown>;
  call['cancelled'] = false;
  call['getDeadline'] = () => deadline;
  call['getPeer'] = () => '127.0.0.1:4000';
  call['cancel'] = () => {
    call['cancelled'] = true;
    call.emit('cancelled', 'cancelled');
  };
  return call as unknown as ServerUnaryCall<unknown, unknown> & { cancel(): void };
}

describe('callContextOf', () => {
  it('aborts the signal when the client cancels, whether it was read before or after', () => {
    const early = fakeCall();
    const readFirst = callContextOf(early, '/etcdserverpb.KV/Range');
    const signal = readFirst.signal;
    assert.equal(signal.aborted, false);
    early.cancel();
    assert.equal(signal.aborted, true);
    assert.ok(signal.reason instanceof CancelledError);

    const late = fakeCall();
    const readAfter = callContextOf(late, '/etcdserverpb.KV/Range');
    late.cancel();
    assert.equal(readAfter.signal.aborted, true, 'a signal first read after the cancel starts aborted');
    assert.ok(readAfter.signal.reason instanceof CancelledError);
    assert.equal(readAfter.signal, readAfter.signal, 'one signal per call');
  });

  it('does not abort for the close that follows an answer', () => {
    const call = fakeCall();
    const context = callContextOf(call, '/etcdserverpb.KV/Put', () => true);
    call.cancel();
    assert.equal(context.signal.aborted, false);
  });

  it('gives the time left before the deadline and the peer', () => {
    const context = callContextOf(fakeCall(Date.now() + 5_000), '/etcdserverpb.KV/Range');
    assert.ok(context.timeRemainingMs !== undefined && context.timeRemainingMs > 4_000);
    assert.equal(context.remoteAddress, '127.0.0.1:4000');
    assert.equal(callContextOf(fakeCall(), '/etcdserverpb.KV/Range').timeRemainingMs, undefined);
  });
});

/** A server-streaming method of raw bytes, for a bare grpc-js server. */
const BYTES_STREAM: ServiceDefinition = {
  Stream: {
    path: '/test.Bytes/Stream',
    requestStream: false,
    responseStream: true,
    requestSerialize: (value: Buffer) => value,
    requestDeserialize: (bytes: Buffer) => bytes,
    responseSerialize: (value: Buffer) => value,
    responseDeserialize: (bytes: Buffer) => bytes,
    originalName: 'stream',
  },
};

/**
 * Serves one call of {@link BYTES_STREAM} that writes `count` messages in
 * one turn, through `withBufferedStreamWrites` when `buffered`; returns in
 * how many event-loop turns of the client they arrived.
 */
async function turnsToReceive(count: number, buffered: boolean): Promise<number> {
  const server = new Server();
  const implementation = {
    Stream: (call: ServerWritableStream<Buffer, Buffer>) => {
      for (let n = 0; n < count; n++) call.write(Buffer.from([n]));
      call.end();
    },
  };
  server.addService(
    BYTES_STREAM,
    buffered ? withBufferedStreamWrites(BYTES_STREAM, implementation) : implementation,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    ),
  );
  const Client = makeGenericClientConstructor(BYTES_STREAM, 'Bytes');
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  let turn = 0;
  let ticking = true;
  const tick = (): void => {
    turn++;
    if (ticking) setImmediate(tick);
  };
  try {
    const stream = (client as unknown as { stream(request: Buffer): ClientReadableStream<Buffer> }).stream(
      Buffer.alloc(0),
    );
    const received: number[] = [];
    const turns = new Set<number>();
    stream.on('data', (message: Buffer) => {
      if (received.length === 0) tick();
      received.push(message[0] as number);
      turns.add(turn);
    });
    await new Promise((resolve) => stream.on('status', resolve));
    assert.deepEqual(received, [...Array(count).keys()], 'every message, in order');
    return turns.size;
  } finally {
    ticking = false;
    client.close();
    server.forceShutdown();
  }
}

describe('withBufferedStreamWrites', () => {
  it("hands a stream's queued messages to HTTP/2 together: 64 written in one turn arrive in a few turns, not one a turn", async () => {
    const together = await turnsToReceive(64, true);
    assert.ok(together <= 4, `arrived over ${together} turns`);
    // What it replaces: grpc-js passes on one message per turn, each after the last left the socket.
    const oneByOne = await turnsToReceive(64, false);
    assert.ok(oneByOne >= 16, `without it, arrived over ${oneByOne} turns`);
  });
});
