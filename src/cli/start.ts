/**
 * `tessera start`: runs one member (the etcd way), until SIGTERM or SIGINT.
 *
 * Prints one JSON line to stdout once it serves:
 * `{"ready":true,"name","id","peer","client","http","etcd"?,"pid"}` (`etcd`
 * with `--listen-etcd`); logs are JSON lines (pino) on stderr.
 *
 * @module
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { InvalidArgumentError } from '../base/errors.ts';
import type { Logger } from '../base/logger.ts';
import { isProcessAlive } from '../base/process.ts';
import { type NodeConfig, resolveConfig } from '../server/config.ts';
import type { NodeStores } from '../server/node.ts';
import { TesseraNode } from '../server/node.ts';
import { listenPeer, serveNode } from '../server/serve.ts';
import { LmdbState } from '../server/state.ts';
import { DiskSnapshotStore } from '../storage/disk-snapshot-store.ts';
import { WalStores } from '../storage/wal-stores.ts';

/** Settings `tessera start` takes as flags (camelCase keys of {@link NodeConfig}). */
export type StartFlags = Record<string, unknown> & { config?: string };

/**
 * Takes the data directory for this process: a second member on the same
 * directory would corrupt it. A lock left by a dead process is taken over.
 *
 * @throws {InvalidArgumentError} when a live process holds it.
 */
function lockDataDir(dir: string): () => void {
  const path = join(dir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(path, 'utf8'));
      if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && isProcessAlive(holder)) {
        throw new InvalidArgumentError(`Cannot use data directory ${dir}: process ${holder} is using it`);
      }
      rmSync(path, { force: true });
    }
  }
  throw new InvalidArgumentError(`Cannot lock data directory ${dir}`);
}

/** Opens a member's durable stores: the WAL (log and hard state) and the snapshot directory. */
export async function openDiskStores(dir: string, options: { logger: Logger }): Promise<NodeStores> {
  const wal = await WalStores.open(join(dir, 'wal'), { logger: options.logger });
  const snapshots = await DiskSnapshotStore.open(join(dir, 'snap'));
  return {
    log: wal.log,
    stable: wal.stable,
    snapshots,
    async close() {
      await wal.close();
      await snapshots.close();
    },
  };
}

/** Runs a member until a signal stops it. */
export async function runStart(flags: StartFlags): Promise<void> {
  const { config: file, ...settings } = flags;
  const config: NodeConfig = resolveConfig({
    flags: settings,
    env: process.env,
    ...(typeof file === 'string' ? { file } : {}),
  });
  const logger = pino(
    { name: 'tessera', level: config.logLevel, base: { member: config.name, pid: process.pid } },
    pino.destination({ fd: 2, sync: false }),
  );
  const unlock = lockDataDir(config.data);
  const stores = await openDiskStores(join(config.data, 'raft'), { logger });
  const state = LmdbState.open(join(config.data, 'state'), { freeBytesMin: config.stateFreeBytesMin });
  if (state.discardedTornState) {
    logger.warn(
      'the last session on this state did not close cleanly before a reboot: its unsynced state was discarded; rebuilding it from the snapshot and the WAL',
    );
  }
  const self = {
    name: config.name,
    peer: config.listenPeer,
    client: config.listenClient,
    http: config.listenHttp,
    ...(config.listenEtcd === undefined ? {} : { etcd: config.listenEtcd }),
  };
  const peer = await listenPeer(config.listenPeer, logger, config.peerTls);
  const node = await TesseraNode.start({
    self,
    initialCluster: config.initialCluster,
    initialClusterState: config.initialClusterState,
    stores,
    state,
    logger,
    peerTls: config.peerTls,
    tickMs: config.tickMs,
    electionTicks: config.electionTicks,
    snapshotEntries: config.snapshotEntries,
    snapshotCatchupEntries: config.snapshotCatchupEntries,
    autoCompaction: config.autoCompaction,
  });
  const listeners = await serveNode(node, peer.server, peer.address, self, logger);
  logger.info({ ...listeners.addresses, id: node.id }, 'member serving');
  console.log(
    JSON.stringify({ ready: true, name: config.name, id: node.id, ...listeners.addresses, pid: process.pid }),
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await listeners.close();
    await node.close();
    unlock();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
