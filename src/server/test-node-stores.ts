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
 * `ENOSPC` error, as `fdatasync` on a full disk would; after `holdSyncs()`
 * every log sync waits until the function it returned is called, as a
 * slow disk's would.
 *
 * @example
 * ```ts
 * const { stores, fillDisk } = memoryNodeStores();
 * const node = await TesseraNode.start({ ...options, stores });
 * fillDisk(); // the next write's sync fails: the NOSPACE alarm
 * ```
 */
export function memoryNodeStores(): {
  stores: NodeStores;
  fillDisk: () => void;
  holdSyncs: () => () => void;
} {
  const log = new MemoryLogStore();
  let full = false;
  let held: Promise<void> | undefined;
  const sync = log.sync.bind(log);
  log.sync = async () => {
    if (held !== undefined) await held;
    if (!full) return sync();
    const error = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    throw error;
  };
  const holdSyncs = (): (() => void) => {
    let release = (): void => {};
    held = new Promise<void>((resolve) => {
      release = () => {
        held = undefined;
        resolve();
      };
    });
    return release;
  };
  const stores = {
    log,
    stable: new MemoryStableStore(),
    snapshots: new MemorySnapshotStore(),
    close: async () => {},
  };
  return { stores, fillDisk: () => (full = true), holdSyncs };
}
