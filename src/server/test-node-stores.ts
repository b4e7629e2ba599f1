/**
 * Node stores for tests: the in-memory seams, with a log whose sync can be
 * made to fail as a full disk's does (ENOSPC).
 *
 * @module
 */
import { MemoryLogStore, MemorySnapshotStore, MemoryStableStore } from '../raft/memory-stores.ts';
import type { NodeStores } from './node.ts';

/**
 * In-memory node stores; after `fillDisk()` every log sync rejects with an
 * `ENOSPC` error, as `fdatasync` on a full disk would.
 *
 * @example
 * ```ts
 * const { stores, fillDisk } = memoryNodeStores();
 * const node = await TesseraNode.start({ ...options, stores });
 * fillDisk(); // the next write's sync fails: the NOSPACE alarm
 * ```
 */
export function memoryNodeStores(): { stores: NodeStores; fillDisk: () => void } {
  const log = new MemoryLogStore();
  let full = false;
  const sync = log.sync.bind(log);
  log.sync = () => {
    if (!full) return sync();
    const error = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    return Promise.reject(error);
  };
  const stores = {
    log,
    stable: new MemoryStableStore(),
    snapshots: new MemorySnapshotStore(),
    close: async () => {},
  };
  return { stores, fillDisk: () => (full = true) };
}
