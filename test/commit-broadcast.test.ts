/**
 * The leader tells the followers of a commit at once, in an append that
 * carries no entries, not only with its next heartbeat: its node hands
 * that broadcast over after the answers the commit brings (so the answers
 * are written first), and it must still go. Three members in this process,
 * on loopback RPC; what each follower steps is recorded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KvCommand } from '../src/kv/kv-command.ts';
import { type Message, MessageType } from '../src/raft/types.ts';
import { leaderOf, startInProcessCluster, until } from './helpers/in-process-cluster.ts';

const put = (key: string, value: string): KvCommand => ({
  type: 'put',
  request: { key: new TextEncoder().encode(key), value: new TextEncoder().encode(value) },
});

describe('the commit broadcast', { timeout: 60_000 }, () => {
  it('reaches every follower as an empty append carrying the new commit index', async (t) => {
    const cluster = await startInProcessCluster(3);
    t.after(() => cluster.stop());
    const { members } = cluster;
    const leader = await leaderOf(cluster);
    const followers = members.filter((m) => m !== leader);
    await until(
      () => followers.every((m) => m.node.status().applied === leader.node.status().applied),
      'the followers caught up',
    );

    const stepped = new Map(followers.map((m) => [m, [] as Message[]]));
    for (const follower of followers) {
      const step = follower.node.stepMessages.bind(follower.node);
      follower.node.stepMessages = (from, address, messages) => {
        stepped.get(follower)?.push(...messages);
        step(from, address, messages);
      };
    }
    for (let i = 0; i < 5; i++) {
      const { index } = await leader.node.write(put(`key${i}`, `value${i}`));
      for (const follower of followers) {
        await until(() => follower.node.status().applied >= index, `follower applied ${index}`);
        const broadcast = stepped
          .get(follower)
          ?.find((m) => m.type === MessageType.append && m.entries.length === 0 && m.commit >= index);
        assert.ok(broadcast !== undefined, `an empty append committing ${index} reached the follower`);
      }
    }
  });
});
