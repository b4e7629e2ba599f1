import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryLogStore, MemorySnapshotStore, MemoryStableStore } from './memory-stores.ts';
import {
  type SnapshotStoreFactory,
  snapshotStoreChecks,
  snapshotStoreConformance,
} from './snapshot-store-conformance.ts';
import {
  ConformanceFailure,
  logStoreChecks,
  logStoreConformance,
  runConformanceCheck,
  type StoreFactory,
  stableStoreChecks,
  stableStoreConformance,
} from './store-conformance.ts';
import type { LogStore, SnapshotSink, StableStore } from './stores.ts';
import type { Entry, SnapshotMetadata } from './types.ts';

const memoryLogStores: StoreFactory<MemoryLogStore> = {
  open: () => new MemoryLogStore(),
  crashAndReopen: (log) => {
    log.crash();
    return log;
  },
};

const memoryStableStores: StoreFactory<MemoryStableStore> = {
  open: () => new MemoryStableStore(),
  crashAndReopen: (stable) => {
    stable.crash();
    return stable;
  },
};

const memorySnapshotStores: SnapshotStoreFactory = {
  open: (limits) => new MemorySnapshotStore(limits),
  crashAndReopen: (store) => {
    (store as MemorySnapshotStore).crash();
    return store;
  },
};

logStoreConformance('MemoryLogStore', memoryLogStores, { describe, it });
stableStoreConformance('MemoryStableStore', memoryStableStores, { describe, it });
snapshotStoreConformance('MemorySnapshotStore', memorySnapshotStores, { describe, it });

/** Factories for deliberately broken stores, each planted with one defect. */
function brokenLogStores(make: () => MemoryLogStore): StoreFactory<LogStore> {
  return {
    open: make,
    crashAndReopen: (log) => {
      (log as MemoryLogStore).crash();
      return log;
    },
  };
}

/** A crash that forgets to drop unsynced writes. */
class CrashKeepsUnsyncedLogStore extends MemoryLogStore {
  override crash(): void {}
}

/** Appends only past the end, keeping a conflicting suffix (Raft's Figure 8 needs it dropped). */
class KeepsConflictsLogStore extends MemoryLogStore {
  override append(entries: readonly Entry[]): void {
    super.append(entries.filter((entry) => entry.index > this.lastIndex()));
  }
}

/** Ignores bytesMax. */
class UnboundedReadLogStore extends MemoryLogStore {
  override entries(lo: number, hi: number): Entry[] {
    return super.entries(lo, hi, Number.POSITIVE_INFINITY);
  }
}

/** A sync that does nothing durable. */
class NeverSyncsStableStore extends MemoryStableStore {
  override sync(): Promise<void> {
    return Promise.resolve();
  }
}

/** Its sinks write every chunk at the end, whatever offset it names. */
class IgnoresOffsetsSnapshotStore extends MemorySnapshotStore {
  override receive(metadata: SnapshotMetadata): SnapshotSink {
    const sink = super.receive(metadata);
    return {
      metadata,
      get bytesWritten() {
        return sink.bytesWritten;
      },
      write: (_offset, bytes) => sink.write(sink.bytesWritten, bytes),
      commit: () => sink.commit(),
      abort: () => sink.abort(),
    };
  }
}

describe('the store conformance suite catches broken stores', () => {
  const cases: [string, () => Promise<void>][] = [
    [
      'a log store whose crash keeps unsynced writes',
      () =>
        runConformanceCheck(
          logStoreChecks,
          'unsynced writes are lost in a crash',
          brokenLogStores(() => new CrashKeepsUnsyncedLogStore()),
        ),
    ],
    [
      'a log store that keeps a conflicting suffix',
      () =>
        runConformanceCheck(
          logStoreChecks,
          'append discards every entry from its first index on (conflict truncation)',
          brokenLogStores(() => new KeepsConflictsLogStore()),
        ),
    ],
    [
      'a log store that ignores bytesMax',
      () =>
        runConformanceCheck(
          logStoreChecks,
          'entries stops at bytesMax but returns at least one entry',
          brokenLogStores(() => new UnboundedReadLogStore()),
        ),
    ],
    [
      'a stable store whose sync is not durable',
      () =>
        runConformanceCheck(stableStoreChecks, 'a synced hard state survives a crash', {
          open: (): StableStore => new NeverSyncsStableStore(),
          crashAndReopen: (stable) => {
            (stable as MemoryStableStore).crash();
            return stable;
          },
        }),
    ],
    [
      'a snapshot store that accepts chunks at any offset',
      () =>
        runConformanceCheck(
          snapshotStoreChecks,
          'a chunk not at the current end is refused, changing nothing',
          {
            ...memorySnapshotStores,
            open: (limits) => new IgnoresOffsetsSnapshotStore(limits),
          },
        ),
    ],
  ];
  for (const [what, run] of cases) {
    it(`fails ${what}`, async () => {
      await assert.rejects(run(), ConformanceFailure);
    });
  }

  it('runConformanceCheck refuses a check name it does not know', () => {
    assert.throws(() => runConformanceCheck(logStoreChecks, 'no such check', memoryLogStores), RangeError);
  });
});

describe('MemorySnapshotStore', () => {
  it('refuses a snapshotBytesMax that is not a positive integer', () => {
    assert.throws(() => new MemorySnapshotStore({ snapshotBytesMax: 0 }), RangeError);
    assert.throws(() => new MemorySnapshotStore({ snapshotBytesMax: 1.5 }), RangeError);
  });
});
