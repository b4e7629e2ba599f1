/**
 * {@link WalStores}: a member's log and hard state stores over one
 * write-ahead log.
 *
 * @module
 */
import type { HardState } from '../raft/types.ts';
import { DiskLogStore } from './disk-log-store.ts';
import { DiskStableStore } from './disk-stable-store.ts';
import { CorruptionError } from './errors.ts';
import { LiveLog } from './live-log.ts';
import { Wal, type WalOptions } from './wal.ts';
import { type WalRecord, WalRecordType } from './wal-record.ts';
import type { WalReplay } from './wal-recovery.ts';

/**
 * The `LogStore` and `StableStore` of one member, both writing records to
 * one {@link Wal}. One WAL rather than two files gives one fdatasync per
 * Ready instead of two (`log.sync()` and `stable.sync()` called together
 * share one group commit), and keeps the order the core relies on: the
 * records of a Ready are durable together, in the order written.
 *
 * @example
 * ```ts
 * const stores = await WalStores.open('/var/lib/tessera/wal');
 * const snapshots = await DiskSnapshotStore.open('/var/lib/tessera/snap');
 * const storage = storageFromStores({ log: stores.log, stable: stores.stable, snapshots });
 * // ... run the member ...
 * await stores.close();
 * ```
 */
export class WalStores {
  /** The Raft log's store. */
  readonly log: DiskLogStore;
  /** The hard state's store. */
  readonly stable: DiskStableStore;
  /** The WAL itself, for its stats and position. */
  readonly wal: Wal;

  private constructor(wal: Wal, live: LiveLog, hardState: HardState) {
    this.wal = wal;
    this.log = new DiskLogStore(wal, live);
    this.stable = new DiskStableStore(wal, hardState);
  }

  /**
   * Opens the stores in `dir` (created when missing), recovering the log
   * and hard state from the WAL there.
   *
   * @throws {CorruptionError} (rejects) when synced data is corrupt.
   * @throws {RangeError} (rejects) when an option is out of range.
   */
  static async open(dir: string, options: WalOptions = {}): Promise<WalStores> {
    const live = new LiveLog();
    let hardState: HardState = { term: 0, vote: 0, commit: 0 };
    const replay: WalReplay = {
      start(checkpoint) {
        const { base, last } = checkpoint;
        if (base.index === last.index) live.resetTo(base.index, base.term);
        else live.startWithUnknown(base.index, base.term, last.index);
        hardState = checkpoint.hardState;
      },
      record(record: WalRecord) {
        switch (record.type) {
          case WalRecordType.entries:
            live.append(record.entries);
            break;
          case WalRecordType.hardState:
            hardState = record.hardState;
            break;
          case WalRecordType.compact:
            live.compactTo(record.index, record.term);
            break;
          case WalRecordType.reset:
            live.resetTo(record.index, record.term);
            break;
          case WalRecordType.checkpoint:
            break;
        }
      },
    };
    const wal = await Wal.open(dir, replay, options);
    if (live.hasUnknown()) {
      // Recovery checks that a compaction covers what deleted segments held; this is the same check, asserted.
      await wal.abandon();
      throw new CorruptionError(
        `Cannot open the WAL in ${dir}: entries from ${live.firstIndex()} on are missing`,
        {
          details: { file: dir, offset: 0 },
        },
      );
    }
    return new WalStores(wal, live, hardState);
  }

  /** Syncs what was written and closes the WAL. */
  close(): Promise<void> {
    return this.wal.close();
  }

  /** Closes the WAL without writing what no sync covered, as a crash would (see `Wal.abandon`). */
  abandon(): Promise<void> {
    return this.wal.abandon();
  }
}
