/**
 * A member whose disk fills up (ENOSPC on its WAL sync) keeps serving
 * reads: serializable ones from its own state, linearizable ones by asking
 * the other members, which confirm them with the cluster. Three members in
 * this process, on loopback RPC, with memory stores whose sync can be made
 * to fail like a full disk.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { NoSpaceError } from '../src/base/errors.ts';
import { RecordingLogger } from '../src/base/logger.ts';
import { getCommand, putCommand } from '../src/cli/client-commands.ts';
import { TesseraNode } from '../src/server/node.ts';
import { type Listeners, listenPeer, serveNode } from '../src/server/serve.ts';
import { LmdbState } from '../src/server/state.ts';
import { memoryNodeStores } from '../src/server/test-node-stores.ts';
import { freePortBlock } from './helpers/cluster.ts';

interface Member {
  readonly node: TesseraNode;
  readonly listeners: Listeners;
  readonly client: string;
  fillDisk(): void;
}

const dirs: string[] = [];
const members: Member[] = [];
after(async () => {
  for (const member of members) {
    await member.listeners.close();
    await member.node.close();
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function startCluster(size: number): Promise<Member[]> {
  const base = await freePortBlock(Array.from({ length: size * 3 }, (_, i) => i));
  const selves = Array.from({ length: size }, (_, i) => ({
    name: `a${i + 1}`,
    peer: `127.0.0.1:${base + 3 * i}`,
    client: `127.0.0.1:${base + 3 * i + 1}`,
    http: `127.0.0.1:${base + 3 * i + 2}`,
  }));
  const initialCluster = new Map(selves.map((self) => [self.name, self.peer]));
  const logger = new RecordingLogger();
  return Promise.all(
    selves.map(async (self) => {
      const dir = mkdtempSync(join(tmpdir(), 'tessera-alarm-'));
      dirs.push(dir);
      const { stores, fillDisk } = memoryNodeStores();
      const peer = await listenPeer(self.peer, logger);
      const node = await TesseraNode.start({
        self,
        initialCluster,
        initialClusterState: 'new',
        stores,
        state: LmdbState.open(join(dir, 'state')),
        logger,
        tickMs: 10,
        electionTicks: 10,
      });
      const listeners = await serveNode(node, peer.server, peer.address, self, logger);
      const member = { node, listeners, client: self.client, fillDisk };
      members.push(member);
      return member;
    }),
  );
}

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
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
