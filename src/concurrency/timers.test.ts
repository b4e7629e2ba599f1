import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../base/clock.ts';
import { Channel } from './channel.ts';
import { recvCase, select } from './select.ts';
import { flush, observe } from './testdata/observe.ts';
import { after, Ticker, tick } from './timers.ts';

describe('after', () => {
  it('after sends the clock time once, when the delay has passed and not before', async () => {
    const clock = new ManualClock(100);
    const channel = after(50, { clock });
    assert.equal(channel.capacity, 1);
    clock.advance(49);
    assert.equal(channel.tryRecv(), undefined);
    clock.advance(1);
    assert.deepEqual(channel.tryRecv(), { value: 150, ok: true });
    clock.advance(1000);
    assert.equal(channel.tryRecv(), undefined, 'it fires only once');
    assert.equal(channel.closed, false);
  });

  it('after wakes a waiting receiver', async () => {
    const clock = new ManualClock();
    const received = observe(after(10, { clock }).recv());
    await flush();
    assert.equal(received.state, 'pending');
    clock.advance(10);
    await flush();
    assert.deepEqual(received.value, { value: 10, ok: true });
  });

  it('after works as a select timeout', async () => {
    const clock = new ManualClock();
    const replies = new Channel<string>();
    const chosen = select([recvCase(replies), recvCase(after(5, { clock }))]);
    clock.advance(5);
    assert.deepEqual(await chosen, { index: 1, value: 5, ok: true });
    assert.equal(replies.receiversWaiting, 0);
  });

  it('after with a signal that aborts cancels the timer and sends nothing', () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const channel = after(10, { clock, signal: controller.signal });
    assert.equal(clock.pendingTimers, 1);
    controller.abort();
    assert.equal(clock.pendingTimers, 0);
    clock.advance(20);
    assert.equal(channel.tryRecv(), undefined);
    const never = after(10, { clock, signal: controller.signal });
    assert.equal(clock.pendingTimers, 0, 'an already-aborted signal sets no timer');
    assert.equal(never.tryRecv(), undefined);
  });

  it('after rejects a negative or non-finite delay with RangeError', () => {
    for (const ms of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => after(ms, { clock: new ManualClock() }), RangeError);
    }
    const clock = new ManualClock();
    const zero = after(0, { clock });
    clock.advance(0);
    assert.deepEqual(zero.tryRecv(), { value: 0, ok: true });
  });
});

describe('tick', () => {
  it('tick sends the time at every interval on a fixed grid', () => {
    const clock = new ManualClock();
    const ticker = tick(10, { clock });
    assert.ok(ticker instanceof Ticker);
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      clock.advance(10);
      seen.push(ticker.channel.tryRecv()?.value as number);
    }
    clock.advance(7);
    assert.equal(ticker.channel.tryRecv(), undefined);
    clock.advance(3);
    seen.push(ticker.channel.tryRecv()?.value as number);
    assert.deepEqual(seen, [10, 20, 30, 40]);
    ticker.stop();
  });

  it('tick drops ticks while the reader is slow instead of queueing them', () => {
    const clock = new ManualClock();
    const ticker = tick(10, { clock });
    clock.advance(35);
    assert.deepEqual(ticker.channel.tryRecv(), { value: 10, ok: true });
    assert.equal(ticker.channel.tryRecv(), undefined, 'the ticks at 20 and 30 were dropped');
    clock.advance(5);
    assert.deepEqual(ticker.channel.tryRecv(), { value: 40, ok: true }, 'the grid kept its phase');
    ticker.stop();
  });

  it('Ticker stop ends the ticks and clears the timer', () => {
    const clock = new ManualClock();
    const ticker = tick(10, { clock });
    assert.equal(ticker.running, true);
    ticker.stop();
    ticker.stop();
    assert.equal(ticker.running, false);
    assert.equal(clock.pendingTimers, 0);
    clock.advance(100);
    assert.equal(ticker.channel.tryRecv(), undefined);
  });

  it('tick stops when its signal aborts', () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const ticker = tick(10, { clock, signal: controller.signal });
    clock.advance(10);
    assert.equal(ticker.channel.tryRecv()?.value, 10);
    controller.abort();
    assert.equal(ticker.running, false);
    clock.advance(100);
    assert.equal(ticker.channel.tryRecv(), undefined);
  });

  it('tick rejects a zero, negative or non-finite interval with RangeError', () => {
    for (const ms of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => tick(ms, { clock: new ManualClock() }), RangeError);
    }
  });
});
