import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { RecordingLogger } from '../base/logger.ts';
import { FrameDecoder } from '../codec/frame.ts';
import { decode } from '../codec/msgpack.ts';
import { FramedConnection, resolveConnectionLimits } from './framed-connection.ts';

/** A socket that records what is written to it. */
function recordingSocket(): { socket: Socket; writes: Buffer[] } {
  const writes: Buffer[] = [];
  const socket = Object.assign(new EventEmitter(), {
    destroyed: false,
    writableLength: 0,
    setNoDelay: () => undefined,
    write: (chunk: Buffer) => {
      writes.push(chunk);
      return true;
    },
  });
  return { socket: socket as unknown as Socket, writes };
}

/** The messages in written bytes. */
function messagesIn(writes: readonly Buffer[]): unknown[] {
  const messages: unknown[] = [];
  const decoder = new FrameDecoder((body) => messages.push(decode(body)));
  for (const chunk of writes) decoder.push(chunk);
  return messages;
}

describe('FramedConnection writes', () => {
  it('batches the messages of one turn into one write at the end of the turn', async () => {
    const { socket, writes } = recordingSocket();
    const connection = new FramedConnection(socket, 'peer', resolveConnectionLimits(), new RecordingLogger());
    connection.send(['a']);
    connection.send(['b']);
    assert.equal(writes.length, 0, 'nothing is written before the turn ends');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(writes.length, 1);
    assert.deepEqual(messagesIn(writes), [['a'], ['b']]);
  });

  it('flush() writes what is queued at once, and the end of the turn writes nothing more', async () => {
    const { socket, writes } = recordingSocket();
    const connection = new FramedConnection(socket, 'peer', resolveConnectionLimits(), new RecordingLogger());
    connection.send(['append', 1]);
    connection.flush();
    assert.equal(writes.length, 1, 'flushed synchronously');
    assert.deepEqual(messagesIn(writes), [['append', 1]]);
    connection.flush();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(writes.length, 1, 'no empty write, no second copy');
    connection.send(['later']);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(messagesIn(writes), [['append', 1], ['later']]);
  });
});
