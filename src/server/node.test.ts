import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  CompactedError,
  InvalidArgumentError,
  NoSpaceError,
  NotLeaderError,
  ProposalDroppedError,
  UnavailableError,
} from '../base/errors.ts';
import { RecordingLogger } from '../base/logger.ts';
import type { KvCommand } from '../kv/kv-command.ts';
import type { MemoryLogStore, MemoryStableStore } from '../raft/memory-stores.ts';
import { memberIdOf } from './member.ts';
import {
  type NodeOptions,
  type NodeStores,
  SNAPSHOT_ENTRIES_CAP_FACTOR,
  SNAPSHOT_STAGGER,
  snapshotStaggerOf,
  TesseraNode,
} from './node.ts';
import { LmdbState, type LmdbStateOptions } from './state.ts';
import { writeSessionMarker } from './state-session.ts';
import { memoryNodeStores } from './test-node-stores.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * A single-member cluster on memory stores whose log sync can be made to fail like a full disk;
 * `restart` starts it again on the stores and state directory of an earlier one.
 */
async function singleMember(
  restart?: { stores: NodeStores; dir: string },
  options: Partial<NodeOptions> = {},
  stateOptions: LmdbStateOptions = {},
): Promise<{ node: TesseraNode; failSync: () => void; stores: NodeStores; dir: string; state: LmdbState }> {
  const dir = restart?.dir ?? mkdtempSync(join(tmpdir(), 'tessera-node-'));
  if (restart === undefined) dirs.push(dir);
  const fresh = memoryNodeStores();
  const stores = restart?.stores ?? fresh.stores;
  const fillDisk = fresh.fillDisk;
  const self = { name: 'solo', peer: '127.0.0.1:1', client: '127.0.0.1:2', http: '127.0.0.1:3' };
  const state = LmdbState.open(join(dir, 'state'), stateOptions);
  const node = await TesseraNode.start({
    self,
    initialCluster: new Map([[self.name, self.peer]]),
    initialClusterState: 'new',
    stores,
    state,
    logger: new RecordingLogger(),
    tickMs: 5,
    ...options,
  });
  return { node, failSync: fillDisk, stores, dir, state };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const bytes = (text: string) => new TextEncoder().encode(text);
const put = (key: string, value: string): KvCommand => ({
  type: 'put',
  request: { key: bytes(key), value: bytes(value) },
});

async function read(node: TesseraNode, key: string, serializable: boolean): Promise<string | undefined> {
  const found = (await node.range({ key: bytes(key) }, serializable)).response.kvs[0];
  return found === undefined ? undefined : new TextDecoder().decode(found.value);
}

describe('TesseraNode', () => {
  it('a single member elects itself, applies writes and serves linearizable reads', async () => {
    const { node } = await singleMember();
    try {
      await until(() => node.status().role === 'leader', 'leadership');
      const { response } = await node.write(put('a', '1'));
      assert.deepEqual(response, { revision: 2 });
      const cas = await node.write({
        type: 'txn',
        request: {
          compare: [{ key: bytes('a'), target: 'value', result: 'equal', value: bytes('1') }],
          success: [{ type: 'put', request: { key: bytes('a'), value: bytes('2') } }],
        },
      });
      assert.equal(cas.index, node.status().applied);
      assert.equal((cas.response as { succeeded: boolean }).succeeded, true);
      assert.equal(await read(node, 'a', false), '2');
      await assert.rejects(node.write({ type: 'compact', request: { revision: 99 } }), InvalidArgumentError);
    } finally {
      await node.close();
    }
  });

  it('linearizable reads that arrive before a ReadIndex round starts share it, and each sees every write before it', async () => {
    const { node } = await singleMember();
    try {
      await until(() => node.status().role === 'leader', 'leadership');
      await node.write(put('a', '0'));
      const rounds = async () => (await node.metrics.readIndexRounds.get()).values[0]?.value ?? 0;
      const before = await rounds();
      const reads = Array.from({ length: 50 }, () => read(node, 'a', false));
      const write = node.write(put('a', '1'));
      const seen = await Promise.all(reads);
      // Concurrent with the write, they may see it or not; a read that starts after its answer must.
      assert.ok(
        seen.every((value) => value === '0' || value === '1'),
        seen.join(),
      );
      await write;
      assert.equal(await read(node, 'a', false), '1');
      const started = (await rounds()) - before;
      assert.ok(started >= 2 && started < 10, `51 reads in two bursts started ${started} ReadIndex rounds`);
    } finally {
      await node.close();
    }
  });

  it('a linearizable read with no leader known fails NOT_LEADER, and the Raft loop goes on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-node-'));
    dirs.push(dir);
    const self = { name: 'alone', peer: '127.0.0.1:1', client: '127.0.0.1:2', http: '127.0.0.1:3' };
    // Two founders, one never started: no quorum, so no leader is ever known.
    const node = await TesseraNode.start({
      self,
      initialCluster: new Map([
        [self.name, self.peer],
        ['absent', '127.0.0.1:9'],
      ]),
      initialClusterState: 'new',
      stores: memoryNodeStores().stores,
      state: LmdbState.open(join(dir, 'state')),
      logger: new RecordingLogger(),
      tickMs: 5,
    });
    try {
      for (let i = 0; i < 2; i++) {
        await assert.rejects(read(node, 'a', false), NotLeaderError);
        assert.deepEqual([...node.alarms], [], 'the loop raised no alarm');
      }
    } finally {
      await node.close();
    }
  });

  it('syncs a commit index only with entries or a vote, and restarts at what it applied after losing the rest', async () => {
    const first = await singleMember();
    await until(() => first.node.status().role === 'leader', 'leadership');
    for (let i = 0; i < 5; i++) await first.node.write(put(`k${i}`, `v${i}`));
    const applied = first.node.status().applied;
    await first.node.close();
    // A power loss: what was not synced is gone. The last commit index was not worth an fsync of its own.
    const { log, stable } = first.stores as unknown as { log: MemoryLogStore; stable: MemoryStableStore };
    log.crash();
    stable.crash();
    assert.ok(
      stable.hardState().commit < applied,
      `synced commit ${stable.hardState().commit}, applied ${applied}`,
    );
    const second = await singleMember({ stores: first.stores, dir: first.dir });
    try {
      assert.ok(stable.hardState().commit >= applied);
      await until(() => second.node.status().role === 'leader', 'leadership after the restart');
      assert.equal(await read(second.node, 'k4', false), 'v4');
      await second.node.write(put('after', 'restart'));
      assert.equal(await read(second.node, 'after', false), 'restart');
    } finally {
      await second.node.close();
    }
  });

  it('an operating-system crash: state it may have torn is discarded and rebuilt from the snapshot and the WAL', async () => {
    const options = { snapshotEntries: 20, snapshotCatchupEntries: 0 };
    const first = await singleMember(undefined, options);
    let before: ReturnType<TesseraNode['status']>;
    try {
      await until(() => first.node.status().role === 'leader', 'leadership');
      for (let i = 0; i < 50; i++) await first.node.write(put(`k${i}`, `v${i}`));
      await until(() => first.stores.log.firstIndex() > 1, 'the log compacted behind a snapshot');
      // One more write: the snapshot may have caught all 50.
      await first.node.write(put('after', 'x'));
      const snapshotIndex = first.stores.snapshots.latest()?.metadata.index ?? 0;
      before = first.node.status();
      assert.ok(before.applied > snapshotIndex, 'entries past the snapshot, in the WAL only');
    } finally {
      await first.node.close();
    }
    // The session did not close cleanly, in an earlier boot: LMDB commits are not synced, so its file may be torn.
    writeSessionMarker(join(first.dir, 'state'), { bootId: 'an-earlier-boot', clean: false });
    const second = await singleMember({ stores: first.stores, dir: first.dir }, options);
    try {
      assert.equal(second.state.discardedTornState, true);
      await until(() => second.node.status().role === 'leader', 'leadership after the restart');
      for (let i = 0; i < 50; i++) assert.equal(await read(second.node, `k${i}`, false), `v${i}`, `k${i}`);
      assert.equal(second.node.status().revision, before.revision);
    } finally {
      await second.node.close();
    }
  });

  it('snapshots after snapshotLogBytes of log however few the entries, and compacts the log behind it', async () => {
    const { node, stores } = await singleMember(undefined, {
      snapshotEntries: 1_000_000,
      snapshotLogBytes: 64 * 1024,
      snapshotCatchupEntries: 0,
    });
    try {
      await until(() => node.status().role === 'leader', 'leadership');
      const value = 'x'.repeat(8 * 1024);
      for (let i = 0; i < 4; i++) await node.write(put(`small${i}`, value));
      assert.equal(stores.snapshots.latest(), undefined, '32 KiB of log is under the threshold');
      for (let i = 0; i < 8; i++) await node.write(put(`big${i}`, value));
      await until(() => stores.snapshots.latest() !== undefined, 'a snapshot');
      await node.write(put('after', 'x'));
      await until(() => stores.log.firstIndex() > 1, 'the log compacted behind the snapshot');
    } finally {
      await node.close();
    }
  });

  it('the entry count starts a snapshot only once the log since the last is a share of its size, or at the cap', async () => {
    const every = 20;
    const { node, stores } = await singleMember(undefined, {
      snapshotEntries: every,
      snapshotCatchupEntries: 0,
    });
    try {
      await until(() => node.status().role === 'leader', 'leadership');
      // A large state in one entry, then tiny writes until the first snapshot (at `every` entries, give or take
      // this member's stagger): the image holds the large state, the log after it only tiny entries.
      const big = 'x'.repeat(16 * 1024);
      await node.write({
        type: 'txn',
        request: {
          compare: [],
          success: Array.from({ length: 20 }, (_, i) => ({
            type: 'put' as const,
            request: { key: bytes(`big${i}`), value: bytes(big) },
          })),
        },
      });
      for (let i = 0; stores.snapshots.latest() === undefined && i < 2 * every; i++) {
        await node.write(put('tiny', `${i}`));
      }
      await until(() => stores.snapshots.latest() !== undefined, 'the first snapshot');
      const first = stores.snapshots.latest();
      assert.ok(
        first !== undefined && first.totalBytes > 20 * 16 * 1024,
        `an image of ${first?.totalBytes} bytes`,
      );
      // Tiny writes: `every` of them are far less log than a quarter of the image.
      for (let i = 0; i < 2 * every; i++) await node.write(put('tiny', `${i}`));
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(stores.snapshots.latest()?.metadata.index, first.metadata.index, 'no snapshot yet');
      for (let i = 0; i < (1 + SNAPSHOT_STAGGER) * SNAPSHOT_ENTRIES_CAP_FACTOR * every; i++)
        await node.write(put('tiny', `${i}`));
      await until(
        () => (stores.snapshots.latest()?.metadata.index ?? 0) > first.metadata.index,
        'a snapshot at the entry cap',
      );
    } finally {
      await node.close();
    }
  });

  it("members snapshot at thresholds staggered by their ids, so a cluster's members do not build images at once", () => {
    for (const names of [
      ['n1', 'n2', 'n3'],
      ['m1', 'm2', 'm3'],
    ]) {
      const factors = names.map((name) => snapshotStaggerOf(memberIdOf(name))).sort((a, b) => a - b);
      for (const factor of factors) assert.ok(factor >= 1 && factor < 1 + SNAPSHOT_STAGGER, `${factor}`);
      assert.ok(
        factors.every((factor, i) => i === 0 || factor - (factors[i - 1] as number) > 0.01),
        `${names.join()}: ${factors.join(', ')}`,
      );
    }
  });

  it('the leader compacts history automatically, keeping the revisions asked for', async () => {
    const { node } = await singleMember(undefined, {
      autoCompaction: { mode: 'revision', retention: 5, checkIntervalMs: 20 },
    });
    try {
      await until(() => node.status().role === 'leader', 'leadership');
      for (let i = 0; i < 20; i++) await node.write(put('k', `v${i}`));
      const revision = node.status().revision;
      // Compacted to revision - 5: older revisions are gone, the last five stay readable.
      const readAt = (at: number) => node.range({ key: bytes('k'), revision: at }, true);
      const deadline = Date.now() + 5000;
      for (;;) {
        const gone = await readAt(revision - 6).then(
          () => false,
          (error: unknown) => error instanceof CompactedError,
        );
        if (gone) break;
        if (Date.now() > deadline) throw new Error('no automatic compaction within 5 s');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(node.status().revision, revision, 'a compaction takes no revision');
      const kept = (await readAt(revision - 5)).response.kvs[0];
      assert.equal(new TextDecoder().decode(kept?.value), 'v14'); // v0 is revision 2
      assert.equal(await read(node, 'k', false), 'v19');
    } finally {
      await node.close();
    }
  });

  it('a failed WAL sync (ENOSPC) raises an alarm, refuses writes with NO_SPACE, keeps serializable reads', async () => {
    const { node, failSync } = await singleMember();
    try {
      await until(() => node.status().role === 'leader', 'leadership');
      await node.write(put('kept', 'yes'));
      failSync();
      // The write in flight when the disk fills is never acknowledged: it fails or times out, never succeeds.
      const inFlight = node.write(put('lost', 'no'));
      await until(() => node.status().alarms.length > 0, 'the alarm');
      assert.deepEqual(node.status().alarms, ['NOSPACE']);
      await assert.rejects(node.write(put('after', 'x')), NoSpaceError);
      assert.equal(await read(node, 'kept', true), 'yes');
      await assert.rejects(read(node, 'kept', false), UnavailableError);
      assert.equal(await read(node, 'lost', true), undefined);
      const inFlightFailed = assert.rejects(
        inFlight,
        (error: Error) => !(error instanceof ProposalDroppedError),
      );
      await node.close();
      await inFlightFailed;
    } finally {
      await node.close();
    }
  });

  it('a state disk with less free space than a write transaction needs raises NOSPACE before LMDB writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-node-'));
    dirs.push(dir);
    await LmdbState.open(join(dir, 'state')).close(); // a state directory in the current format
    // No file system has this much free: the first apply (the leader's empty entry) is refused.
    const { node, state } = await singleMember(
      { stores: memoryNodeStores().stores, dir },
      {},
      { freeBytesMin: Number.MAX_SAFE_INTEGER },
    );
    try {
      await until(() => node.status().alarms.length > 0, 'the alarm');
      assert.deepEqual(node.status().alarms, ['NOSPACE']);
      assert.equal(state.applied, 0, 'nothing was applied');
      await assert.rejects(node.write(put('after', 'x')), NoSpaceError);
    } finally {
      await node.close();
    }
  });

  it('leases: grant with a picked id, keys attached, keep-alive past the TTL, time-to-live, revoke, expiry by the leader', async () => {
    const { node } = await singleMember();
    try {
      await until(() => node.status().role === 'leader', 'leadership');
      const held = await node.leaseGrant(3);
      assert.ok(Number.isSafeInteger(held.id) && held.id > 0, `picked id ${held.id}`);
      assert.equal(held.ttl, 3);
      const dropped = await node.leaseGrant(10, 77);
      assert.equal(dropped.id, 77);
      await assert.rejects(
        node.leaseGrant(10, 77),
        (e: Error) => (e as InvalidArgumentError).details?.['reason'] === 'LEASE_EXISTS',
      );
      await node.write({ type: 'put', request: { key: bytes('held'), value: bytes('1'), lease: held.id } });
      await node.write({ type: 'put', request: { key: bytes('dropped'), value: bytes('1'), lease: 77 } });
      assert.deepEqual(
        await node.leaseList(),
        [77, held.id].sort((a, b) => a - b),
      );

      const ttl = await node.leaseTimeToLive(held.id, true);
      assert.equal(ttl.grantedTtl, 3);
      assert.ok(ttl.ttl > 0 && ttl.ttl <= 3, `ttl ${ttl.ttl}`);
      assert.deepEqual(
        ttl.keys.map((k) => new TextDecoder().decode(k)),
        ['held'],
      );
      assert.deepEqual(await node.leaseTimeToLive(12345, false), {
        id: 12345,
        ttl: -1,
        grantedTtl: 0,
        keys: [],
      });

      const revoked = await node.leaseRevoke(77);
      assert.equal(revoked.deleted, 1);
      assert.equal(await read(node, 'dropped', false), undefined);
      await assert.rejects(
        node.leaseKeepAlive(77),
        (e: Error) => (e as InvalidArgumentError).details?.['reason'] === 'LEASE_NOT_FOUND',
      );

      // Kept alive for more than twice its TTL, the lease and its key stay.
      const keptUntil = Date.now() + 7000;
      while (Date.now() < keptUntil) {
        assert.deepEqual(await node.leaseKeepAlive(held.id), {
          revision: node.status().revision,
          id: held.id,
          ttl: 3,
        });
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(await read(node, 'held', false), '1');
      // Left alone, it expires: the leader's lessor proposes the revoke, and the key goes with it.
      const deadline = Date.now() + 15_000;
      while ((await read(node, 'held', false)) !== undefined) {
        if (Date.now() > deadline) throw new Error('the lease did not expire');
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(await node.leaseList(), []);
      assert.equal((await node.leaseTimeToLive(held.id, false)).ttl, -1);
    } finally {
      await node.close();
    }
  });

  it('a watch replaying history it finds nothing for in a step goes on reading without waiting for a write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-node-'));
    dirs.push(dir);
    const fresh = memoryNodeStores();
    const self = { name: 'solo', peer: '127.0.0.1:1', client: '127.0.0.1:2', http: '127.0.0.1:3' };
    const node = await TesseraNode.start({
      self,
      initialCluster: new Map([[self.name, self.peer]]),
      initialClusterState: 'new',
      stores: fresh.stores,
      // Each replay step visits 2 records: the target's event lies many empty steps away.
      state: LmdbState.open(join(dir, 'state'), { hub: { replayRecordsPerStepMax: 2 } }),
      logger: new RecordingLogger(),
      tickMs: 5,
    });
    const stop = new AbortController();
    try {
      await until(() => node.status().role === 'leader', 'leadership');
      for (let i = 0; i < 20; i++) await node.write(put(`other${i}`, 'x'));
      const { response } = await node.write(put('target', 'found'));
      const { revision } = response as { revision: number };
      const stream = node.watch({ key: bytes('target'), startRevision: 1 }, false, stop.signal);
      await stream.next(); // created
      // No write from here on: only the replay itself can bring the event.
      const timeout = setTimeout(() => stop.abort(), 5_000);
      const next = await stream.next();
      clearTimeout(timeout);
      assert.equal(stop.signal.aborted, false, 'the replay stalled until the watch was stopped');
      const events = next.done === true ? [] : next.value.events;
      assert.deepEqual(
        events.map((event) => [new TextDecoder().decode(event.kv.value), event.kv.modRevision]),
        [['found', revision]],
      );
      await stream.return(undefined);
    } finally {
      stop.abort();
      await node.close();
    }
  });
});
