/**
 * Members in this process on loopback RPC, each on memory stores whose sync
 * can be made to fail like a full disk, for tests that need to reach into a
 * member (its node, its stores) while it talks to real peers.
 *
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingLogger } from '../../src/base/logger.ts';
import { TesseraNode } from '../../src/server/node.ts';
import { type Listeners, listenPeer, serveNode } from '../../src/server/serve.ts';
import { LmdbState } from '../../src/server/state.ts';
import { memoryNodeStores } from '../../src/server/test-node-stores.ts';
import { freePortBlock } from './cluster.ts';

export interface InProcessMember {
  readonly node: TesseraNode;
  readonly listeners: Listeners;
  /** Its client RPC address. */
  readonly client: string;
  /** Makes its next log sync fail with ENOSPC. */
  fillDisk(): void;
  /** Makes its log syncs wait until the function returned is called. */
  holdSyncs(): () => void;
}

/** Members started by {@link startInProcessCluster}, stopped (and their directories removed) by `stop`. */
export interface InProcessCluster {
  readonly members: InProcessMember[];
  stop(): Promise<void>;
}

/** Starts `size` founding members ticking every 10 ms, an election timeout of 10 ticks. */
export async function startInProcessCluster(size: number): Promise<InProcessCluster> {
  const base = await freePortBlock(Array.from({ length: size * 3 }, (_, i) => i));
  const selves = Array.from({ length: size }, (_, i) => ({
    name: `a${i + 1}`,
    peer: `127.0.0.1:${base + 3 * i}`,
    client: `127.0.0.1:${base + 3 * i + 1}`,
    http: `127.0.0.1:${base + 3 * i + 2}`,
  }));
  const initialCluster = new Map(selves.map((self) => [self.name, self.peer]));
  const logger = new RecordingLogger();
  const dirs: string[] = [];
  const members: InProcessMember[] = [];
  const stop = async (): Promise<void> => {
    for (const member of members) {
      await member.listeners.close();
      await member.node.close();
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(
      selves.map(async (self) => {
        const dir = mkdtempSync(join(tmpdir(), 'tessera-in-process-'));
        dirs.push(dir);
        const { stores, fillDisk, holdSyncs } = memoryNodeStores();
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
        members.push({ node, listeners, client: self.client, fillDisk, holdSyncs });
      }),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    members: selves.map((self) => members.find((m) => m.client === self.client) as InProcessMember),
    stop,
  };
}

/** Polls `condition` every 10 ms for up to 10 s. */
export async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits until a member of `cluster` leads, and returns it. */
export async function leaderOf(cluster: InProcessCluster): Promise<InProcessMember> {
  const leading = (): InProcessMember | undefined =>
    cluster.members.find((m) => m.node.status().role === 'leader');
  await until(() => leading() !== undefined, 'a leader');
  return leading() as InProcessMember;
}
