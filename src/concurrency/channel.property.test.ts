import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CancelledError } from '../base/errors.ts';
import { Channel } from './channel.ts';

const CONSUMER_ITERATIONS_MAX = 1_000;

// A seeded schedule of producers and consumers, some of whose calls abort at random points.
describe('Channel properties', () => {
  it('Channel loses, duplicates and reorders nothing per sender, with aborts, buffered and not', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 6 }),
        fc.infiniteStream(fc.boolean()),
        async (scheduler, capacity, producerCount, consumerCount, valuesPerProducer, abortFlags) => {
          const channel = new Channel<readonly [number, number]>(capacity);
          const flags = abortFlags[Symbol.iterator]();
          const shouldAbort = (): boolean => flags.next().value === true && flags.next().value === true;
          const step = (): Promise<void> => scheduler.schedule(Promise.resolve());
          const delivered = new Set<string>();
          const cancelled = new Set<string>();
          const receivedLog: (readonly [number, number])[] = [];
          let sendsCompleted = 0;
          let receivesIssued = 0;

          // Go's memory model: the k-th receive happens before the (k + capacity)-th send completes.
          const checkHappensBefore = (): void => {
            assert.ok(
              sendsCompleted <= receivesIssued + capacity,
              `send completed without a matching receive: ${sendsCompleted} sends, ${receivesIssued} receives`,
            );
          };

          const producer = async (id: number): Promise<void> => {
            for (let i = 0; i < valuesPerProducer; i++) {
              await step();
              const key = `${id}:${i}`;
              if (!shouldAbort()) {
                await channel.send([id, i]);
                sendsCompleted++;
                checkHappensBefore();
                delivered.add(key);
                continue;
              }
              const controller = new AbortController();
              step().then(() => controller.abort());
              try {
                await channel.send([id, i], { signal: controller.signal });
                sendsCompleted++;
                checkHappensBefore();
                delivered.add(key);
              } catch (error) {
                assert.ok(error instanceof CancelledError);
                cancelled.add(key);
              }
            }
          };

          const consumer = async (): Promise<void> => {
            // Bounded, so that a bug (or a shrunk schedule that aborts every call) fails instead of spinning.
            for (let iteration = 0; ; iteration++) {
              assert.ok(iteration < CONSUMER_ITERATIONS_MAX, 'consumer never saw the channel close');
              await step();
              const controller = shouldAbort() ? new AbortController() : undefined;
              if (controller !== undefined) step().then(() => controller.abort());
              receivesIssued++;
              let result: Awaited<ReturnType<typeof channel.recv>>;
              try {
                result = await channel.recv({ signal: controller?.signal });
              } catch (error) {
                assert.ok(error instanceof CancelledError);
                receivesIssued--;
                continue;
              }
              if (!result.ok) return;
              receivedLog.push(result.value);
            }
          };

          const producers = Array.from({ length: producerCount }, (_, id) => producer(id));
          const consumers = Array.from({ length: consumerCount }, () => consumer());
          const closer = Promise.all(producers).then(() => channel.close());
          await scheduler.waitFor(Promise.all([closer, ...consumers]));

          const received = new Set(receivedLog.map(([id, i]) => `${id}:${i}`));
          assert.equal(received.size, receivedLog.length, 'a value was received twice');
          assert.deepEqual(
            [...received].sort(),
            [...delivered].sort(),
            'received values differ from delivered ones',
          );
          for (const key of cancelled) assert.ok(!received.has(key), `cancelled send ${key} was received`);
          const lastSeen = new Map<number, number>();
          for (const [id, i] of receivedLog) {
            assert.ok((lastSeen.get(id) ?? -1) < i, `values of sender ${id} were reordered`);
            lastSeen.set(id, i);
          }
          assert.equal(channel.length, 0);
          assert.equal(
            channel.sendersWaiting + channel.receiversWaiting,
            0,
            'a dead waiter was left in a queue',
          );
        },
      ),
      { numRuns: 150 },
    );
  });
});
