/**
 * {@link DiskStableStore}: the `StableStore` seam over the write-ahead log.
 *
 * @module
 */
import type { StableStore } from '../raft/stores.ts';
import { type HardState, hardStateEqual } from '../raft/types.ts';
import type { Wal } from './wal.ts';
import { WalRecordType } from './wal-record.ts';

/**
 * A {@link StableStore} on disk: each hard state set is a record in the
 * same WAL as the log's entries (opened through `WalStores.open`). Sharing
 * the WAL is what makes a Ready's entries and hard state durable with one
 * fdatasync, and in order: a hard state never becomes durable before the
 * entries appended ahead of it.
 *
 * `setHardState` throws the WAL's errors (see `DiskLogStore`), changing nothing.
 */
export class DiskStableStore implements StableStore {
  readonly #wal: Wal;
  #hardState: HardState;

  /** A store over `wal`, whose last hard state record is `hardState`. Use `WalStores.open`. */
  constructor(wal: Wal, hardState: HardState) {
    this.#wal = wal;
    this.#hardState = hardState;
  }

  hardState(): HardState {
    return this.#hardState;
  }

  setHardState(hardState: HardState): void {
    if (hardStateEqual(hardState, this.#hardState)) return;
    this.#wal.append([{ type: WalRecordType.hardState, hardState }]);
    this.#hardState = hardState;
  }

  /** Makes the hard state durable: one group commit of the WAL, shared with the log. */
  sync(): Promise<void> {
    return this.#wal.sync();
  }
}
