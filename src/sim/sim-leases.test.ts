import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Entry } from '../raft/types.ts';
import { encodeRequest } from './kv-machine.ts';
import type { SimBug } from './sim-config.ts';
import { SimLeases } from './sim-leases.ts';
import { SimMember } from './sim-member.ts';
import type { HistoryOperation } from './simulation.ts';

/** A one-member cluster with its lease driver, stepped tick by tick. */
function singleMember(bugs: readonly SimBug[] = []) {
  let now = 0;
  const history: HistoryOperation[] = [];
  const violations: string[] = [];
  const members = new Map<number, SimMember>();
  const settings = { bugs, snapshotEntries: 1000, checkQuorum: true, snapshotChunkBytes: 1024, lessor: {} };
  const member = new SimMember(1, { voters: [1], learners: [] }, 1, settings, { now: () => now });
  members.set(1, member);
  let requestId = 0;
  let clock = 0;
  const leases = new SimLeases({
    members,
    now: () => now,
    nextRequestId: () => ++requestId,
    nextHistoryTime: () => clock++,
    record: (operation) => history.push(operation),
    violation: (message) => violations.push(message),
  });
  const cluster = {
    member,
    leases,
    history,
    violations,
    /** Called after the driver saw each applied entry. */
    onApplied: (_entry: Entry) => {},
    tick: () => {
      now++;
      member.node?.tick();
      member.process(now, () => 0, sink);
      leases.drive();
    },
    get sink() {
      return sink;
    },
    propose: (command: Parameters<typeof encodeRequest>[0]['command']) =>
      member.node?.propose(encodeRequest({ clientId: 1, requestId: ++requestId, command })),
    now: () => now,
  };
  const sink = {
    send: () => {},
    applied: (...args: Parameters<SimLeases['applied']>) => {
      leases.applied(...args);
      cluster.onApplied(args[1]);
    },
    readState: () => {},
  };
  return cluster;
}

describe('SimMember lessor', () => {
  it('leads only once its member has applied the first entry of the term it leads', () => {
    const cluster = singleMember();
    const { member } = cluster;
    while (member.leadingLessor() === undefined) cluster.tick();
    cluster.propose({ op: 'grant', lease: 5, ttl: 2 });
    // The grant's entry reaches the disk; the commit index after it does not (its sync is still running).
    const syncTicks = [0, 5];
    member.process(cluster.now(), () => syncTicks.shift() ?? 5, cluster.sink);
    assert.equal(member.machine.leaseCount, 0, 'not applied yet');
    // After a restart the member leads a new term, and commits and applies the grant under it.
    member.crash(cluster.now(), 1);
    member.restart();
    const seen: string[] = [];
    cluster.onApplied = (entry) => {
      const raft = member.node?.raft;
      if (raft?.role !== 'leader') return;
      const kind = entry.data.length === 0 && entry.term === raft.term ? 'own empty entry' : 'earlier entry';
      seen.push(`${kind}: ${member.leadingLessor() === undefined ? 'follows' : 'leads'}`);
    };
    for (let i = 0; i < 40 && member.leadingLessor() === undefined; i++) cluster.tick();
    assert.ok(seen.length >= 2, `entries applied while leading: ${seen.length}`);
    assert.deepEqual(seen.slice(0, -1), seen.slice(0, -1).fill('earlier entry: follows'));
    assert.equal(seen.at(-1), 'own empty entry: leads');
    assert.equal(member.lessor.size, 1, 'the lease granted in the earlier term is tracked');
    assert.ok(member.lessor.expiresAtMs(5) !== undefined);
  });

  it('under lease-expire-on-follower, leads before the member leads anything', () => {
    assert.equal(singleMember().member.lessor.leading, false);
    const { member } = singleMember(['lease-expire-on-follower']);
    assert.equal(member.lessor.leading, true);
    assert.equal(member.leadingLessor(), undefined, 'keep-alives still need the leader');
  });
});

describe('SimLeases', () => {
  it('revokes an abandoned lease through the log and records the expiry in the history', () => {
    const { member, history, violations, tick, propose, now } = singleMember();
    while (member.leadingLessor() === undefined) tick();
    propose({ op: 'grant', lease: 5, ttl: 2 });
    propose({ op: 'leasePut', key: 'k', value: 'v', lease: 5 });
    const grantedAt = now();
    for (let i = 0; i < 40; i++) tick();
    assert.equal(member.machine.leaseCount, 0);
    assert.deepEqual(member.machine.execute({ op: 'get', key: 'k' }), { value: undefined });
    const expiry = history.find((operation) => operation.input.op === 'expire');
    assert.deepEqual(expiry?.input, { op: 'expire', lease: 5 });
    assert.ok(expiry !== undefined && expiry.call < expiry.ret);
    assert.deepEqual(violations, []);
    assert.ok(grantedAt + 20 <= now());
  });

  it('flags an expiry decided before an acknowledged promise of its lease ran out', () => {
    const { member, leases, violations, tick, propose, now } = singleMember();
    while (member.leadingLessor() === undefined) tick();
    propose({ op: 'grant', lease: 5, ttl: 2 });
    tick();
    // As if a keep-alive had been acknowledged without renewing the lessor: a TTL of 10 s promised.
    leases.promised(5, now(), 10, true);
    for (let i = 0; i < 40; i++) tick();
    assert.equal(violations.length, 1);
    assert.match(violations[0] ?? '', /^lease safety: member 1 decided at tick \d+ that lease 5 had expired/);
    assert.deepEqual(leases.stats, { granted: 0, keptAlive: 1, keptAliveBatches: 0, revoked: 0, expired: 1 });
  });
});
