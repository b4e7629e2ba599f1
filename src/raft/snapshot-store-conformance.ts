/**
 * The {@link SnapshotStore} part of the storage conformance suite (see
 * `store-conformance.ts` for how checks run and register).
 *
 * @module
 */
import { CancelledError, CompactedError, InvalidArgumentError, TooLargeError } from '../base/errors.ts';
import {
  type ConformanceCheck,
  canonical,
  expectEqual,
  expectRejects,
  expectThrows,
  expectTrue,
  registerConformance,
  type StoreFactory,
  type StoreSession,
  type TestRegistrar,
  withStore,
} from './conformance-harness.ts';
import { readSnapshotData, type SnapshotStore } from './stores.ts';
import type { Snapshot, SnapshotMetadata, SnapshotRef } from './types.ts';

/** The `snapshotBytesMax` the suite opens stores with (small, so the limit is cheap to reach). */
export const CONFORMANCE_SNAPSHOT_BYTES_MAX = 64;

/** How the suite gets snapshot stores: like {@link StoreFactory}, with the size limit to open them with. */
export interface SnapshotStoreFactory extends Omit<StoreFactory<SnapshotStore>, 'open'> {
  /** A new, empty store accepting snapshots of at most `snapshotBytesMax` bytes. */
  open(limits: { snapshotBytesMax: number }): SnapshotStore | Promise<SnapshotStore>;
}

/**
 * A test snapshot whose bytes are derived from its index (so a snapshot
 * mixed from two is detectable): `size` bytes, `index + i` modulo 251.
 */
export function testSnapshot(index: number, size = 40): Snapshot {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (index + i) % 251;
  return { metadata: testMetadata(index), data };
}

function testMetadata(index: number): SnapshotMetadata {
  return { index, term: index + 100, confState: { voters: [1, 2, 3], learners: [4] } };
}

/** The core's view of a test snapshot (what `latest()` and `commit()` return). */
function refOf(snapshot: Snapshot): SnapshotRef {
  return { metadata: snapshot.metadata, totalBytes: snapshot.data.length };
}

/** `latest()` names `expected`, and its bytes read back are `expected`'s. */
async function expectLatest(
  store: SnapshotStore,
  expected: Snapshot | undefined,
  what: string,
): Promise<void> {
  const latest = store.latest();
  expectEqual(latest, expected === undefined ? undefined : refOf(expected), what);
  if (latest === undefined) return;
  expectEqual(await readSnapshotData(store, latest, 7), expected, `${what}: its bytes`);
}

async function receiveInChunks(
  store: SnapshotStore,
  snapshot: Snapshot,
  chunkBytes: number,
): Promise<SnapshotRef> {
  const sink = store.receive(snapshot.metadata);
  for (let offset = 0; offset < snapshot.data.length; offset += chunkBytes) {
    await sink.write(offset, snapshot.data.subarray(offset, offset + chunkBytes));
    expectEqual(
      sink.bytesWritten,
      Math.min(offset + chunkBytes, snapshot.data.length),
      'bytesWritten after a chunk',
    );
  }
  return sink.commit();
}

type SnapshotCheck = ConformanceCheck<SnapshotStoreFactory>;

function snapshotCheck(
  name: string,
  body: (session: StoreSession<SnapshotStore>) => Promise<void>,
): SnapshotCheck {
  return {
    name,
    run: (factory) =>
      withStore(
        {
          open: () => factory.open({ snapshotBytesMax: CONFORMANCE_SNAPSHOT_BYTES_MAX }),
          crashAndReopen: (store) => factory.crashAndReopen(store),
          close: (store) => factory.close?.(store),
        },
        body,
      ),
  };
}

/** The {@link SnapshotStore} contract, check by check. */
export const snapshotStoreChecks: readonly SnapshotCheck[] = [
  snapshotCheck('a new snapshot store has no snapshot', async ({ store }) => {
    await expectLatest(store, undefined, 'latest');
    expectEqual(store.snapshotBytesMax, CONFORMANCE_SNAPSHOT_BYTES_MAX, 'snapshotBytesMax');
    await expectRejects(store.readChunk(0, 0, 10), RangeError, 'readChunk with no snapshot');
  }),
  snapshotCheck('save makes a snapshot the latest, durably', async (session) => {
    await session.store.save(testSnapshot(5));
    await expectLatest(session.store, testSnapshot(5), 'latest after save');
    await expectLatest(await session.crash(), testSnapshot(5), 'latest after a crash');
  }),
  snapshotCheck(
    'save refuses a snapshot below the latest and one over snapshotBytesMax',
    async ({ store }) => {
      await store.save(testSnapshot(10));
      await expectRejects(store.save(testSnapshot(5)), InvalidArgumentError, 'save below the latest');
      await expectRejects(
        store.save(testSnapshot(11, CONFORMANCE_SNAPSHOT_BYTES_MAX + 1)),
        TooLargeError,
        'save over the limit',
      );
      await expectLatest(store, testSnapshot(10), 'latest after refused saves');
      await store.save(testSnapshot(10, 3));
      await store.save(testSnapshot(12, CONFORMANCE_SNAPSHOT_BYTES_MAX));
      await expectLatest(
        store,
        testSnapshot(12, CONFORMANCE_SNAPSHOT_BYTES_MAX),
        'latest after saving at the limit',
      );
    },
  ),
  snapshotCheck('a crash during save leaves the old or the new snapshot whole', async (session) => {
    await session.store.save(testSnapshot(5, 10));
    const saving = session.store.save(testSnapshot(9, 30));
    saving.catch(() => undefined);
    const crashed = await session.crash();
    const ref = crashed.latest();
    const latest = ref === undefined ? undefined : await readSnapshotData(crashed, ref);
    const whole = [testSnapshot(5, 10), testSnapshot(9, 30)].some(
      (candidate) => canonical(candidate) === canonical(latest),
    );
    expectTrue(whole, `latest after a crash during save is neither snapshot whole: ${canonical(latest)}`);
  }),
  snapshotCheck('chunks received in order become the latest snapshot on commit', async (session) => {
    await session.store.save(testSnapshot(5));
    const sink = session.store.receive(testMetadata(9));
    await sink.write(0, testSnapshot(9).data.subarray(0, 15));
    await expectLatest(session.store, testSnapshot(5), 'latest before commit');
    await sink.write(15, testSnapshot(9).data.subarray(15));
    expectEqual(await sink.commit(), refOf(testSnapshot(9)), 'the committed snapshot');
    await expectLatest(session.store, testSnapshot(9), 'latest after commit');
    await expectRejects(sink.commit(), InvalidArgumentError, 'a second commit');
    sink.abort();
    await expectLatest(await session.crash(), testSnapshot(9), 'latest after a crash');
  }),
  snapshotCheck('a chunk not at the current end is refused, changing nothing', async ({ store }) => {
    const { data } = testSnapshot(9);
    const sink = store.receive(testMetadata(9));
    await sink.write(0, data.subarray(0, 10));
    const refused = await expectRejects(
      sink.write(5, data.subarray(5, 20)),
      InvalidArgumentError,
      'a chunk overlapping the last one',
    );
    expectEqual((refused as InvalidArgumentError).details?.['expectedOffset'], 10, 'details.expectedOffset');
    await expectRejects(sink.write(20, data.subarray(20)), InvalidArgumentError, 'a chunk after a hole');
    expectEqual(sink.bytesWritten, 10, 'bytesWritten after refused chunks');
    await sink.write(10, data.subarray(10));
    expectEqual(await sink.commit(), refOf(testSnapshot(9)), 'the committed snapshot');
  }),
  snapshotCheck('receive enforces snapshotBytesMax', async ({ store }) => {
    const { data } = testSnapshot(9, CONFORMANCE_SNAPSHOT_BYTES_MAX);
    const sink = store.receive(testMetadata(9));
    await sink.write(0, data.subarray(0, CONFORMANCE_SNAPSHOT_BYTES_MAX - 4));
    await expectRejects(
      sink.write(CONFORMANCE_SNAPSHOT_BYTES_MAX - 4, new Uint8Array(5)),
      TooLargeError,
      'a chunk passing the limit',
    );
    expectEqual(sink.bytesWritten, CONFORMANCE_SNAPSHOT_BYTES_MAX - 4, 'bytesWritten after the refusal');
    await sink.write(CONFORMANCE_SNAPSHOT_BYTES_MAX - 4, data.subarray(CONFORMANCE_SNAPSHOT_BYTES_MAX - 4));
    expectEqual(
      await sink.commit(),
      refOf(testSnapshot(9, CONFORMANCE_SNAPSHOT_BYTES_MAX)),
      'a snapshot at the limit',
    );
  }),
  snapshotCheck('abort drops a receive', async ({ store }) => {
    await store.save(testSnapshot(5));
    const sink = store.receive(testMetadata(9));
    await sink.write(0, testSnapshot(9).data);
    sink.abort();
    sink.abort();
    await expectLatest(store, testSnapshot(5), 'latest after abort');
    await expectRejects(sink.write(40, new Uint8Array(1)), CancelledError, 'write after abort');
    await expectRejects(sink.commit(), CancelledError, 'commit after abort');
    await expectLatest(store, testSnapshot(5), 'latest after commit was refused');
  }),
  snapshotCheck('a crash before commit leaves the latest snapshot unchanged', async (session) => {
    await session.store.save(testSnapshot(5));
    const sink = session.store.receive(testMetadata(9));
    await sink.write(0, testSnapshot(9).data);
    const store = await session.crash();
    await expectLatest(store, testSnapshot(5), 'latest after the crash');
    expectEqual(await receiveInChunks(store, testSnapshot(9), 7), refOf(testSnapshot(9)), 'receiving again');
  }),
  snapshotCheck('a new receive supersedes the one in flight', async ({ store }) => {
    const first = store.receive(testMetadata(9));
    await first.write(0, testSnapshot(9).data.subarray(0, 10));
    const second = store.receive(testMetadata(11));
    await expectRejects(
      first.write(10, testSnapshot(9).data.subarray(10)),
      CancelledError,
      'write superseded',
    );
    await second.write(0, testSnapshot(11).data);
    expectEqual(await second.commit(), refOf(testSnapshot(11)), 'the second snapshot');
    await expectLatest(store, testSnapshot(11), 'latest');
  }),
  snapshotCheck(
    'create runs beside a receive; neither aborts the other, the higher index wins',
    async (session) => {
      const { store } = session;
      const own = store.create(testMetadata(9));
      const received = store.receive(testMetadata(11));
      await own.write(0, testSnapshot(9).data.subarray(0, 10));
      await received.write(0, testSnapshot(11).data);
      await own.write(10, testSnapshot(9).data.subarray(10));
      expectEqual(await received.commit(), refOf(testSnapshot(11)), 'the received snapshot');
      await expectRejects(own.commit(), InvalidArgumentError, 'commit of a lower index than the latest');
      await expectLatest(store, testSnapshot(11), 'latest');
      const next = store.create(testMetadata(13));
      await next.write(0, testSnapshot(13).data);
      const crashed = await session.crash();
      await expectLatest(crashed, testSnapshot(11), 'latest after a crash dropped a create');
      expectThrows(() => crashed.create(testMetadata(10)), InvalidArgumentError, 'create below the latest');
      const again = crashed.create(testMetadata(13));
      await again.write(0, testSnapshot(13).data);
      expectEqual(await again.commit(), refOf(testSnapshot(13)), 'the created snapshot');
      await expectLatest(crashed, testSnapshot(13), 'latest after create');
    },
  ),
  snapshotCheck(
    'receive refuses a snapshot below the latest, and commit one overtaken',
    async ({ store }) => {
      await store.save(testSnapshot(10));
      expectThrows(() => store.receive(testMetadata(5)), InvalidArgumentError, 'receive below the latest');
      const sink = store.receive(testMetadata(12));
      await sink.write(0, testSnapshot(12).data);
      await store.save(testSnapshot(14));
      await expectRejects(sink.commit(), InvalidArgumentError, 'commit overtaken by a newer save');
      await expectLatest(store, testSnapshot(14), 'latest');
    },
  ),
  snapshotCheck('readChunk reads the latest snapshot in chunks', async ({ store }) => {
    const snapshot = testSnapshot(9, 50);
    await store.save(snapshot);
    const chunks: number[] = [];
    for (let offset = 0; ; ) {
      const chunk = await store.readChunk(9, offset, 15);
      if (chunk.length === 0) break;
      expectTrue(chunk.length <= 15, `a chunk of ${chunk.length} bytes is over bytesMax 15`);
      chunks.push(...chunk);
      offset += chunk.length;
    }
    expectEqual(new Uint8Array(chunks), snapshot.data, 'the data read in chunks');
    expectEqual(await store.readChunk(9, 50, 15), new Uint8Array(0), 'a read at the end');
    await expectRejects(store.readChunk(9, 51, 15), RangeError, 'a read past the end');
    await expectRejects(store.readChunk(9, 0, 0), RangeError, 'a read with bytesMax 0');
    await expectRejects(store.readChunk(10, 0, 15), RangeError, 'a read of a snapshot never saved');
    await store.save(testSnapshot(12));
    await expectRejects(store.readChunk(9, 0, 15), CompactedError, 'a read of a superseded snapshot');
  }),
];

/** Registers the {@link SnapshotStore} conformance tests for one implementation. */
export function snapshotStoreConformance(
  name: string,
  factory: SnapshotStoreFactory,
  test: TestRegistrar,
): void {
  registerConformance(`SnapshotStore conformance: ${name}`, snapshotStoreChecks, factory, test);
}
