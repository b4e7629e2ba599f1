/**
 * runStm against a real one-member cluster (a `tessera start` process,
 * killed by PID).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoordCluster } from '../../test/helpers/coord.ts';
import { LimitExceededError } from '../base/errors.ts';
import { type Client, text } from '../client/index.ts';
import { runStm, type Stm, type StmIsolation } from './stm.ts';

let coord: CoordCluster;
let otherClient: Client;

async function storedText(key: string): Promise<string | undefined> {
  const kv = await coord.client.kv.get(key);
  return kv === undefined ? undefined : text(kv.value);
}

async function readNumber(stm: Stm, key: string): Promise<number> {
  const value = await stm.get(key);
  return value === undefined ? 0 : Number(text(value));
}

/**
 * Runs an STM that reads `read`, lets another client write `conflicting`
 * (on the first attempt only), then writes `written`. Resolves with the
 * number of attempts.
 */
async function attemptsWithConflict(
  isolation: StmIsolation,
  keys: { read: string; conflicting: string; written: string },
): Promise<number> {
  let attempts = 0;
  await runStm(
    coord.client,
    async (stm) => {
      attempts++;
      const seen = await readNumber(stm, keys.read);
      if (attempts === 1) await otherClient.kv.put(keys.conflicting, '100');
      stm.put(keys.written, String(seen + 1));
    },
    { isolation },
  );
  return attempts;
}

describe('runStm on a cluster', { timeout: 60_000 }, () => {
  before(async () => {
    coord = await CoordCluster.start();
    otherClient = await coord.connect();
  });
  after(() => coord?.close());

  it('two clients incrementing one counter 20 times each under serializable end at exactly 40', async () => {
    let attempts = 0;
    const incrementLoop = async (through: Client): Promise<void> => {
      for (let i = 0; i < 20; i++) {
        await runStm(
          through,
          async (stm) => {
            attempts++;
            stm.put('s1/counter', String((await readNumber(stm, 's1/counter')) + 1));
          },
          { isolation: 'serializable', retriesMax: 100 },
        );
      }
    };
    await Promise.all([incrementLoop(coord.client), incrementLoop(otherClient)]);
    assert.equal(await storedText('s1/counter'), '40');
    assert.ok(attempts >= 40);
  });

  it('a write to a key read, between the read and the commit, makes serializable and snapshot retry, not readCommitted', async () => {
    for (const isolation of ['serializable', 'snapshot'] as const) {
      const key = `s2/${isolation}`;
      await coord.client.kv.put(key, '1');
      assert.equal(await attemptsWithConflict(isolation, { read: key, conflicting: key, written: key }), 2);
      // The retry read the conflicting value: no update was lost.
      assert.equal(await storedText(key), '101');
    }
    await coord.client.kv.put('s2/rc', '1');
    assert.equal(
      await attemptsWithConflict('readCommitted', { read: 's2/rc', conflicting: 's2/rc', written: 's2/rc' }),
      1,
    );
    // Read committed overwrote the concurrent write: the update it made is lost.
    assert.equal(await storedText('s2/rc'), '2');
  });

  it('a write to a key only written makes snapshot retry, and not serializable', async () => {
    const keys = { read: 's3/read', conflicting: 's3/written', written: 's3/written' };
    assert.equal(await attemptsWithConflict('serializable', keys), 1);
    assert.equal(await attemptsWithConflict('snapshot', keys), 2);
  });

  it('reads of an attempt are at the revision of its first read; writes are seen by later gets of the attempt', async () => {
    await coord.client.kv.put('s4/x', 'x1');
    await coord.client.kv.put('s4/y', 'y1');
    const seenY: string[] = [];
    const { result, revision } = await runStm(
      coord.client,
      async (stm) => {
        await stm.get('s4/x');
        if (seenY.length === 0) await otherClient.kv.put('s4/y', 'y2');
        seenY.push(text((await stm.get('s4/y')) ?? new Uint8Array()));
        stm.put('s4/z', 'z1');
        assert.equal(text((await stm.get('s4/z')) ?? new Uint8Array()), 'z1');
        stm.del('s4/x');
        assert.equal(await stm.get('s4/x'), undefined);
        assert.ok((await stm.rev('s4/y')) > 0);
        return 'done';
      },
      { isolation: 'serializable', prefetch: ['s4/x'] },
    );
    // The first attempt saw y as of its first read, and its commit failed on it.
    assert.deepEqual(seenY, ['y1', 'y2']);
    assert.equal(result, 'done');
    assert.equal((await coord.client.kv.get('s4/z'))?.modRevision, revision);
    assert.equal(await storedText('s4/x'), undefined);
  });

  it('a commit that keeps conflicting stops after retriesMax retries with LimitExceededError; a throw writes nothing', async () => {
    let attempts = 0;
    await assert.rejects(
      runStm(
        coord.client,
        async (stm) => {
          attempts++;
          await stm.get('s5/key');
          await otherClient.kv.put('s5/key', String(attempts));
          stm.put('s5/out', 'never');
        },
        { isolation: 'serializable', retriesMax: 2 },
      ),
      (error) => {
        assert.ok(error instanceof LimitExceededError);
        assert.match(error.message, /3 attempts/);
        return true;
      },
    );
    assert.equal(attempts, 3);
    await assert.rejects(
      runStm(coord.client, (stm) => {
        stm.put('s5/out', 'never');
        throw new Error('apply failed');
      }),
      /apply failed/,
    );
    assert.equal(await storedText('s5/out'), undefined);
    await assert.rejects(
      runStm(coord.client, () => 1, { retriesMax: -1 }),
      RangeError,
    );
  });
});
