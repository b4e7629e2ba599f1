import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CancelledError, ChannelClosedError, LimitExceededError } from '../base/errors.ts';
import { type Random, SeededRandom } from '../base/random.ts';
import { Channel } from './channel.ts';
import { recvCase, type SelectCase, select, sendCase, trySelect } from './select.ts';
import { flush, observe } from './testdata/observe.ts';

// A Random that always answers `pick` and records the bounds it was asked for.
function fixedRandom(pick: number): Random & { bounds: number[] } {
  const bounds: number[] = [];
  return {
    bounds,
    next: () => 0,
    int: (bound) => {
      bounds.push(bound);
      return pick;
    },
  };
}

describe('select ready cases', () => {
  it('select completes a ready receive case with its index, value and ok', async () => {
    const idle = new Channel<number>();
    const ready = new Channel<string>(1);
    ready.trySend('hello');
    const result = await select([recvCase(idle), recvCase(ready)]);
    assert.deepEqual(result, { index: 1, value: 'hello', ok: true });
    assert.equal(idle.receiversWaiting, 0);
  });

  it('select completes a ready send case with its index', async () => {
    const full = new Channel<number>(0);
    const room = new Channel<number>(1);
    const result = await select([sendCase(full, 1), sendCase(room, 2)]);
    assert.deepEqual(result, { index: 1 });
    assert.deepEqual(room.tryRecv(), { value: 2, ok: true });
    assert.equal(full.sendersWaiting, 0);
  });

  it('select picks among ready cases with the injected Random and consumes only the winner', async () => {
    const a = new Channel<string>(1);
    const b = new Channel<string>(1);
    const c = new Channel<string>(1);
    a.trySend('a');
    c.trySend('c');
    const random = fixedRandom(1);
    const result = await select([recvCase(a), recvCase(b), recvCase(c)], { random });
    assert.deepEqual(random.bounds, [2], 'the draw is over the ready cases only');
    assert.deepEqual(result, { index: 2, value: 'c', ok: true });
    assert.equal(a.length, 1, 'the losing ready case keeps its value');
  });

  it('select is uniform over ready cases under a seeded Random', async () => {
    const channels = [0, 1, 2].map(() => new Channel<number>(1));
    const random = new SeededRandom(7);
    const wins = [0, 0, 0];
    for (let i = 0; i < 3000; i++) {
      for (const channel of channels) if (channel.length === 0) channel.trySend(i);
      const result = await select(
        channels.map((channel) => recvCase(channel)),
        { random },
      );
      wins[result.index] = (wins[result.index] ?? 0) + 1;
    }
    for (const count of wins) assert.ok(count > 850 && count < 1150, `skewed choice: ${wins.join(', ')}`);
  });

  it('select receive case on a closed channel is ready with ok false', async () => {
    const closed = new Channel<number>();
    closed.close();
    assert.deepEqual(await select([recvCase(closed)]), { index: 0, value: undefined, ok: false });
  });

  it('select rejects with ChannelClosedError when a send case is on a closed channel, touching nothing', async () => {
    const closed = new Channel<number>();
    closed.close();
    const ready = new Channel<number>(1);
    ready.trySend(1);
    await assert.rejects(select([recvCase(ready), sendCase(closed, 2)]), ChannelClosedError);
    assert.equal(ready.length, 1);
  });

  it('select types its result by case index', async () => {
    const numbers = new Channel<number>(1);
    const words = new Channel<string>(1);
    words.trySend('w');
    const result = await select([recvCase(numbers), recvCase(words), sendCase(numbers, 3)], {
      random: fixedRandom(0),
    });
    if (result.index === 1 && result.ok) {
      const word: string = result.value;
      assert.equal(word, 'w');
    } else {
      assert.fail(`expected case 1, got ${JSON.stringify(result)}`);
    }
  });
});

describe('select waiting', () => {
  it('select waits for a receive and unlinks its other cases when one wins', async () => {
    const a = new Channel<number>();
    const b = new Channel<number>();
    const c = new Channel<number>(1);
    c.trySend(0);
    const pending = observe(select([recvCase(a), recvCase(b), sendCase(c, 9)]));
    await flush();
    assert.equal(pending.state, 'pending');
    assert.deepEqual([a.receiversWaiting, b.receiversWaiting, c.sendersWaiting], [1, 1, 1]);
    await b.send(5);
    await flush();
    assert.deepEqual(pending.value, { index: 1, value: 5, ok: true });
    assert.deepEqual([a.receiversWaiting, b.receiversWaiting, c.sendersWaiting], [0, 0, 0]);
    assert.equal(a.trySend(1), false, 'the losing receive case took nothing');
    assert.deepEqual(
      [c.tryRecv(), c.tryRecv()],
      [{ value: 0, ok: true }, undefined],
      'the losing send sent nothing',
    );
  });

  it('select waits for a send case to find a receiver', async () => {
    const out = new Channel<string>();
    const other = new Channel<string>();
    const pending = select([recvCase(other), sendCase(out, 'v')]);
    assert.deepEqual(await out.recv(), { value: 'v', ok: true });
    assert.deepEqual(await pending, { index: 1 });
    assert.equal(other.receiversWaiting, 0);
  });

  it('select send case moves into a buffer when a receiver frees a slot', async () => {
    const channel = new Channel<number>(1);
    channel.trySend(1);
    const pending = select([sendCase(channel, 2)]);
    assert.deepEqual(channel.tryRecv(), { value: 1, ok: true });
    assert.deepEqual(await pending, { index: 0 });
    assert.deepEqual(channel.tryRecv(), { value: 2, ok: true });
  });

  it('select with a send and a receive on one unbuffered channel never matches itself', async () => {
    const channel = new Channel<number>();
    const pending = observe(select([sendCase(channel, 1), recvCase(channel)]));
    await flush();
    assert.equal(pending.state, 'pending');
    assert.deepEqual(await channel.recv(), { value: 1, ok: true });
    await flush();
    assert.deepEqual(pending.value, { index: 0 });
    assert.deepEqual([channel.sendersWaiting, channel.receiversWaiting], [0, 0]);

    const again = select([sendCase(channel, 2), recvCase(channel)]);
    await channel.send(3);
    assert.deepEqual(await again, { index: 1, value: 3, ok: true });
    assert.deepEqual([channel.sendersWaiting, channel.receiversWaiting], [0, 0]);
  });

  it('select waiting receive case wakes with ok false when its channel closes', async () => {
    const channel = new Channel<number>();
    const other = new Channel<number>();
    const pending = select([recvCase(other), recvCase(channel)]);
    channel.close();
    assert.deepEqual(await pending, { index: 1, value: undefined, ok: false });
    assert.equal(other.receiversWaiting, 0);
  });

  it('select waiting send case rejects with ChannelClosedError when its channel closes', async () => {
    const channel = new Channel<number>();
    const other = new Channel<number>();
    const pending = select([recvCase(other), sendCase(channel, 1)]);
    channel.close();
    await assert.rejects(pending, ChannelClosedError);
    assert.equal(other.receiversWaiting, 0);
  });

  it('select in a loop on a channel that never fires leaves no waiters behind', async () => {
    const never = new Channel<number>();
    const work = new Channel<number>();
    const producer = (async () => {
      for (let i = 0; i < 1000; i++) await work.send(i);
    })();
    for (let i = 0; i < 1000; i++) {
      const result = await select([recvCase(never), recvCase(work)]);
      assert.equal(result.index, 1);
      assert.equal(never.receiversWaiting, 0);
    }
    await producer;
  });
});

describe('select default and trySelect', () => {
  it('select with default resolves index -1 when nothing is ready and leaves no waiter', async () => {
    const channel = new Channel<number>();
    assert.deepEqual(await select([recvCase(channel), sendCase(channel, 1)], { default: true }), {
      index: -1,
    });
    assert.deepEqual([channel.sendersWaiting, channel.receiversWaiting], [0, 0]);
  });

  it('select with default completes a ready case before it returns', () => {
    const channel = new Channel<number>(1);
    channel.trySend(4);
    const promise = select([recvCase(channel)], { default: true });
    assert.equal(channel.length, 0, 'the effect happened synchronously');
    return promise.then((result) => assert.deepEqual(result, { index: 0, value: 4, ok: true }));
  });

  it('trySelect returns synchronously and throws on a closed send case', () => {
    const channel = new Channel<number>(1);
    assert.deepEqual(trySelect([sendCase(channel, 1)]), { index: 0 });
    assert.deepEqual(trySelect([sendCase(channel, 2)]), { index: -1 });
    channel.close();
    assert.throws(() => trySelect([sendCase(channel, 3)]), ChannelClosedError);
    assert.deepEqual(trySelect([]), { index: -1 });
  });
});

describe('select abort, limits and validation', () => {
  it('select abort rejects with CancelledError and unlinks every case', async () => {
    const a = new Channel<number>();
    const b = new Channel<number>();
    const controller = new AbortController();
    const pending = select([recvCase(a), sendCase(b, 1)], { signal: controller.signal });
    controller.abort('bye');
    await assert.rejects(
      pending,
      (error: unknown) => error instanceof CancelledError && error.cause === 'bye',
    );
    assert.deepEqual([a.receiversWaiting, b.sendersWaiting], [0, 0]);
    assert.equal(b.tryRecv(), undefined, 'the cancelled send case sent nothing');
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  });

  it('select with an already-aborted signal rejects without consuming a ready case', async () => {
    const channel = new Channel<number>(1);
    channel.trySend(1);
    await assert.rejects(select([recvCase(channel)], { signal: AbortSignal.abort() }), CancelledError);
    assert.equal(channel.length, 1);
  });

  it('select removes its abort listener when a case wins', async () => {
    const channel = new Channel<number>();
    const controller = new AbortController();
    const pending = select([recvCase(channel)], { signal: controller.signal });
    channel.trySend(1);
    await pending;
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  });

  it('select with no cases waits for its signal, and without one is refused', async () => {
    await assert.rejects(select([]), RangeError);
    const controller = new AbortController();
    const pending = select([], { signal: controller.signal });
    controller.abort();
    await assert.rejects(pending, CancelledError);
  });

  it('select rejects beyond a channel waitersMax and leaves its earlier cases unlinked', async () => {
    const roomy = new Channel<number>();
    const tight = new Channel<number>(0, { waitersMax: 1 });
    const blocker = tight.recv();
    await assert.rejects(select([recvCase(roomy), recvCase(tight)]), LimitExceededError);
    assert.equal(roomy.receiversWaiting, 0);
    tight.trySend(0);
    await blocker;
  });

  it('select rejects malformed cases with TypeError', async () => {
    await assert.rejects(
      select([{ kind: 'peek', channel: new Channel() } as unknown as SelectCase]),
      TypeError,
    );
    await assert.rejects(select([{ kind: 'recv', channel: {} } as unknown as SelectCase]), TypeError);
  });

  it('select rejects a Random that answers out of range', async () => {
    const a = new Channel<number>(1);
    const b = new Channel<number>(1);
    a.trySend(1);
    b.trySend(2);
    await assert.rejects(select([recvCase(a), recvCase(b)], { random: fixedRandom(2) }), RangeError);
    assert.deepEqual([a.length, b.length], [1, 1]);
  });
});

const CONSUMER_ITERATIONS_MAX = 1_000;

describe('select properties', () => {
  it('select never consumes from a losing case: sent == received + buffered, per value', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 2, maxLength: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer(),
        fc.infiniteStream(fc.nat()),
        async (scheduler, capacities, producerCount, consumerCount, valuesPerProducer, seed, choices) => {
          const channels = capacities.map((capacity) => new Channel<string>(capacity));
          const random = new SeededRandom(seed);
          const choice = choices[Symbol.iterator]();
          const draw = (bound: number): number => (choice.next().value as number) % bound;
          const step = (): Promise<void> => scheduler.schedule(Promise.resolve());
          const sentOn = new Map<string, number>();
          const received = new Map<string, number>();
          let sentCount = 0;
          let receivedCount = 0;

          const producer = async (id: number): Promise<void> => {
            for (let i = 0; i < valuesPerProducer; i++) {
              await step();
              const value = `${id}:${i}`;
              // A random non-empty subset of channels offers the same value; at most one may take it.
              const offered = channels.filter(() => draw(2) === 0);
              if (offered.length === 0) offered.push(channels[draw(channels.length)] as Channel<string>);
              const controller = draw(4) === 0 ? new AbortController() : undefined;
              if (controller !== undefined) step().then(() => controller.abort());
              try {
                const result = await select(
                  offered.map((channel) => sendCase(channel, value)),
                  { signal: controller?.signal, random },
                );
                sentOn.set(value, channels.indexOf(offered[result.index] as Channel<string>));
                sentCount++;
              } catch (error) {
                assert.ok(error instanceof CancelledError);
              }
            }
          };

          let open = channels.slice();
          const consumer = async (): Promise<void> => {
            // Bounded, so that a bug (or a shrunk schedule that aborts every call) fails instead of spinning.
            for (let iteration = 0; ; iteration++) {
              assert.ok(iteration < CONSUMER_ITERATIONS_MAX, 'consumer never saw every channel close');
              await step();
              // Another consumer may have seen the last channel close while this one yielded.
              if (open.length === 0) return;
              const listening = open.slice();
              const controller = draw(4) === 0 ? new AbortController() : undefined;
              if (controller !== undefined) step().then(() => controller.abort());
              let result: Awaited<ReturnType<typeof select>>;
              try {
                result = await select(
                  listening.map((channel) => recvCase(channel)),
                  { signal: controller?.signal, random },
                );
              } catch (error) {
                assert.ok(error instanceof CancelledError);
                continue;
              }
              const channel = listening[result.index] as Channel<string>;
              if (!('ok' in result) || !result.ok) {
                open = open.filter((candidate) => candidate !== channel);
                continue;
              }
              const value = result.value as string;
              assert.ok(!received.has(value), `value ${value} received twice`);
              received.set(value, channels.indexOf(channel));
              receivedCount++;
            }
          };

          const producers = Array.from({ length: producerCount }, (_, id) => producer(id));
          const consumers = Array.from({ length: consumerCount }, () => consumer());
          const closer = Promise.all(producers).then(() => {
            for (const channel of channels) channel.close();
          });
          await scheduler.waitFor(Promise.all([closer, ...consumers]));

          const buffered = channels.reduce((sum, channel) => sum + channel.length, 0);
          assert.equal(sentCount, receivedCount + buffered, 'a losing case consumed or sent a value');
          for (const [value, index] of received) {
            assert.equal(sentOn.get(value), index, `value ${value} arrived on a channel it was not sent on`);
          }
          for (const channel of channels) {
            assert.equal(
              channel.sendersWaiting + channel.receiversWaiting,
              0,
              'a dead select waiter remained',
            );
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
