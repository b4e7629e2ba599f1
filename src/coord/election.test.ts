/**
 * Elections against a real one-member cluster (a `tessera start` process,
 * killed by PID).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoordCluster, settledWithin } from '../../test/helpers/coord.ts';
import { ElectionNoLeaderError, ElectionNotLeaderError, SessionExpiredError } from '../base/errors.ts';
import { text } from '../client/index.ts';
import { Election, type Leader } from './election.ts';

let coord: CoordCluster;

/** Collects what an observer yields until `count` leaders were seen. */
async function observed(name: string, count: number, signal: AbortSignal): Promise<Leader[]> {
  const seen: Leader[] = [];
  for await (const leader of Election.observe(coord.client, name, { signal })) {
    seen.push(leader);
    if (seen.length === count) break;
  }
  return seen;
}

describe('Election on a cluster', { timeout: 60_000 }, () => {
  before(async () => {
    coord = await CoordCluster.start();
  });
  after(() => coord?.close());

  it('one leader at a time, in campaign order; proclaim and resign; observers see every change in order', async () => {
    await assert.rejects(Election.leader(coord.client, 'e1'), ElectionNoLeaderError);
    const stop = new AbortController();
    const watching = observed('e1', 4, stop.signal);
    const [a, b] = [new Election(await coord.session(), 'e1'), new Election(await coord.session(), 'e1')];
    const leadA = await a.campaign('a');
    const campaignB = b.campaign('b');
    assert.equal(await settledWithin(campaignB, 300), 'pending');
    assert.equal(text((await Election.leader(coord.client, 'e1')).value), 'a');
    await a.proclaim('a2');
    assert.equal(text((await b.leader()).value), 'a2');
    await assert.rejects(b.proclaim('b?'), ElectionNotLeaderError);
    await a.resign();
    const leadB = await campaignB;
    assert.ok(leadB.revision > leadA.revision);
    await b.proclaim('b2');
    const seen = await watching;
    stop.abort();
    assert.deepEqual(
      seen.map((leader) => text(leader.value)),
      ['a', 'a2', 'b', 'b2'],
    );
    await b.resign();
    await assert.rejects(Election.leader(coord.client, 'e1'), ElectionNoLeaderError);
  });

  it('a leader whose session is lost is succeeded by the next candidate; it can no longer proclaim', async () => {
    const doomed = await coord.session(3);
    const a = new Election(doomed, 'e2');
    const b = new Election(await coord.session(), 'e2');
    await a.campaign('a');
    const campaignB = b.campaign('b');
    await coord.client.lease.revoke(doomed.lease);
    await campaignB;
    assert.equal(text((await Election.leader(coord.client, 'e2')).value), 'b');
    await assert.rejects(a.proclaim('a again'), ElectionNotLeaderError);
    await doomed.done;
    await assert.rejects(a.campaign('a'), SessionExpiredError);
    await b.resign();
  });

  it('an observer joining with no leader waits for the first, and a second campaign keeps its place with a new proposal', async () => {
    const stop = new AbortController();
    const watching = observed('e3', 2, stop.signal);
    const a = new Election(await coord.session(), 'e3');
    await a.campaign('first');
    const again = await a.campaign('second');
    const seen = await watching;
    stop.abort();
    assert.deepEqual(
      seen.map((leader) => [text(leader.value), leader.createRevision]),
      [
        ['first', again.revision],
        ['second', again.revision],
      ],
    );
    await a.resign();
  });
});
