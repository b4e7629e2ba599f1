import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LimitExceededError, NotLeaderError } from '../base/errors.ts';
import { SeededRandom } from '../base/random.ts';
import { MemoryStorage } from './memory-storage.ts';
import { RAFT_BUGS, type RaftBug } from './raft.ts';
import { RawNode } from './raw-node.ts';
import { SNAPSHOT_SILENT_ROUNDS } from './snapshot-transfer.ts';
import { appliedTexts, TestNetwork } from './test-network.ts';
import { MessageType, message } from './types.ts';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('Raft election (thesis §3.4)', () => {
  it('a 3-member cluster elects exactly one leader by ticking, and all agree on it', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const network = new TestNetwork(3, seed);
      network.tick(30);
      const leaders = network.leaders();
      assert.equal(leaders.length, 1, `seed ${seed}: leaders ${leaders}`);
      const leader = leaders[0] as number;
      const term = network.member(leader).node.raft.term;
      for (const member of network.members.values()) {
        assert.equal(
          member.node.raft.lead,
          leader,
          `seed ${seed}: member ${member.id} follows ${member.node.raft.lead}`,
        );
        assert.equal(member.node.raft.term, term);
      }
    }
  });

  it('a candidate whose log is behind cannot win (election restriction, §3.6.1)', () => {
    const network = new TestNetwork(3, 1);
    network.elect(1);
    network.isolate(3);
    network.propose(1, 'a');
    network.heal();
    // Member 3 missed 'a'; 1 and 2 refuse it their votes, so its campaign fails.
    network.isolate(1);
    const m3 = network.member(3).node.raft;
    const m2 = network.member(2).node.raft;
    m2.becomeFollower(m2.term, 0); // forget the leader, so only the log decides
    network.member(3).node.campaign();
    network.settle();
    assert.notEqual(m3.role, 'leader');
  });

  it('a member votes at most once per term (§3.4)', () => {
    const network = new TestNetwork(3, 1, { preVote: false });
    network.member(1).node.campaign();
    network.member(2).node.campaign();
    // Both ran for term 1; member 3 grants only the first request it sees.
    network.settle();
    const term1Leaders = network.leaders().filter((id) => network.member(id).node.raft.term === 1);
    assert.ok(term1Leaders.length <= 1, `two leaders in term 1: ${term1Leaders}`);
  });
});

describe('Raft pre-vote (thesis §9.6)', () => {
  it('an isolated member does not inflate its term, and rejoining does not depose the leader', () => {
    const network = new TestNetwork(3, 7);
    network.elect(1);
    const term = network.member(1).node.raft.term;
    network.isolate(3);
    network.tick(100);
    assert.equal(
      network.member(3).node.raft.term,
      term,
      'pre-vote keeps the isolated member in the old term',
    );
    network.heal();
    network.tick(5);
    assert.deepEqual(network.leaders(), [1]);
    assert.equal(network.member(1).node.raft.term, term);
  });

  it('without pre-vote the same isolation bumps the term and disrupts the leader (the check can fail)', () => {
    const network = new TestNetwork(3, 7, { preVote: false, checkQuorum: false });
    network.elect(1);
    const term = network.member(1).node.raft.term;
    network.isolate(3);
    network.tick(100);
    assert.ok(network.member(3).node.raft.term > term);
    network.heal();
    network.tick(50);
    assert.ok(network.member(1).node.raft.term > term, 'the rejoining member forced a new term');
  });
});

describe('Raft check-quorum (thesis §6.2)', () => {
  it('a leader cut off from the majority steps down within two election timeouts', () => {
    const network = new TestNetwork(3, 3);
    network.elect(1);
    network.isolate(1);
    network.tick(20);
    assert.notEqual(network.member(1).node.raft.role, 'leader');
    const leaders = network.leaders();
    assert.equal(leaders.length, 1);
    assert.notEqual(leaders[0], 1, 'the majority elected a new leader');
  });

  it('a leader with a live majority keeps leading', () => {
    const network = new TestNetwork(3, 3);
    network.elect(1);
    network.isolate(3);
    network.tick(50);
    assert.equal(network.member(1).node.raft.role, 'leader');
  });
});

describe('Raft log replication (thesis §3.5)', () => {
  it('every member applies the same entries in the same order', () => {
    const network = new TestNetwork(5, 2);
    network.elect(1);
    for (let i = 0; i < 20; i++) network.propose(1, `v${i}`);
    const expected = Array.from({ length: 20 }, (_, i) => `v${i}`);
    for (const member of network.members.values()) assert.deepEqual(appliedTexts(member), expected);
  });

  it('a follower that missed entries catches up, and its conflicting uncommitted suffix is replaced', () => {
    const network = new TestNetwork(3, 4);
    network.elect(1);
    network.propose(1, 'committed');
    // Leader 1 takes proposals while cut off: they never commit.
    network.isolate(1);
    network.member(1).node.propose(text('lost-1'));
    network.member(1).node.propose(text('lost-2'));
    network.settle();
    // 2 and 3 elect a new leader once their election timeouts pass, and commit other entries at the same indexes.
    network.tick(30);
    const leader = network.leaders().find((id) => id !== 1);
    assert.ok(leader !== undefined, 'the majority elected a leader');
    network.propose(leader, 'won-1');
    network.propose(leader, 'won-2');
    network.heal();
    network.tick(5);
    for (const member of network.members.values()) {
      assert.deepEqual(appliedTexts(member), ['committed', 'won-1', 'won-2'], `member ${member.id}`);
    }
  });

  it('streams many entries to a follower in bounded appends (pipelining, in-flight window)', () => {
    const network = new TestNetwork(3, 5, { appendBytesMax: 64, inflightMessagesMax: 4 });
    network.elect(1);
    let largest = 0;
    network.filter = (m) => {
      if (m.type === MessageType.append) largest = Math.max(largest, m.entries.length);
      return m;
    };
    network.isolate(3);
    for (let i = 0; i < 50; i++) network.propose(1, `e${i}`);
    network.heal();
    network.tick(3);
    assert.equal(appliedTexts(network.member(3)).length, 50);
    assert.ok(largest <= 3, `an append carried ${largest} entries past appendBytesMax`);
  });
});

describe('Raft commitment (thesis §3.6.2, Figure 3.7)', () => {
  it('an old-term entry on a majority is not committed by counting until a current-term entry is', () => {
    const network = new TestNetwork(3, 8);
    network.elect(1);
    const noop = network.member(1).node.raft.log.lastIndex();
    const old = noop + 1;
    // Entry `old` of the first leader's term reaches member 1 only; then everyone forgets the leader.
    network.isolate(1);
    network.member(1).node.propose(text('old'));
    network.settle();
    for (const member of network.members.values()) {
      member.node.raft.becomeFollower(member.node.raft.term, 0);
    }
    network.heal();
    // Member 1 wins a new term (its log is the most up to date). Appends carry nothing past `old`,
    // so 'old' reaches member 2 but the new term's no-op does not.
    const oldTerm = network.member(1).node.raft.term;
    network.filter = (m) =>
      m.type === MessageType.append ? { ...m, entries: m.entries.filter((entry) => entry.index <= old) } : m;
    network.elect(1);
    const leader = network.member(1).node.raft;
    assert.equal(leader.role, 'leader');
    assert.ok(leader.term > oldTerm);
    assert.equal(
      network.member(2).node.raft.log.term(old),
      oldTerm,
      'entry `old` of the earlier term is on a majority (members 1 and 2)',
    );
    assert.equal(leader.log.committed, noop, 'an old-term entry must not commit by counting replicas');
    network.filter = undefined;
    network.tick(2);
    assert.ok(
      leader.log.committed >= old + 1,
      'once the current-term no-op replicates, everything up to it commits',
    );
    assert.deepEqual(appliedTexts(network.member(2)), ['old']);
  });
});

describe('Raft persistence ordering (thesis §10.2.1)', () => {
  it('a leader sends appends before persisting, but commits only what its own disk holds', () => {
    const storage = new MemoryStorage({ voters: [1], learners: [] });
    const node = new RawNode({ id: 1, storage, random: new SeededRandom(1) });
    node.ready(); // applies the bootstrap membership
    node.advance();
    node.campaign();
    let ready = node.ready();
    storage.append(ready.entries);
    if (ready.hardState) storage.setHardState(ready.hardState);
    node.advance();
    const index = node.propose(text('x'));
    ready = node.ready();
    assert.equal(node.raft.log.committed < index, true, 'not committed before its own write is durable');
    assert.equal(
      ready.committedEntries.some((entry) => entry.index === index),
      false,
    );
    storage.append(ready.entries);
    node.advance();
    ready = node.ready();
    assert.ok(
      ready.committedEntries.some((entry) => entry.index === index),
      'committed once persisted',
    );
    node.advance();
  });

  it('append acknowledgements and votes wait for persistence; leader appends do not', () => {
    const network = new TestNetwork(3, 9);
    network.elect(1);
    const follower = network.member(2).node;
    const leader = network.member(1).node;
    leader.propose(text('x'));
    const leaderReady = leader.ready();
    assert.ok(leaderReady.messages.some((m) => m.type === MessageType.append));
    assert.equal(leaderReady.messagesAfterPersist.length, 0);
    const append = leaderReady.messages.find((m) => m.type === MessageType.append && m.to === 2);
    assert.ok(append);
    follower.step(append);
    const followerReady = follower.ready();
    assert.equal(followerReady.messages.length, 0);
    assert.ok(followerReady.messagesAfterPersist.some((m) => m.type === MessageType.appendResponse));
    follower.advance();
    leader.advance();
  });
});

describe('Raft ReadIndex (thesis §6.4)', () => {
  it('the leader confirms a read with a quorum and returns its commit index', () => {
    const network = new TestNetwork(3, 13);
    network.elect(1);
    network.propose(1, 'a');
    const committed = network.member(1).node.raft.log.committed;
    network.member(1).node.readIndex(text('r1'));
    network.settle();
    assert.deepEqual(network.member(1).readStates, [{ index: committed, context: text('r1') }]);
  });

  it('a follower forwards the read to the leader and gets the read point back', () => {
    const network = new TestNetwork(3, 13);
    network.elect(1);
    network.propose(1, 'a');
    network.member(3).node.readIndex(text('r2'));
    network.settle();
    assert.deepEqual(network.member(3).readStates, [
      { index: network.member(1).node.raft.log.committed, context: text('r2') },
    ]);
  });

  it('a leader cut off from the quorum confirms no read', () => {
    const network = new TestNetwork(3, 13, { checkQuorum: false });
    network.elect(1);
    network.isolate(1);
    network.member(1).node.readIndex(text('r3'));
    network.tick(5);
    assert.deepEqual(network.member(1).readStates, []);
    network.heal();
    network.tick(2);
    assert.equal(network.member(1).readStates.length, 1, 'once reachable, the heartbeat round confirms it');
  });

  it('a follower that knows no leader refuses with NOT_LEADER', () => {
    const network = new TestNetwork(3, 13);
    assert.throws(() => network.member(2).node.readIndex(text('r4')), NotLeaderError);
  });
});

describe('Raft proposals', () => {
  it('a follower refuses a proposal with NOT_LEADER naming the leader', () => {
    const network = new TestNetwork(3, 10);
    network.elect(2);
    assert.throws(
      () => network.member(1).node.propose(text('x')),
      (error: unknown) => error instanceof NotLeaderError && error.leaderHint === 2,
    );
  });

  it('a leader without quorum stops accepting proposals past uncommittedBytesMax', () => {
    const network = new TestNetwork(3, 11, { uncommittedBytesMax: 100, checkQuorum: false });
    network.elect(1);
    network.isolate(1);
    const node = network.member(1).node;
    let accepted = 0;
    assert.throws(() => {
      for (let i = 0; i < 100; i++) {
        node.propose(new Uint8Array(30));
        accepted++;
      }
    }, LimitExceededError);
    assert.ok(
      accepted >= 3 && accepted <= 4,
      `accepted ${accepted} proposals of 30 bytes under a 100-byte limit`,
    );
    network.heal();
    network.tick(3);
    network.settle();
    // Once they commit, the budget is free again.
    node.propose(new Uint8Array(30));
  });
});

describe('Raft snapshots (thesis §5)', () => {
  it("a lost final acknowledgement is recovered: resending the last chunk draws the follower's commit index", () => {
    const network = new TestNetwork(3, 12);
    network.elect(1);
    network.isolate(3);
    for (let i = 0; i < 5; i++) network.propose(1, `s${i}`);
    const leader = network.member(1);
    const applied = leader.node.raft.log.applied;
    leader.storage.createSnapshot(applied, { voters: [1, 2, 3], learners: [] }, text('state'));
    leader.storage.compact(applied);
    network.heal();
    let snapshotSent = false;
    let dropped = false;
    network.filter = (m) => {
      if (m.type === MessageType.snapshot && m.to === 3) snapshotSent = true;
      if (snapshotSent && !dropped && m.from === 3 && m.type === MessageType.appendResponse) {
        dropped = true;
        return undefined;
      }
      return m;
    };
    // The leader resends after SNAPSHOT_SILENT_ROUNDS heartbeat rounds without an acknowledgement.
    network.tick(SNAPSHOT_SILENT_ROUNDS + 3);
    assert.equal(dropped, true, 'the scenario lost the acknowledgement of the snapshot');
    assert.notEqual(
      leader.node.raft.progress.get(3)?.state,
      'snapshot',
      'the leader learned the snapshot landed',
    );
    network.propose(1, 'after');
    assert.deepEqual(appliedTexts(network.member(3)), ['after']);
  });

  it('sends a snapshot in bounded chunks, resending after lost chunks and acknowledgements (Figure 13)', () => {
    const network = new TestNetwork(3, 16, { snapshotChunkBytes: 7, snapshotChunksInflight: 3 });
    network.elect(1);
    network.isolate(3);
    for (let i = 0; i < 5; i++) network.propose(1, `c${i}`);
    const leader = network.member(1);
    const applied = leader.node.raft.log.applied;
    const state = text('0123456789'.repeat(10));
    leader.storage.createSnapshot(applied, { voters: [1, 2, 3], learners: [] }, state);
    leader.storage.compact(applied);
    network.heal();
    let chunks = 0;
    let largest = 0;
    let count = 0;
    network.filter = (m) => {
      if (m.type === MessageType.snapshot) {
        chunks++;
        largest = Math.max(largest, m.snapshot?.data.length ?? 0);
      }
      // Lose every third chunk and every fourth acknowledgement.
      if (m.type === MessageType.snapshot && ++count % 3 === 0) return undefined;
      if (m.type === MessageType.snapshotResponse && count % 4 === 0) return undefined;
      return m;
    };
    network.tick(60);
    const follower = network.member(3);
    assert.equal(follower.storage.snapshot().metadata.index, applied);
    assert.deepEqual(follower.storage.snapshotWithData().data, state);
    assert.ok(largest <= 7, `a chunk carried ${largest} bytes`);
    assert.ok(chunks >= 15, `${chunks} chunks for 100 bytes at 7 per chunk`);
    network.filter = undefined;
    network.propose(1, 'after');
    assert.deepEqual(appliedTexts(follower), ['after']);
  });

  it('without loss, a pipelined transfer sends each chunk once', () => {
    const network = new TestNetwork(3, 18, { snapshotChunkBytes: 7, snapshotChunksInflight: 3 });
    network.elect(1);
    network.isolate(3);
    for (let i = 0; i < 5; i++) network.propose(1, `p${i}`);
    const leader = network.member(1);
    const applied = leader.node.raft.log.applied;
    leader.storage.createSnapshot(applied, { voters: [1, 2, 3], learners: [] }, text('z'.repeat(100)));
    leader.storage.compact(applied);
    network.heal();
    const offsets: number[] = [];
    network.filter = (m) => {
      if (m.type === MessageType.snapshot) offsets.push(m.snapshot?.offset ?? -1);
      return m;
    };
    network.tick(3);
    assert.equal(network.member(3).storage.snapshot().metadata.index, applied);
    assert.deepEqual(
      offsets,
      Array.from({ length: 15 }, (_, i) => i * 7),
      'each chunk once, in order',
    );
  });

  it('a follower that lost a partial snapshot (restart) asks for it from the start', () => {
    const network = new TestNetwork(3, 17, { snapshotChunkBytes: 10, snapshotChunksInflight: 1 });
    network.elect(1);
    network.isolate(3);
    for (let i = 0; i < 3; i++) network.propose(1, `r${i}`);
    const leader = network.member(1);
    const applied = leader.node.raft.log.applied;
    leader.storage.createSnapshot(applied, { voters: [1, 2, 3], learners: [] }, text('x'.repeat(50)));
    leader.storage.compact(applied);
    network.heal();
    // Deliver the first chunk only, then "restart" member 3: it forgets what it received.
    const acks: number[] = [];
    network.filter = (m) => {
      if (m.type === MessageType.snapshotResponse) acks.push(m.snapshot?.offset ?? -1);
      return m.type === MessageType.snapshot && (m.snapshot?.offset ?? 0) > 0 ? undefined : m;
    };
    network.tick(2);
    const storage3 = network.member(3).storage;
    const restarted = new RawNode({ id: 3, storage: storage3, random: new SeededRandom(3) });
    network.members.set(3, { ...network.member(3), node: restarted });
    network.filter = (m) => {
      if (m.type === MessageType.snapshotResponse) acks.push(m.snapshot?.offset ?? -1);
      return m;
    };
    network.tick(SNAPSHOT_SILENT_ROUNDS + 10);
    assert.ok(acks.includes(10), 'the first member 3 held 10 bytes');
    assert.ok(acks.lastIndexOf(0) > acks.indexOf(10), `after the restart it asked for offset 0: ${acks}`);
    assert.equal(storage3.snapshot().metadata.index, applied);
  });

  it('no chunk is taken after a completed snapshot until advance (simulator seed 583)', () => {
    const storage = new MemoryStorage({ voters: [1, 2, 3], learners: [] });
    const follower = new RawNode({ id: 3, storage, random: new SeededRandom(583) });
    const confState = { voters: [1, 2, 3], learners: [] };
    const chunk = (index: number, offset: number, bytes: string, totalBytes: number) =>
      message({
        type: MessageType.snapshot,
        from: 1,
        to: 3,
        term: 5,
        snapshot: {
          metadata: { index, term: 5, confState },
          offset,
          length: bytes.length,
          totalBytes,
          data: text(bytes),
        },
      });
    follower.step(chunk(100, 0, 'ab', 4));
    follower.step(chunk(100, 2, 'cd', 4)); // completes snapshot 100
    follower.step(chunk(200, 0, 'wx', 4)); // a newer transfer, before the Ready is taken
    const ready = follower.ready();
    assert.equal(ready.snapshot?.metadata.index, 100);
    assert.deepEqual(
      ready.snapshotChunks.map((c) => `${c.metadata.index}@${c.offset}`),
      ['100@0', '100@2'],
      "the completed snapshot's chunks end the Ready",
    );
    follower.advance();
    follower.step(chunk(200, 0, 'wx', 4));
    assert.deepEqual(
      follower.ready().snapshotChunks.map((c) => `${c.metadata.index}@${c.offset}`),
      ['200@0'],
    );
  });

  it('a follower behind the compacted log catches up from a snapshot', () => {
    const network = new TestNetwork(3, 12);
    network.elect(1);
    network.isolate(3);
    for (let i = 0; i < 10; i++) network.propose(1, `s${i}`);
    const leader = network.member(1);
    const applied = leader.node.raft.log.applied;
    leader.storage.createSnapshot(applied, { voters: [1, 2, 3], learners: [] }, text(`state@${applied}`));
    leader.storage.compact(applied);
    network.heal();
    network.tick(5);
    const follower = network.member(3);
    assert.equal(follower.storage.snapshot().metadata.index, applied);
    assert.deepEqual(new TextDecoder().decode(follower.storage.snapshotWithData().data), `state@${applied}`);
    assert.equal(follower.node.raft.log.applied, applied, 'an installed snapshot counts as applied');
    network.propose(1, 'after');
    assert.deepEqual(appliedTexts(follower), ['after']);
  });
});

/** Scenarios that return whether the safety property they watch held. */
const scenarios: Record<string, (bugs: readonly RaftBug[]) => boolean> = {
  /** §3.6.2: an old-term entry on a majority stays uncommitted until a current-term entry is. */
  'commit-old-term-by-count': (bugs) => {
    const network = new TestNetwork(3, 8, { bugs });
    network.elect(1);
    network.isolate(1);
    const oldIndex = network.member(1).node.propose(text('old'));
    network.settle();
    for (const member of network.members.values()) member.node.raft.becomeFollower(member.node.raft.term, 0);
    network.heal();
    network.filter = (m) =>
      m.type === MessageType.append
        ? { ...m, entries: m.entries.filter((entry) => entry.index <= oldIndex) }
        : m;
    network.elect(1);
    return network.member(1).node.raft.log.committed < oldIndex;
  },
  /** §3.4: at most one leader per term. */
  'vote-twice-in-term': (bugs) => {
    const network = new TestNetwork(3, 1, { preVote: false, bugs });
    network.member(1).node.campaign();
    network.member(2).node.campaign();
    network.settle();
    return network.leaders().filter((id) => network.member(id).node.raft.term === 1).length <= 1;
  },
  /** §3.6: nothing commits without a majority. */
  'commit-without-quorum': (bugs) => {
    const network = new TestNetwork(3, 2, { bugs, checkQuorum: false });
    network.elect(1);
    const before = network.member(1).node.raft.log.committed;
    network.isolate(1);
    network.propose(1, 'alone');
    return network.member(1).node.raft.log.committed === before;
  },
  /** §10.2.1: an acknowledgement leaves only after the write it promises is durable. */
  'ack-before-persist': (bugs) => {
    const network = new TestNetwork(3, 9, { bugs });
    network.elect(1);
    network.member(1).node.propose(text('x'));
    const append = network
      .member(1)
      .node.ready()
      .messages.find((m) => m.type === MessageType.append && m.to === 2);
    network.member(1).node.advance();
    if (append === undefined) throw new Error('scenario broken: no append to member 2');
    network.member(2).node.step(append);
    const ready = network.member(2).node.ready();
    network.member(2).node.advance();
    return !ready.messages.some((m) => m.type === MessageType.appendResponse);
  },
  /** §6.4: a deposed leader that does not know it yet serves no read. */
  'read-without-quorum-check': (bugs) => {
    const network = new TestNetwork(3, 14, { bugs, checkQuorum: false });
    network.elect(1);
    network.isolate(1);
    network.tick(30);
    const leader = network.leaders().find((id) => id !== 1);
    if (leader === undefined) throw new Error('scenario broken: the majority elected no leader');
    network.propose(leader, 'newer');
    network.member(1).node.readIndex(text('stale?'));
    network.settle();
    return network.member(1).readStates.length === 0;
  },
  /** §3.5: a follower's conflicting suffix is replaced, so every member applies the same entries. */
  'skip-truncate-on-conflict': (bugs) => {
    const network = new TestNetwork(3, 4, { bugs });
    network.elect(1);
    network.propose(1, 'committed');
    network.isolate(1);
    network.member(1).node.propose(text('lost-1'));
    network.settle();
    network.tick(30);
    const leader = network.leaders().find((id) => id !== 1) as number;
    network.propose(leader, 'won-1');
    network.heal();
    network.tick(5);
    const logs = [...network.members.values()].map((member) => appliedTexts(member).join(','));
    return new Set(logs).size === 1;
  },
};

describe('Raft deliberate bugs (the checks can fail)', () => {
  it('RAFT_BUGS each have a scenario', () => {
    assert.deepEqual(Object.keys(scenarios).sort(), [...RAFT_BUGS].sort());
  });
  for (const [bug, scenario] of Object.entries(scenarios)) {
    it(`${bug}: the scenario is safe without the bug and caught with it`, () => {
      assert.equal(scenario([]), true, 'safe without the bug');
      // Caught means: the watched property broke, or checkInvariants() stopped the run first.
      let caught: boolean;
      try {
        caught = !scenario([bug as RaftBug]);
      } catch (error) {
        caught = error instanceof Error && error.message.includes('invariant broken');
      }
      assert.equal(caught, true, 'the bug must be caught');
    });
  }
});
