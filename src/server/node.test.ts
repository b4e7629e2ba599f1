import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { NoSpaceError, ProposalDroppedError, UnavailableError } from '../base/errors.ts';
import { RecordingLogger } from '../base/logger.ts';
import { TesseraNode } from './node.ts';
import { LmdbState } from './state.ts';
import { memoryNodeStores } from './test-node-stores.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A single-member cluster on memory stores whose log sync can be made to fail like a full disk. */
async function singleMember(): Promise<{ node: TesseraNode; failSync: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-node-'));
  dirs.push(dir);
  const { stores, fillDisk } = memoryNodeStores();
  const self = { name: 'solo', peer: '127.0.0.1:1', client: '127.0.0.1:2', http: '127.0.0.1:3' };
  const node = await TesseraNode.start({
    self,
    initialCluster: new Map([[self.name, self.peer]]),
    initialClusterState: 'new',
    stores,
    state: LmdbState.open(join(dir, 'state')),
    logger: new RecordingLogger(),
    tickMs: 5,
  });
  return { node, failSync: fillDisk };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('TesseraNode', () => {
  it('a single member elects itself, applies writes and serves linearizable reads', async () => {
    const { node } = await singleMember();
    try {
      await until(() => node.status().role === 'leader', 'leadership');
      const { output } = await node.write({ op: 'put', key: 'a', value: '1' });
      assert.deepEqual(output, {});
      assert.deepEqual(await node.write({ op: 'cas', key: 'a', expected: '1', value: '2' }), {
        index: node.status().applied,
        output: { ok: true },
      });
      assert.equal((await node.read('a', false)).value, '2');
    } finally {
      await node.close();
    }
  });

  it('a failed WAL sync (ENOSPC) raises an alarm, refuses writes with NO_SPACE, keeps serializable reads', async () => {
    const { node, failSync } = await singleMember();
    try {
      await until(() => node.status().role === 'leader', 'leadership');
      await node.write({ op: 'put', key: 'kept', value: 'yes' });
      failSync();
      // The write in flight when the disk fills is never acknowledged: it fails or times out, never succeeds.
      const inFlight = node.write({ op: 'put', key: 'lost', value: 'no' });
      await until(() => node.status().alarms.length > 0, 'the alarm');
      assert.deepEqual(node.status().alarms, ['NOSPACE']);
      await assert.rejects(node.write({ op: 'put', key: 'after', value: 'x' }), NoSpaceError);
      assert.equal((await node.read('kept', true)).value, 'yes');
      await assert.rejects(node.read('kept', false), UnavailableError);
      assert.equal((await node.read('lost', true)).value, undefined);
      await node.close();
      await assert.rejects(inFlight, (error: Error) => !(error instanceof ProposalDroppedError));
    } finally {
      await node.close();
    }
  });
});
