import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../base/errors.ts';
import { LeaseClock } from './lease-clock.ts';

describe('LeaseClock', () => {
  it('follows the caller’s clock and stands still through a gap past the threshold', () => {
    const clock = new LeaseClock(5000);
    assert.equal(clock.advance('tick', 100, true), 100);
    assert.equal(clock.advance('tick', 5100, true), 5100);
    assert.equal(clock.advance('tick', 65_100, true), 5100);
    assert.equal(clock.stallsMs, 60_000);
    assert.equal(clock.advance('tick', 65_200, true), 5200);
  });

  it('counts no stall when told not to (a follower)', () => {
    const clock = new LeaseClock(5000);
    clock.advance('tick', 0, false);
    assert.equal(clock.advance('tick', 60_000, false), 60_000);
    assert.equal(clock.stallsMs, 0);
  });

  it('refuses a time before the last reading, or not a finite number >= 0, naming the action', () => {
    const clock = new LeaseClock(5000);
    clock.advance('tick', 1000, true);
    assert.throws(
      () => clock.advance('renew lease 3', 999, true),
      /^InvalidArgumentError: Cannot renew lease 3: nowMs 999/,
    );
    assert.throws(() => clock.advance('tick', Number.POSITIVE_INFINITY, true), InvalidArgumentError);
    assert.throws(() => clock.advance('tick', -1, true), InvalidArgumentError);
    assert.equal(clock.advance('tick', 1000, true), 1000);
  });
});
