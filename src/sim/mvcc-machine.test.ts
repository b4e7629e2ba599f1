import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LeaseChange } from '../kv/kv-machine.ts';
import { encodeRequest, type KvCommand, type LeaseCheckpointCommand } from './kv-machine.ts';
import { encodeCompaction, MvccMachine } from './mvcc-machine.ts';

let requestId = 0;
const entry = (command: KvCommand | LeaseCheckpointCommand) =>
  encodeRequest({ clientId: 1, requestId: ++requestId, command });

describe('MvccMachine', () => {
  it('gives get, put, delete and compare-and-set their simulator semantics on the MVCC store', () => {
    const machine = new MvccMachine();
    assert.deepEqual(machine.execute({ op: 'get', key: 'k' }), { value: undefined });
    assert.deepEqual(machine.apply(entry({ op: 'cas', key: 'k', expected: 'x', value: 'a' }))?.output, {
      ok: false,
    });
    assert.deepEqual(machine.apply(entry({ op: 'cas', key: 'k', expected: undefined, value: 'a' }))?.output, {
      ok: true,
    });
    assert.deepEqual(machine.apply(entry({ op: 'cas', key: 'k', expected: undefined, value: 'b' }))?.output, {
      ok: false,
    });
    assert.deepEqual(machine.apply(entry({ op: 'cas', key: 'k', expected: 'a', value: 'c' }))?.output, {
      ok: true,
    });
    machine.apply(entry({ op: 'put', key: 'j', value: 'z' }));
    assert.deepEqual(machine.execute({ op: 'get', key: 'k' }), { value: 'c' });
    assert.deepEqual(machine.execute({ op: 'get', key: 'j' }), { value: 'z' });
    assert.deepEqual(machine.apply(entry({ op: 'delete', key: 'k' }))?.output, {});
    assert.deepEqual(machine.execute({ op: 'get', key: 'k' }), { value: undefined });
    assert.deepEqual(machine.apply(entry({ op: 'cas', key: 'k', expected: 'c', value: 'd' }))?.output, {
      ok: false,
    });
    assert.deepEqual(
      machine.apply(entry({ op: 'cas', key: 'k', expected: undefined, value: 'd' }))?.output,
      { ok: true },
      'a deleted key is absent again',
    );
    assert.equal(machine.apply(new Uint8Array(0)), undefined, 'a no-op entry answers nobody');
    machine.checkInvariants();
  });

  it('gives the lease calls their semantics and tells the lessor of every lease change', () => {
    const changes: LeaseChange[] = [];
    const machine = new MvccMachine({ onLease: (change) => changes.push(change) });
    const output = (command: KvCommand | LeaseCheckpointCommand) => machine.apply(entry(command))?.output;
    assert.deepEqual(
      output({ op: 'grant', lease: 7, ttl: 1 }),
      { ok: true, ttl: 2 },
      'raised to the minimum',
    );
    assert.deepEqual(output({ op: 'grant', lease: 7, ttl: 5 }), { ok: false }, 'the id is in use');
    assert.deepEqual(output({ op: 'leasePut', key: 'a', value: '1', lease: 7 }), { ok: true });
    assert.deepEqual(output({ op: 'leasePut', key: 'b', value: '2', lease: 8 }), { ok: false }, 'no lease 8');
    assert.deepEqual(machine.execute({ op: 'get', key: 'b' }), { value: undefined });
    assert.deepEqual(
      output({
        op: 'checkpoint',
        checkpoints: [
          { id: 7, remainingTtl: 1 },
          { id: 8, remainingTtl: 1 },
        ],
      }),
      {
        ok: true,
      },
    );
    assert.equal(machine.leases()[0]?.remainingTtl, 1);
    assert.deepEqual(output({ op: 'keepAlive', lease: 7 }), { ok: true, ttl: 2 });
    assert.equal(machine.leases()[0]?.remainingTtl, 2, 'a keep-alive checkpoints the full TTL');
    const copy = new MvccMachine();
    copy.restore(machine.snapshot());
    assert.equal(copy.fingerprint(), machine.fingerprint(), 'leases travel in the snapshot');
    assert.match(machine.fingerprint(), /leases 7:2\/2\[a\]/);
    assert.deepEqual(output({ op: 'expire', lease: 7 }), { ok: true });
    assert.deepEqual(machine.execute({ op: 'get', key: 'a' }), { value: undefined }, 'its key went with it');
    assert.deepEqual(output({ op: 'revoke', lease: 7 }), { ok: false });
    assert.deepEqual(output({ op: 'keepAlive', lease: 7 }), { ok: false });
    assert.equal(machine.leaseCount, 0);
    assert.notEqual(copy.fingerprint(), machine.fingerprint());
    assert.deepEqual(changes, [
      { type: 'granted', id: 7, ttl: 2 },
      { type: 'checkpointed', id: 7, remainingTtl: 1 },
      { type: 'checkpointed', id: 7, remainingTtl: 2 },
      { type: 'revoked', id: 7 },
    ]);
    machine.checkInvariants();
  });

  it('restores from its snapshot to the same state and revision', () => {
    const machine = new MvccMachine();
    for (let i = 0; i < 50; i++) machine.apply(entry({ op: 'put', key: `k${i % 7}`, value: `v${i}` }));
    const copy = new MvccMachine();
    copy.restore(machine.snapshot());
    copy.checkInvariants();
    assert.equal(copy.fingerprint(), machine.fingerprint());
    copy.apply(entry({ op: 'put', key: 'k0', value: 'after' }));
    assert.notEqual(copy.fingerprint(), machine.fingerprint());
    copy.restore(new Uint8Array(0));
    assert.deepEqual(copy.execute({ op: 'get', key: 'k0' }), { value: undefined });
  });

  it('applies compaction entries; one already done or past the current revision changes nothing', () => {
    const machine = new MvccMachine();
    for (let i = 0; i < 20; i++) machine.apply(entry({ op: 'put', key: `k${i % 3}`, value: `v${i}` }));
    const before = machine.fingerprint();
    assert.equal(machine.apply(encodeCompaction(10)), undefined, 'a compaction answers nobody');
    assert.equal(machine.compactRevision, 10);
    assert.equal(machine.fingerprint(), before, 'current values are untouched');
    machine.apply(encodeCompaction(8));
    machine.apply(encodeCompaction(machine.revision + 5));
    assert.equal(machine.compactRevision, 10, 'refused alike on every member');
    machine.checkInvariants();
    const copy = new MvccMachine();
    copy.restore(machine.snapshot());
    assert.equal(copy.fingerprint(), machine.fingerprint());
    assert.equal(copy.compactRevision, 10);
    const uncompacted = new MvccMachine();
    for (let i = 0; i < 20; i++) uncompacted.apply(entry({ op: 'put', key: `k${i % 3}`, value: `v${i}` }));
    assert.ok(
      machine.snapshot().length < uncompacted.snapshot().length,
      'the image leaves out the history compaction freed',
    );
  });
});
