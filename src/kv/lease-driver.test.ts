import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeaseDriver } from './lease-driver.ts';

const leader = (term: number) => ({ role: 'leader', term });
const follower = (term: number) => ({ role: 'follower', term });

describe('LeaseDriver', () => {
  it('promotes the lessor only at the empty entry of its own term, and demotes it once the member stops leading that term', () => {
    const driver = new LeaseDriver({ promoteExtendMs: 1000 }, 0);
    driver.mirror({ type: 'granted', id: 1, ttl: 5 }, 0);
    // An empty entry of an earlier term, or applied as a follower, promotes nothing.
    driver.appliedEmpty(1, leader(2), 10);
    driver.appliedEmpty(2, follower(2), 10);
    assert.equal(driver.leading(leader(2)), undefined);
    driver.appliedEmpty(2, leader(2), 100);
    assert.equal(driver.leading(leader(2)), driver.lessor);
    // Deadline: promotion time + remaining TTL + extension.
    assert.equal(driver.lessor.expiresAtMs(1), 100 + 5000 + 1000);
    // Ticks at least every few seconds (a longer gap is a stall, and deadlines move past it).
    assert.deepEqual(driver.due(leader(2), 3000), { revokes: [], checkpoints: [] });
    assert.deepEqual(driver.due(leader(2), 6099), { revokes: [], checkpoints: [] });
    assert.deepEqual(driver.due(leader(2), 6100).revokes, [1]);
    // A new term (even as leader again) demotes until its own empty entry applies.
    assert.equal(driver.leading(leader(3)), undefined);
    assert.equal(driver.lessor.leading, false);
    assert.deepEqual(driver.due(leader(3), 20_000), { revokes: [], checkpoints: [] });
  });

  it('a follower never decides an expiry; under the test bug every lessor does', () => {
    const honest = new LeaseDriver({ promoteExtendMs: 0 }, 0);
    const buggy = new LeaseDriver({ promoteExtendMs: 0, alwaysLead: true }, 0);
    for (const driver of [honest, buggy]) driver.mirror({ type: 'granted', id: 7, ttl: 2 }, 0);
    assert.deepEqual(honest.due(follower(1), 60_000).revokes, []);
    assert.deepEqual(buggy.due(follower(1), 2000).revokes, [7]);
  });

  it('mirrors revokes and checkpoints; a reset replaces the leases', () => {
    const driver = new LeaseDriver({ promoteExtendMs: 0 }, 0);
    driver.mirror({ type: 'granted', id: 1, ttl: 10 }, 0);
    driver.mirror({ type: 'granted', id: 2, ttl: 10 }, 0);
    driver.mirror({ type: 'checkpointed', id: 1, remainingTtl: 3 }, 0);
    driver.mirror({ type: 'revoked', id: 2 }, 0);
    driver.appliedEmpty(4, leader(4), 1000);
    assert.equal(driver.lessor.size, 1);
    assert.equal(driver.lessor.expiresAtMs(1), 1000 + 3000, 'promoted from the checkpointed TTL');
    driver.reset([{ id: 9, grantedTtl: 4, remainingTtl: 4 }], 2000);
    assert.equal(driver.lessor.size, 1);
    assert.equal(driver.lessor.expiresAtMs(9), 2000 + 4000);
  });

  it('gates keep-alives: renews on the promoted leader, waits on one not yet promoted or a lease expiring, refuses on a follower', () => {
    const driver = new LeaseDriver({ promoteExtendMs: 0 }, 0);
    driver.mirror({ type: 'granted', id: 1, ttl: 5 }, 0);
    assert.equal(driver.beforeKeepAlive(follower(1), 1, 0), 'not leader');
    assert.equal(driver.beforeKeepAlive(leader(1), 1, 0), 'wait');
    driver.appliedEmpty(1, leader(1), 0);
    assert.equal(driver.beforeKeepAlive(leader(1), 1, 4000), 'renewed');
    assert.equal(driver.lessor.expiresAtMs(1), 9000, 'renewed from the call');
    assert.equal(driver.beforeKeepAlive(leader(1), 99, 4000), 'renewed', 'unknown: the log decides');
    assert.equal(driver.beforeKeepAlive(leader(1), 1, 9000), 'wait', 'expired: its revoke is under way');
  });
});
