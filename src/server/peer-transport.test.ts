import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ConnectionLostError, NotLeaderError } from '../base/errors.ts';
import { RecordingLogger } from '../base/logger.ts';
import { type Message, MessageType, message, type NodeId } from '../raft/types.ts';
import { RpcServer } from '../transport/rpc-server.ts';
import { type PeerItem, PeerService, type ProposeAnswer } from './api.ts';
import {
  messageBytes,
  PEER_FORWARD_BATCH_MAX,
  PEER_STREAM_WINDOW,
  PeerTransport,
  takeForwardBatch,
} from './peer-transport.ts';

const servers: RpcServer[] = [];
after(async () => {
  for (const server of servers) await server.close({ graceMs: 10 });
});

/** A peer that records batches, and holds each answer until released. */
async function recordingPeer(): Promise<{ address: string; batches: Message[][]; release: () => void }> {
  const batches: Message[][] = [];
  let release: () => void = () => {};
  let gate = new Promise<void>((resolve) => (release = resolve));
  const server = new RpcServer({ logger: new RecordingLogger() });
  server.register(PeerService, {
    send: async ({ messages }) => {
      batches.push(messages);
      await gate;
      gate = new Promise<void>((resolve) => (release = resolve));
      return null;
    },
    attach: (_request, context) => waitForAbort(context.signal),
    propose: () => ({ index: 0, output: null }),
    proposeResults: () => null,
  });
  servers.push(server);
  const address = await server.listen('127.0.0.1:0');
  return { address, batches, release: () => release() };
}

/** A stream that sends nothing and ends when the call does. */
async function* waitForAbort(signal: AbortSignal): AsyncGenerator<PeerItem> {
  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
}

/** Options every transport in these tests shares. */
function baseOptions(selfId: NodeId) {
  return {
    selfId,
    selfAddress: '127.0.0.1:1',
    logger: new RecordingLogger(),
    onMessages: () => assert.fail('no messages come back here'),
    onPropose: () => assert.fail('no proposals come here'),
  };
}

const append = (to: NodeId, bytes: number): Message =>
  message({
    type: MessageType.append,
    from: 1,
    to,
    term: 1,
    entries: [{ term: 1, index: 1, type: 0, data: new Uint8Array(bytes) }],
  });

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('PeerTransport', () => {
  it('sends in order, up to PEER_STREAM_WINDOW batches in flight, batching what queued behind a full window', async () => {
    const peer = await recordingPeer();
    const transport = new PeerTransport({
      ...baseOptions(1),
      onUnreachable: () => assert.fail('nothing should be dropped'),
    });
    transport.setPeers(new Map([[2, peer.address]]));
    // Each send leaves at once, unanswered batches notwithstanding, until the window is full.
    for (let i = 0; i < PEER_STREAM_WINDOW; i++) transport.send([append(2, 10 + i)]);
    await until(() => peer.batches.length === PEER_STREAM_WINDOW);
    transport.send([append(2, 20), append(2, 21)]);
    transport.send([append(2, 22)]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(peer.batches.length, PEER_STREAM_WINDOW, 'a full window holds the rest back');
    peer.release();
    await until(() => peer.batches.length === PEER_STREAM_WINDOW + 1);
    assert.deepEqual(
      peer.batches.map((batch) => batch.map((m) => m.entries[0]?.data.length)),
      [...Array.from({ length: PEER_STREAM_WINDOW }, (_, i) => [10 + i]), [20, 21, 22]],
    );
    peer.release();
    transport.close();
  });

  it('drops past the queue limit and reports the peer unreachable, instead of buffering without bound', async () => {
    const peer = await recordingPeer();
    const dropped: Message[] = [];
    const queueBytesMax = 3 * messageBytes(append(2, 1000));
    const transport = new PeerTransport({
      ...baseOptions(1),
      onUnreachable: (id, lost) => {
        assert.equal(id, 2);
        dropped.push(...lost);
      },
      queueBytesMax,
    });
    transport.setPeers(new Map([[2, peer.address]]));
    transport.send([append(2, 1000)]);
    await until(() => peer.batches.length === 1);
    // The messages of one send queue before any leaves, up to the limit.
    transport.send(Array.from({ length: 5 }, () => append(2, 1000)));
    assert.equal(dropped.length, 2, 'three fit in the queue, two are dropped');
    peer.release();
    await until(() => peer.batches.length === 2);
    assert.equal(peer.batches[1]?.length, 3);
    peer.release();
    transport.close();
  });

  it('reports a batch that failed (peer down) as unreachable', async () => {
    const lost: NodeId[] = [];
    const transport = new PeerTransport({
      ...baseOptions(1),
      onUnreachable: (id) => lost.push(id),
    });
    transport.setPeers(new Map([[3, '127.0.0.1:1']]));
    transport.send([append(3, 1)]);
    await until(() => lost.length > 0);
    assert.deepEqual(lost, [3]);
    transport.close();
  });

  it('one connection per pair: the dialer sends by call, the other member answers on the attach stream, proposals both ways', async () => {
    const [a, b] = await linkedPair();
    a.transport.send([append(2, 5)]);
    await until(() => b.received.length === 1);
    b.transport.send([append(1, 6), append(1, 7)]);
    await until(() => a.received.length === 2);
    assert.deepEqual(
      a.received.map((m) => m.entries[0]?.data.length),
      [6, 7],
    );
    assert.equal(a.transport.dialedCount, 1, 'member 1 dialed');
    assert.equal(b.transport.dialedCount, 0, 'member 2 answers on the same connection');
    assert.deepEqual([...a.callers], [], 'nobody called member 1');
    assert.equal(new Set(b.callers).size, 1, 'every call to member 2 came over one connection');

    // Member 2 forwards to member 1 over the link member 1 dialed: an attach item, answered by a call.
    a.answer = async () => ({ index: 42, output: { response: { revision: 5 } } });
    assert.deepEqual(await b.transport.propose(1, new Uint8Array([1])), {
      index: 42,
      output: { response: { revision: 5 } },
    });
    a.answer = async () => {
      throw new NotLeaderError('Not the leader', { details: { leaderHint: 3 } });
    };
    await assert.rejects(
      b.transport.propose(1, new Uint8Array([2])),
      (error) => error instanceof NotLeaderError && error.leaderHint === 3,
    );
    // Member 1 forwards to member 2 by a plain call on its own connection.
    b.answer = async () => ({ index: 43, output: null });
    assert.deepEqual(await a.transport.propose(2, new Uint8Array([3])), { index: 43, output: null });
    assert.equal(b.transport.dialedCount, 0, 'still one connection');
  });

  it('proposals forwarded over an accepted link in one turn are answered in one call, each with its own outcome', async () => {
    const [a, b] = await linkedPair();
    a.transport.send([append(2, 5)]);
    await until(() => b.received.length === 1);
    a.answer = async (data) => {
      if (data[0] === 3) throw new NotLeaderError('Not the leader', { details: { leaderHint: 2 } });
      return { index: 100 + (data[0] as number), output: null };
    };
    const outcomes = await Promise.allSettled(
      [1, 2, 3, 4, 5].map((n) => b.transport.propose(1, new Uint8Array([n]))),
    );
    assert.deepEqual(
      outcomes.map((o) => (o.status === 'fulfilled' ? o.value.index : (o.reason as Error).name)),
      [101, 102, 'NotLeaderError', 104, 105],
    );
    assert.deepEqual(b.resultCalls, [5]);
  });

  it('an attach item takes the queued proposals up to 256 and the batch byte limit, one at least', () => {
    const queue = (sizes: number[]) =>
      sizes.map((size, requestId) => ({ requestId, data: new Uint8Array(size) }));
    const sizes = (batch: { data: Uint8Array }[]) => batch.map((p) => p.data.length);
    const small = queue(Array(300).fill(10));
    assert.equal(takeForwardBatch(small, 1 << 20).length, PEER_FORWARD_BATCH_MAX);
    assert.equal(takeForwardBatch(small, 1 << 20).length, 300 - PEER_FORWARD_BATCH_MAX);
    assert.equal(small.length, 0);
    const large = queue([600, 300, 200, 50]);
    assert.deepEqual(sizes(takeForwardBatch(large, 1000)), [600, 300]);
    assert.deepEqual(sizes(takeForwardBatch(large, 1000)), [200, 50]);
    const huge = queue([5000, 10]);
    assert.deepEqual(sizes(takeForwardBatch(huge, 1000)), [5000]);
    assert.deepEqual(sizes(takeForwardBatch(huge, 1000)), [10]);
  });

  it('outcomes too large for one message together are answered in halves, down to one a call', async () => {
    const [a, b] = await linkedPair();
    a.transport.send([append(2, 5)]);
    await until(() => b.received.length === 1);
    // Five outcomes of 1.5 MiB pass the 4 MiB message limit together, two do not: 5 → 3 + 2 → (2 + 1) + 2.
    const value = 'v'.repeat(1.5 * 1024 * 1024);
    a.answer = async (data) => ({ index: data[0] as number, output: { response: { value } } });
    const answers = await Promise.all(
      [1, 2, 3, 4, 5].map((n) => b.transport.propose(1, new Uint8Array([n]))),
    );
    assert.deepEqual(
      answers.map((answer) => [
        answer.index,
        (answer.output as { response: { value: string } }).response.value.length,
      ]),
      [1, 2, 3, 4, 5].map((n) => [n, value.length]),
    );
    assert.deepEqual(b.resultCalls.toSorted(), [1, 2, 2]);
  });

  it('a forwarded proposal already sent when the member closes has an unknown outcome, not a safe retry', async () => {
    // The leader (member 1) holds the proposal: it may still apply it after member 2 is gone.
    const { b, forwarded } = await proposalHeldByLeader();
    b.transport.close();
    await assert.rejects(forwarded, ConnectionLostError);
  });

  it('a proposal forwarded over an accepted link fails as soon as that link closes: the leader may be gone, the outcome is unknown', async () => {
    const { a, forwarded } = await proposalHeldByLeader();
    // Member 1 goes away with the proposal (its connections close). Member 2 learns it from the
    // link, not from PEER_PROPOSE_TIMEOUT_MS later (that would reject with DeadlineExceededError).
    a.transport.close();
    await assert.rejects(
      forwarded,
      (error) => error instanceof ConnectionLostError && /closed after/.test(error.message),
    );
  });

  it('when both dial at once, the connection the lower id dialed is kept', async () => {
    const [a, b] = await linkedPair();
    a.transport.send([append(2, 1)]);
    b.transport.send([append(1, 2)]);
    await until(() => a.received.length === 1 && b.received.length === 1);
    await until(() => b.transport.dialedCount === 0);
    assert.equal(a.transport.dialedCount, 1);
    b.transport.send([append(1, 3)]);
    a.transport.send([append(2, 4)]);
    await until(() => a.received.length === 2 && b.received.length === 2);
    assert.equal(b.transport.dialedCount, 0, 'member 2 did not dial again');
  });
});

/** Member 2 forwarded a proposal over the link member 1 (the leader) dialed; member 1 holds it unanswered. */
async function proposalHeldByLeader(): Promise<{
  a: LinkedMember;
  b: LinkedMember;
  forwarded: Promise<ProposeAnswer>;
}> {
  const [a, b] = await linkedPair();
  a.transport.send([append(2, 5)]);
  await until(() => b.received.length === 1);
  let arrived = false;
  a.answer = () => {
    arrived = true;
    return new Promise(() => {});
  };
  const forwarded = b.transport.propose(1, new Uint8Array([9]));
  await until(() => arrived);
  return { a, b, forwarded };
}

interface LinkedMember {
  readonly transport: PeerTransport;
  readonly received: Message[];
  /** Remote addresses of the calls this member's server took. */
  readonly callers: string[];
  /** The number of outcomes in each `proposeResults` call this member's server took. */
  readonly resultCalls: number[];
  answer: (data: Uint8Array) => Promise<ProposeAnswer>;
}

/** Members 1 and 2, each with a server wired to its transport, knowing each other's address. */
async function linkedPair(): Promise<[LinkedMember, LinkedMember]> {
  const members: LinkedMember[] = [];
  const addresses: string[] = [];
  for (const id of [1, 2]) {
    const server = new RpcServer({ logger: new RecordingLogger() });
    servers.push(server);
    const address = await server.listen('127.0.0.1:0');
    addresses.push(address);
    const received: Message[] = [];
    const member: LinkedMember = {
      received,
      callers: [],
      resultCalls: [],
      answer: async () => assert.fail('no proposal expected'),
      transport: new PeerTransport({
        selfId: id,
        selfAddress: address,
        logger: new RecordingLogger(),
        onUnreachable: () => {},
        onMessages: (_from, _address, messages) => received.push(...messages),
        onPropose: (data) => member.answer(data),
      }),
    };
    server.register(PeerService, {
      send: ({ messages }, context) => {
        member.callers.push(context.remoteAddress);
        received.push(...messages);
        return null;
      },
      attach: ({ from }, context) => {
        member.callers.push(context.remoteAddress);
        return member.transport.accept(from, context.signal);
      },
      propose: ({ data }, context) => {
        member.callers.push(context.remoteAddress);
        return member.answer(data);
      },
      proposeResults: ({ from, results }, context) => {
        member.callers.push(context.remoteAddress);
        member.resultCalls.push(results.length);
        for (const result of results) member.transport.proposeResult(from, result);
        return null;
      },
    });
    members.push(member);
  }
  const [a, b] = members as [LinkedMember, LinkedMember];
  a.transport.setPeers(new Map([[2, addresses[1] as string]]));
  b.transport.setPeers(new Map([[1, addresses[0] as string]]));
  after(() => {
    a.transport.close();
    b.transport.close();
  });
  return [a, b];
}
