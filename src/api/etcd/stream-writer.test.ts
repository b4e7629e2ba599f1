import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamWriter } from './stream-writer.ts';
import { FakeServerStream } from './watch-fixtures.suite.ts';

function writerOf(
  stream: FakeServerStream<string>,
  signal = new AbortController().signal,
): StreamWriter<string> {
  return new StreamWriter(stream.call, signal);
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('StreamWriter', () => {
  it('writes a call’s messages back to back; once full, writers wait for drain, in the order they came', async () => {
    const call = new FakeServerStream<string>();
    const writer = writerOf(call);
    call.full = true;
    const first = writer.write(['a1', 'a2']);
    const second = writer.write(['b1']);
    const third = writer.write(['c1', 'c2']);
    await turn();
    assert.deepEqual(call.written, ['a1', 'a2']);
    call.full = false;
    call.emit('drain');
    assert.deepEqual(await Promise.all([first, second, third]), [true, true, true]);
    assert.deepEqual(call.written, ['a1', 'a2', 'b1', 'c1', 'c2']);
  });

  it('a writer that is no longer live, or a stream that closed while it waited, writes nothing', async () => {
    const call = new FakeServerStream<string>();
    const stop = new AbortController();
    const writer = writerOf(call, stop.signal);
    call.full = true;
    const first = writer.write(['a']);
    let live = true;
    const dead = writer.write(['b'], () => live);
    live = false;
    call.emit('drain');
    assert.deepEqual(await Promise.all([first, dead]), [true, false]);
    const waiting = writer.write(['c']);
    const after = writer.write(['d']);
    call.destroyed = true;
    call.emit('close');
    assert.deepEqual(await Promise.all([waiting, after]), [true, false]);
    assert.deepEqual(call.written, ['a', 'c']);
    assert.equal(writer.closed, true);
  });
});
