import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DeadlineQueue } from './deadline-queue.ts';

describe('DeadlineQueue', () => {
  it('due lists ids at or before now, earliest first then by id, at most max, and keeps them', () => {
    const queue = new DeadlineQueue();
    queue.schedule(9, 300);
    queue.schedule(2, 100);
    queue.schedule(5, 100);
    queue.schedule(1, 200);
    assert.deepEqual(queue.due(99, 10), []);
    assert.deepEqual(queue.due(200, 10), [2, 5, 1]);
    assert.deepEqual(queue.due(1000, 2), [2, 5]);
    assert.deepEqual(queue.due(1000, 0), []);
    assert.equal(queue.size, 4);
  });

  it('schedule replaces an id’s time and cancel removes it, leaving one entry per id', () => {
    const queue = new DeadlineQueue();
    queue.schedule(1, 100);
    queue.schedule(1, 500);
    assert.equal(queue.at(1), 500);
    assert.deepEqual(queue.due(400, 10), []);
    assert.deepEqual(queue.entries(), [[1, 500]]);
    queue.cancel(1);
    queue.cancel(1);
    assert.equal(queue.size, 0);
    assert.equal(queue.at(1), undefined);
    queue.checkInvariants();
  });

  it('agrees with a sorted list under random schedules and cancels (property)', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('schedule' as const),
        id: fc.integer({ min: 1, max: 20 }),
        at: fc.nat(50),
      }),
      fc.record({ kind: fc.constant('cancel' as const), id: fc.integer({ min: 1, max: 20 }) }),
      fc.record({ kind: fc.constant('due' as const), now: fc.nat(60), max: fc.nat(8) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const queue = new DeadlineQueue();
        const model = new Map<number, number>();
        for (const step of ops) {
          if (step.kind === 'schedule') {
            queue.schedule(step.id, step.at);
            model.set(step.id, step.at);
          } else if (step.kind === 'cancel') {
            queue.cancel(step.id);
            model.delete(step.id);
          } else {
            const expected = [...model]
              .filter(([, at]) => at <= step.now)
              .sort((a, b) => a[1] - b[1] || a[0] - b[0])
              .slice(0, step.max)
              .map(([id]) => id);
            assert.deepEqual(queue.due(step.now, step.max), expected);
          }
          queue.checkInvariants();
          assert.equal(queue.size, model.size);
        }
      }),
      { numRuns: 150 },
    );
  });
});
