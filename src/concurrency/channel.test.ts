import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { CancelledError, ChannelClosedError, LimitExceededError } from '../base/errors.ts';
import { CHANNEL_CAPACITY_MAX, CHANNEL_WAITERS_MAX_DEFAULT, Channel } from './channel.ts';
import { flush, observe } from './testdata/observe.ts';

describe('Channel constructor', () => {
  it('Channel constructor rejects a capacity that is not a non-negative safe integer, naming it', () => {
    for (const capacity of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, CHANNEL_CAPACITY_MAX + 1]) {
      assert.throws(
        () => new Channel(capacity),
        (error: unknown) => {
          assert.ok(error instanceof RangeError);
          assert.match(error.message, /capacity/);
          assert.ok(error.message.includes(String(capacity)), error.message);
          return true;
        },
      );
    }
  });

  it('Channel constructor rejects a waitersMax below 1', () => {
    assert.throws(() => new Channel(0, { waitersMax: 0 }), /waitersMax.*got 0/);
  });

  it('Channel exposes capacity, length, closed and the default waitersMax', () => {
    const channel = new Channel<number>(3);
    assert.equal(channel.capacity, 3);
    assert.equal(channel.waitersMax, CHANNEL_WAITERS_MAX_DEFAULT);
    assert.equal(CHANNEL_WAITERS_MAX_DEFAULT, 1_048_576);
    assert.equal(channel.length, 0);
    assert.equal(channel.closed, false);
    assert.equal(channel.trySend(1), true);
    assert.equal(channel.length, 1);
    channel.close();
    assert.equal(channel.closed, true);
  });
});

describe('Channel unbuffered', () => {
  it('Channel send waits for a receiver (rendezvous)', async () => {
    const channel = new Channel<string>();
    const sent = observe(channel.send('a'));
    await flush();
    assert.equal(sent.state, 'pending');
    assert.equal(channel.sendersWaiting, 1);
    assert.deepEqual(await channel.recv(), { value: 'a', ok: true });
    await flush();
    assert.equal(sent.state, 'fulfilled');
    assert.equal(channel.sendersWaiting, 0);
  });

  it('Channel recv waits for a sender and the send completes at once', async () => {
    const channel = new Channel<string>();
    const received = observe(channel.recv());
    await flush();
    assert.equal(received.state, 'pending');
    await channel.send('b');
    await flush();
    assert.deepEqual(received.value, { value: 'b', ok: true });
  });

  it('Channel serves waiting senders and receivers in FIFO order', async () => {
    const channel = new Channel<number>();
    const sends = [1, 2, 3].map((value) => channel.send(value));
    assert.deepEqual(
      [await channel.recv(), await channel.recv(), await channel.recv()].map((result) => result.value),
      [1, 2, 3],
    );
    await Promise.all(sends);
    const receives = [channel.recv(), channel.recv()];
    channel.trySend(10);
    channel.trySend(20);
    assert.deepEqual(
      (await Promise.all(receives)).map((result) => result.value),
      [10, 20],
    );
  });

  it('Channel trySend returns false with no receiver and true with one', async () => {
    const channel = new Channel<number>();
    assert.equal(channel.trySend(1), false);
    const received = channel.recv();
    assert.equal(channel.trySend(2), true);
    assert.deepEqual(await received, { value: 2, ok: true });
  });

  it('Channel tryRecv returns undefined with no sender and takes from a waiting sender', async () => {
    const channel = new Channel<number>();
    assert.equal(channel.tryRecv(), undefined);
    const sent = channel.send(7);
    assert.deepEqual(channel.tryRecv(), { value: 7, ok: true });
    await sent;
  });
});

describe('Channel buffered', () => {
  it('Channel send completes at once while the buffer has room, with one shared promise', async () => {
    const channel = new Channel<number>(2);
    const first = channel.send(1);
    const second = channel.send(2);
    assert.equal(first, second, 'the synchronous fast path returns one pre-resolved promise');
    await first;
    assert.equal(channel.length, 2);
    const third = observe(channel.send(3));
    await flush();
    assert.equal(third.state, 'pending');
  });

  it('Channel recv from a full buffer moves the oldest waiting sender into the buffer', async () => {
    const channel = new Channel<number>(2);
    await channel.send(1);
    await channel.send(2);
    const third = observe(channel.send(3));
    const fourth = observe(channel.send(4));
    assert.deepEqual(await channel.recv(), { value: 1, ok: true });
    await flush();
    assert.equal(third.state, 'fulfilled');
    assert.equal(fourth.state, 'pending');
    assert.equal(channel.length, 2);
    assert.equal(channel.sendersWaiting, 1);
    const values: number[] = [];
    for (let i = 0; i < 3; i++) values.push((await channel.recv()).value as number);
    assert.deepEqual(values, [2, 3, 4]);
    await flush();
    assert.equal(fourth.state, 'fulfilled');
  });

  it('Channel keeps FIFO order across ring wrap-around and growth', () => {
    const channel = new Channel<number>(3000);
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 1500; i++) assert.equal(channel.trySend(next++), true);
      for (let i = 0; i < 1200; i++) assert.equal(channel.tryRecv()?.value, expected++);
    }
    while (channel.length > 0) assert.equal(channel.tryRecv()?.value, expected++);
    assert.equal(expected, next);
  });

  it('Channel trySend returns false when the buffer is full', () => {
    const channel = new Channel<number>(1);
    assert.equal(channel.trySend(1), true);
    assert.equal(channel.trySend(2), false);
    assert.deepEqual(channel.tryRecv(), { value: 1, ok: true });
    assert.equal(channel.tryRecv(), undefined);
  });
});

describe('Channel close', () => {
  it('Channel close twice throws ChannelClosedError', () => {
    const channel = new Channel();
    channel.close();
    assert.throws(() => channel.close(), ChannelClosedError);
  });

  it('Channel send and trySend on a closed channel fail with ChannelClosedError', async () => {
    const channel = new Channel<number>(1);
    channel.close();
    await assert.rejects(channel.send(1), ChannelClosedError);
    assert.throws(() => channel.trySend(1), ChannelClosedError);
    assert.equal(channel.length, 0);
  });

  it('Channel close rejects pending senders and resolves pending receivers with ok false', async () => {
    const senders = new Channel<number>();
    const pendingSend = senders.send(1);
    senders.close();
    await assert.rejects(pendingSend, ChannelClosedError);
    assert.equal(senders.sendersWaiting, 0);

    const receivers = new Channel<number>();
    const pendingReceives = [receivers.recv(), receivers.recv()];
    receivers.close();
    assert.deepEqual(await Promise.all(pendingReceives), [
      { value: undefined, ok: false },
      { value: undefined, ok: false },
    ]);
  });

  it('Channel keeps buffered values receivable after close, then reports ok false', async () => {
    const channel = new Channel<number>(2);
    await channel.send(1);
    await channel.send(2);
    const blocked = channel.send(3);
    channel.close();
    await assert.rejects(blocked, ChannelClosedError);
    assert.deepEqual(await channel.recv(), { value: 1, ok: true });
    assert.deepEqual(channel.tryRecv(), { value: 2, ok: true });
    assert.deepEqual(await channel.recv(), { value: undefined, ok: false });
    assert.deepEqual(channel.tryRecv(), { value: undefined, ok: false });
  });
});

describe('Channel async iteration', () => {
  it('Channel for-await ranges until closed and drained', async () => {
    const channel = new Channel<number>(2);
    const producer = (async () => {
      for (let i = 0; i < 5; i++) await channel.send(i);
      channel.close();
    })();
    const seen: number[] = [];
    for await (const value of channel) seen.push(value);
    await producer;
    assert.deepEqual(seen, [0, 1, 2, 3, 4]);
  });

  it('Channel for-await break leaves the channel open and its values in place', async () => {
    const channel = new Channel<number>(3);
    for (const value of [1, 2, 3]) channel.trySend(value);
    for await (const value of channel) {
      assert.equal(value, 1);
      break;
    }
    assert.equal(channel.closed, false);
    assert.deepEqual(channel.tryRecv(), { value: 2, ok: true });
  });

  it('Channel iterator waits for a sender, then ends on close', async () => {
    const channel = new Channel<string>();
    const iterator = channel[Symbol.asyncIterator]();
    const next = iterator.next();
    await channel.send('x');
    assert.deepEqual(await next, { value: 'x', done: false });
    const last = iterator.next();
    channel.close();
    assert.deepEqual(await last, { value: undefined, done: true });
  });
});

describe('Channel abort', () => {
  it('Channel recv abort rejects with CancelledError carrying the reason and consumes nothing', async () => {
    const channel = new Channel<number>();
    const controller = new AbortController();
    const received = channel.recv({ signal: controller.signal });
    assert.equal(channel.receiversWaiting, 1);
    controller.abort('stop');
    await assert.rejects(received, (error: unknown) => {
      assert.ok(error instanceof CancelledError);
      assert.equal(error.cause, 'stop');
      return true;
    });
    assert.equal(channel.receiversWaiting, 0);
    assert.equal(channel.trySend(1), false, 'no dead receiver may take the value');
  });

  it('Channel send abort rejects with CancelledError and sends nothing', async () => {
    const channel = new Channel<number>(1);
    await channel.send(1);
    const controller = new AbortController();
    const sent = channel.send(2, { signal: controller.signal });
    const reason = new Error('deadline');
    controller.abort(reason);
    await assert.rejects(sent, (error: unknown) => error instanceof CancelledError && error.cause === reason);
    assert.equal(channel.sendersWaiting, 0);
    assert.deepEqual(channel.tryRecv(), { value: 1, ok: true });
    assert.equal(channel.tryRecv(), undefined, 'the aborted value never arrives');
  });

  it('Channel abort of a middle sender keeps the others in order', async () => {
    const channel = new Channel<number>();
    const controller = new AbortController();
    const first = channel.send(1);
    const middle = channel.send(2, { signal: controller.signal });
    const last = channel.send(3);
    controller.abort();
    await assert.rejects(middle, CancelledError);
    assert.deepEqual(
      [channel.tryRecv()?.value, channel.tryRecv()?.value, channel.tryRecv()],
      [1, 3, undefined],
    );
    await Promise.all([first, last]);
  });

  it('Channel with an already-aborted signal rejects at once without side effects', async () => {
    const channel = new Channel<number>(1);
    const signal = AbortSignal.abort('early');
    await assert.rejects(channel.send(1, { signal }), CancelledError);
    assert.equal(channel.length, 0, 'the send must not have buffered its value');
    channel.trySend(5);
    await assert.rejects(channel.recv({ signal }), CancelledError);
    assert.equal(channel.length, 1, 'the receive must not have consumed the value');
  });

  it('Channel removes its abort listener once the call completes', async () => {
    const channel = new Channel<number>();
    const controller = new AbortController();
    const received = channel.recv({ signal: controller.signal });
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
    channel.trySend(1);
    await received;
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  });
});

describe('Channel waitersMax', () => {
  it('Channel rejects a blocked call beyond waitersMax with LimitExceededError', async () => {
    const channel = new Channel<number>(0, { waitersMax: 2 });
    const receives = [channel.recv(), channel.recv()];
    await assert.rejects(channel.recv(), LimitExceededError);
    assert.equal(channel.receiversWaiting, 2);
    channel.trySend(1);
    channel.trySend(2);
    await Promise.all(receives);
    const sends = [channel.send(1), channel.send(2)];
    await assert.rejects(channel.send(3), LimitExceededError);
    assert.deepEqual([channel.tryRecv()?.value, channel.tryRecv()?.value], [1, 2]);
    await Promise.all(sends);
  });
});
