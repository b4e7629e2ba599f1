import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  InvalidArgumentError,
  NoSpaceError,
  ProposalDroppedError,
  UnavailableError,
} from '../base/errors.ts';
import { RecordingLogger } from '../base/logger.ts';
import type { KvCommand } from '../kv/kv-command.ts';
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
      await node.close();
      await assert.rejects(inFlight, (error: Error) => !(error instanceof ProposalDroppedError));
    } finally {
      await node.close();
    }
  });
});
