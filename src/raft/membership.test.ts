import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError, NotLeaderError, UnavailableError } from '../base/errors.ts';
import {
  type ConfChange,
  ConfChangeType,
  decodeConfChange,
  encodeConfChange,
  nextConfState,
} from './conf-change.ts';
import { appliedTexts, TestNetwork } from './test-network.ts';
import { EntryType, MessageType } from './types.ts';

const change = (type: ConfChangeType, nodeId: number, context = new Uint8Array(0)): ConfChange => ({
  type,
  nodeId,
  context,
});

/** Proposes a change at `leader` and settles; throws what the proposal throws. */
function changeMembership(network: TestNetwork, leader: number, cc: ConfChange): number {
  const index = network.member(leader).node.proposeConfChange(cc);
  network.settle();
  return index;
}

describe('membership change rules (thesis §4.1, one server at a time)', () => {
  it('encodes and decodes a change with its context', () => {
    const cc = change(ConfChangeType.addLearner, 2 ** 40 + 3, new Uint8Array([1, 2, 3]));
    assert.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
    assert.throws(() => decodeConfChange(new Uint8Array([1, 2])), InvalidArgumentError);
    assert.throws(() => decodeConfChange(new Uint8Array(10).fill(9)), InvalidArgumentError);
  });

  it('adds, promotes, demotes and removes; refuses what makes no sense', () => {
    const start = { voters: [1, 2, 3], learners: [] };
    assert.deepEqual(nextConfState(start, change(ConfChangeType.addLearner, 4)), {
      voters: [1, 2, 3],
      learners: [4],
    });
    assert.deepEqual(
      nextConfState({ voters: [1, 2, 3], learners: [4] }, change(ConfChangeType.addVoter, 4)),
      {
        voters: [1, 2, 3, 4],
        learners: [],
      },
    );
    assert.deepEqual(nextConfState(start, change(ConfChangeType.addLearner, 3)), {
      voters: [1, 2],
      learners: [3],
    });
    assert.deepEqual(nextConfState(start, change(ConfChangeType.remove, 2)), {
      voters: [1, 3],
      learners: [],
    });
    for (const bad of [
      change(ConfChangeType.addVoter, 1),
      change(ConfChangeType.remove, 9),
      change(ConfChangeType.addVoter, 0),
      change(ConfChangeType.addVoter, 1.5),
      change(ConfChangeType.addLearner, 5, new Uint8Array(64 * 1024 + 1)),
    ]) {
      assert.ok(nextConfState(start, bad) instanceof InvalidArgumentError, JSON.stringify(bad.nodeId));
    }
    assert.ok(
      nextConfState({ voters: [1], learners: [] }, change(ConfChangeType.remove, 1)) instanceof
        InvalidArgumentError,
      'the last voter stays',
    );
  });
});

describe('Raft membership changes (thesis §4)', () => {
  it('a learner catches up without voting, then is promoted and counts toward the quorum (§4.2.1)', () => {
    const network = new TestNetwork(3, 1);
    network.elect(1);
    for (let i = 0; i < 5; i++) network.propose(1, `before-${i}`);
    const learner = network.addMember(4);
    changeMembership(network, 1, change(ConfChangeType.addLearner, 4));
    network.tick(2);
    assert.deepEqual(network.member(1).node.raft.confState(), { voters: [1, 2, 3], learners: [4] });
    assert.deepEqual(learner.node.raft.confState(), { voters: [1, 2, 3], learners: [4] });
    assert.deepEqual(appliedTexts(learner).slice(0, 5), [
      'before-0',
      'before-1',
      'before-2',
      'before-3',
      'before-4',
    ]);
    assert.equal(learner.node.raft.promotable(), false);

    // A learner does not count: with two voters cut off, nothing commits even though the learner has it.
    network.isolate(2);
    network.isolate(3);
    const leader = network.member(1).node.raft;
    const committedBefore = leader.log.committed;
    network.propose(1, 'needs-a-voter');
    assert.equal(leader.log.committed, committedBefore, 'a learner ack must not commit');
    network.heal();
    network.tick(2);
    assert.ok(leader.log.committed > committedBefore);

    changeMembership(network, 1, change(ConfChangeType.addVoter, 4));
    network.tick(1);
    assert.deepEqual(leader.confState(), { voters: [1, 2, 3, 4], learners: [] });
    assert.equal(learner.node.raft.promotable(), true);
    // Now 4 voters: 1 and 4 alone are not a majority (3 needed), 1, 2 and 4 are.
    network.isolate(3);
    network.isolate(2);
    const committedWithTwo = leader.log.committed;
    network.propose(1, 'two-of-four');
    assert.equal(leader.log.committed, committedWithTwo);
    network.heal();
    network.isolate(3);
    network.tick(2);
    assert.ok(leader.log.committed > committedWithTwo, 'leader, 2 and the promoted 4 are a quorum of four');
  });

  it('a removed follower stops counting and stops receiving; the cluster goes on with the rest', () => {
    const network = new TestNetwork(5, 2);
    network.elect(1);
    changeMembership(network, 1, change(ConfChangeType.remove, 5));
    network.tick(1);
    const leader = network.member(1).node.raft;
    assert.deepEqual(leader.voters(), [1, 2, 3, 4]);
    assert.equal(network.member(5).node.raft.promotable(), false, 'member 5 applied its own removal');
    const applied5 = network.member(5).applied.length;
    network.propose(1, 'after-removal');
    assert.equal(network.member(5).applied.length, applied5, 'a removed member gets no more entries');
    // The removed member never campaigns, however long it waits.
    network.isolate(5);
    network.tick(50);
    assert.equal(network.member(5).node.raft.role, 'follower');
    assert.deepEqual(network.leaders(), [1]);
  });

  it('a leader that removes itself steps down once the change is applied, and the rest elect a leader (§4.2.2)', () => {
    const network = new TestNetwork(3, 3);
    network.elect(1);
    changeMembership(network, 1, change(ConfChangeType.remove, 1));
    assert.notEqual(network.member(1).node.raft.role, 'leader');
    network.tick(40);
    const leaders = network.leaders();
    assert.equal(leaders.length, 1);
    assert.ok(leaders[0] === 2 || leaders[0] === 3, `leader ${leaders}`);
    assert.deepEqual(network.member(leaders[0] as number).node.raft.voters(), [2, 3]);
    network.propose(leaders[0] as number, 'two-voters');
    assert.ok(appliedTexts(network.member(2)).includes('two-voters'));
    assert.ok(!appliedTexts(network.member(1)).includes('two-voters'));
  });

  it('one change at a time: a second change waits until the first is applied', () => {
    const network = new TestNetwork(3, 4);
    network.elect(1);
    network.addMember(4);
    network.addMember(5);
    network.isolate(2);
    network.isolate(3);
    network.member(1).node.proposeConfChange(change(ConfChangeType.addLearner, 4));
    network.settle();
    assert.throws(
      () => network.member(1).node.proposeConfChange(change(ConfChangeType.addLearner, 5)),
      (error) => error instanceof UnavailableError && /not applied yet/.test(error.message),
    );
    network.heal();
    network.tick(2);
    changeMembership(network, 1, change(ConfChangeType.addLearner, 5));
    assert.deepEqual(network.member(1).node.raft.learners(), [4, 5]);
  });

  it('a new leader changes membership only after committing an entry of its term (the single-server fix)', () => {
    const network = new TestNetwork(3, 5);
    network.elect(1);
    network.propose(1, 'x');
    // Member 2 wins the next term, but its no-op cannot commit.
    network.isolate(1);
    const m3 = network.member(3).node.raft;
    m3.becomeFollower(m3.term, 0); // forget leader 1 at once instead of waiting out its lease
    // No acknowledgement reaches the new leader, so its no-op cannot commit.
    network.filter = (m) => (m.type === MessageType.appendResponse ? undefined : m);
    network.elect(2);
    const leader2 = network.member(2).node.raft;
    assert.equal(leader2.role, 'leader');
    assert.throws(
      () => leader2.proposeConfChange(change(ConfChangeType.remove, 3)),
      (error) => error instanceof UnavailableError,
    );
    assert.equal(
      leader2.log.term(leader2.log.committed) === leader2.term,
      false,
      'the no-op of term 2 is not committed',
    );
    network.filter = undefined;
    network.heal();
    network.tick(2);
    assert.equal(leader2.log.term(leader2.log.committed), leader2.term);
    changeMembership(network, 2, change(ConfChangeType.remove, 3));
    assert.deepEqual(leader2.voters(), [1, 2]);
  });

  it('refuses a change that is not allowed, on the leader, with nothing appended; followers say NOT_LEADER', () => {
    const network = new TestNetwork(3, 6);
    network.elect(1);
    const leader = network.member(1).node;
    const lastIndex = leader.raft.log.lastIndex();
    assert.throws(() => leader.proposeConfChange(change(ConfChangeType.remove, 7)), InvalidArgumentError);
    assert.throws(() => leader.proposeConfChange(change(ConfChangeType.addVoter, 2)), InvalidArgumentError);
    assert.equal(leader.raft.log.lastIndex(), lastIndex);
    assert.throws(
      () => network.member(2).node.proposeConfChange(change(ConfChangeType.addLearner, 4)),
      (error) => error instanceof NotLeaderError && error.leaderHint === 1,
    );
  });

  it('a member restarted from a snapshot taken after a change keeps that membership', () => {
    const network = new TestNetwork(3, 7);
    network.elect(1);
    network.addMember(4);
    changeMembership(network, 1, change(ConfChangeType.addLearner, 4));
    network.tick(1);
    const follower = network.member(2);
    const applied = follower.node.raft.log.applied;
    const entry = follower.applied.find((e) => e.type === EntryType.confChange);
    assert.ok(entry !== undefined, 'the change reached member 2 as a confChange entry');
    const snapshot = follower.storage.createSnapshot(
      applied,
      follower.node.raft.confState(),
      new Uint8Array(),
    );
    assert.deepEqual(snapshot.metadata.confState, { voters: [1, 2, 3], learners: [4] });
  });
});

describe('Raft leadership transfer (thesis §3.10)', () => {
  it('hands leadership to an up-to-date voter at once, in a new term', () => {
    const network = new TestNetwork(3, 11);
    network.elect(1);
    const term = network.member(1).node.raft.term;
    network.member(1).node.transferLeadership(3);
    network.settle();
    assert.deepEqual(network.leaders(), [3]);
    assert.equal(network.member(3).node.raft.term, term + 1);
    network.propose(3, 'from-3');
    for (const member of network.members.values()) assert.ok(appliedTexts(member).includes('from-3'));
  });

  it('catches a lagging transferee up first, and refuses proposals meanwhile', () => {
    const network = new TestNetwork(3, 12);
    network.elect(1);
    network.isolate(3);
    for (let i = 0; i < 5; i++) network.propose(1, `e${i}`);
    const leader = network.member(1).node;
    network.filter = (m) => (m.type === MessageType.timeoutNow ? undefined : m);
    leader.transferLeadership(3);
    network.settle();
    assert.equal(leader.raft.leadTransferee, 3);
    assert.throws(() => leader.propose(new Uint8Array([1])), UnavailableError);
    network.filter = undefined;
    network.heal();
    network.tick(1);
    assert.deepEqual(network.leaders(), [3]);
    assert.deepEqual(appliedTexts(network.member(3)).slice(0, 5), ['e0', 'e1', 'e2', 'e3', 'e4']);
  });

  it('is abandoned after an election timeout when the transferee does not answer', () => {
    const network = new TestNetwork(3, 13);
    network.elect(1);
    network.isolate(3);
    const leader = network.member(1).node;
    leader.transferLeadership(3);
    network.settle();
    assert.equal(leader.raft.leadTransferee, 3);
    network.tick(10);
    assert.equal(leader.raft.leadTransferee, 0);
    assert.deepEqual(network.leaders(), [1]);
    network.propose(1, 'accepted-again');
  });

  it('a follower passes the request to the leader; a learner or unknown target is refused', () => {
    const network = new TestNetwork(3, 14);
    network.elect(1);
    network.member(2).node.transferLeadership(2);
    network.settle();
    assert.deepEqual(network.leaders(), [2]);
    network.addMember(4);
    changeMembership(network, 2, change(ConfChangeType.addLearner, 4));
    assert.throws(() => network.member(2).node.transferLeadership(4), InvalidArgumentError);
    assert.throws(() => network.member(2).node.transferLeadership(9), InvalidArgumentError);
  });

  it('works with check-quorum on: the transferee’s vote requests pass the leader-stickiness check', () => {
    const network = new TestNetwork(5, 15, { checkQuorum: true });
    network.elect(1);
    network.tick(3);
    network.member(1).node.transferLeadership(4);
    network.settle();
    assert.deepEqual(network.leaders(), [4]);
  });
});
