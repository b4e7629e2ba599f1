/**
 * The keep-alives a leader takes in one turn go through the log as one
 * entry, and each is answered as if alone: its lease's full TTL, or
 * LEASE_NOT_FOUND for a lease that does not exist; those taken while a
 * batch is in flight wait for it, and go together. Three members in this
 * process, on loopback RPC.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../src/base/errors.ts';
import { leaderOf, startInProcessCluster } from './helpers/in-process-cluster.ts';

describe('keep-alives at the leader', { timeout: 60_000 }, () => {
  it('share one log entry per turn, and each gets its own answer', async (t) => {
    const cluster = await startInProcessCluster(3);
    t.after(() => cluster.stop());
    const leader = await leaderOf(cluster);
    const ids = [101, 102, 103, 104, 105, 106, 107, 108];
    for (const [i, id] of ids.entries()) await leader.node.leaseGrant(10 + i, id);
    const missing = 999;

    const before = leader.node.status().commit;
    const answers = await Promise.allSettled(
      [...ids, missing, ...ids].map((id) => leader.node.leaseKeepAlive(id)),
    );
    const entries = leader.node.status().commit - before;

    answers.forEach((answer, i) => {
      const id = [...ids, missing, ...ids][i] as number;
      if (id === missing) {
        assert.equal(answer.status, 'rejected');
        const error = (answer as PromiseRejectedResult).reason as InvalidArgumentError;
        assert.ok(error instanceof InvalidArgumentError);
        assert.equal(error.details?.['reason'], 'LEASE_NOT_FOUND');
        return;
      }
      assert.equal(answer.status, 'fulfilled', `keep-alive of ${id}`);
      const response = (answer as PromiseFulfilledResult<{ id: number; ttl: number }>).value;
      assert.deepEqual([response.id, response.ttl], [id, 10 + ids.indexOf(id)]);
    });
    // 17 keep-alives; a checkpoint the lessor proposed meanwhile may commit too.
    assert.ok(entries >= 1 && entries <= 2, `${entries} entries for 17 keep-alives`);
  });

  it('taken while a batch is in flight, wait for it and go together', async (t) => {
    const cluster = await startInProcessCluster(3);
    t.after(() => cluster.stop());
    const leader = await leaderOf(cluster);
    const ids = [201, 202, 203, 204];
    for (const id of ids) await leader.node.leaseGrant(10, id);
    const proposals = async (): Promise<number> =>
      (await leader.node.metrics.proposals.get()).values[0]?.value ?? 0;
    const turns = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
    };

    // No follower finishes a sync: the first batch cannot commit (briefly: check-quorum allows 100 ms).
    const releases = cluster.members.filter((m) => m !== leader).map((m) => m.holdSyncs());
    const before = { commit: leader.node.status().commit, proposals: await proposals() };
    const answers = [leader.node.leaseKeepAlive(201)];
    for (let i = 0; i < 1000 && (await proposals()) === before.proposals; i++) await turns(1);
    assert.equal((await proposals()) - before.proposals, 1, 'the first batch proposed');
    // The others one per turn of the Raft loop (a Ready of memory stores takes a few turns).
    for (const id of ids.slice(1)) {
      answers.push(leader.node.leaseKeepAlive(id));
      await turns(20);
    }
    const proposedWhileInFlight = (await proposals()) - before.proposals;
    for (const release of releases) release();

    const responses = await Promise.all(answers);
    assert.deepEqual(
      responses.map((r) => [r.id, r.ttl]),
      ids.map((id) => [id, 10]),
    );
    assert.equal(proposedWhileInFlight, 1, 'keep-alives proposed while the first batch was in flight');
    // The first batch, then the other three together; a lessor checkpoint may commit too.
    const entries = leader.node.status().commit - before.commit;
    assert.ok(entries >= 2 && entries <= 3, `${entries} entries for 4 keep-alives`);
  });
});
