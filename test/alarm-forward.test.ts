/**
 * A member whose disk fills up (ENOSPC on its WAL sync) keeps serving
 * reads: serializable ones from its own state, linearizable ones by asking
 * the other members, which confirm them with the cluster. Three members in
 * this process, on loopback RPC, with memory stores whose sync can be made
 * to fail like a full disk.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { NoSpaceError } from '../src/base/errors.ts';
import { getCommand, putCommand } from '../src/cli/client-commands.ts';
import { type InProcessCluster, startInProcessCluster, until } from './helpers/in-process-cluster.ts';

const started: InProcessCluster[] = [];
after(async () => {
  for (const cluster of started) await cluster.stop();
});

async function startCluster(size: number): Promise<InProcessCluster['members']> {
  const cluster = await startInProcessCluster(size);
  started.push(cluster);
  return cluster.members;
}

describe('a member whose disk is full', { timeout: 60_000 }, () => {
  it('refuses writes, serves serializable reads itself and linearizable reads through the others', async () => {
    const cluster = await startCluster(3);
    const endpoints = cluster.map((m) => m.client);
    await putCommand(endpoints, 'before', 'one');
    await until(() => cluster.every((m) => m.node.status().applied >= 1), 'every member applied');
    const follower = cluster.find((m) => m.node.status().role !== 'leader' && m.node.status().leaderId !== 0);
    assert.ok(follower !== undefined, 'a follower that knows the leader');
    const others = cluster.filter((m) => m !== follower).map((m) => m.client);
    await until(
      async () => (await getCommand([follower.client], 'before', true)).value === 'one',
      'replicated',
    );

    follower.fillDisk();
    await putCommand(others, 'during', 'two'); // the follower's next sync fails
    await until(() => follower.node.alarms.has('NOSPACE'), 'the NOSPACE alarm');

    // Writes are refused on the full member, with nothing changed.
    await assert.rejects(putCommand([follower.client], 'refused', 'x'), NoSpaceError);
    // Serializable: its own (stale but consistent) state.
    assert.equal((await getCommand([follower.client], 'before', true)).value, 'one');
    assert.equal((await getCommand([follower.client], 'during', true)).value, null);
    // Linearizable: asked of the others, so it sees the write this member never applied.
    const read = await getCommand([follower.client], 'during', false);
    assert.equal(read.value, 'two');
    assert.ok(read.revision > follower.node.status().revision, 'answered at a revision past its own');
  });
});
