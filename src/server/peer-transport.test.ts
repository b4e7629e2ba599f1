import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { RecordingLogger } from '../base/logger.ts';
import { type Message, MessageType, message, type NodeId } from '../raft/types.ts';
import { RpcServer } from '../transport/rpc-server.ts';
import { PeerService } from './api.ts';
import { messageBytes, PeerTransport } from './peer-transport.ts';

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
    propose: () => ({ index: 0, output: null }),
  });
  servers.push(server);
  const address = await server.listen('127.0.0.1:0');
  return { address, batches, release: () => release() };
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
  it('sends in order, one batch in flight, batching what queued meanwhile', async () => {
    const peer = await recordingPeer();
    const transport = new PeerTransport({
      selfId: 1,
      selfAddress: '127.0.0.1:1',
      logger: new RecordingLogger(),
      onUnreachable: () => assert.fail('nothing should be dropped'),
    });
    transport.setPeers(new Map([[2, peer.address]]));
    transport.send([append(2, 10)]);
    await until(() => peer.batches.length === 1);
    transport.send([append(2, 11), append(2, 12)]);
    transport.send([append(2, 13)]);
    peer.release();
    await until(() => peer.batches.length === 2);
    assert.deepEqual(
      peer.batches.map((batch) => batch.map((m) => m.entries[0]?.data.length)),
      [[10], [11, 12, 13]],
    );
    peer.release();
    transport.close();
  });

  it('drops past the queue limit and reports the peer unreachable, instead of buffering without bound', async () => {
    const peer = await recordingPeer();
    const dropped: Message[] = [];
    const queueBytesMax = 3 * messageBytes(append(2, 1000));
    const transport = new PeerTransport({
      selfId: 1,
      selfAddress: '127.0.0.1:1',
      logger: new RecordingLogger(),
      onUnreachable: (id, lost) => {
        assert.equal(id, 2);
        dropped.push(...lost);
      },
      queueBytesMax,
    });
    transport.setPeers(new Map([[2, peer.address]]));
    transport.send([append(2, 1000)]);
    await until(() => peer.batches.length === 1);
    // The first batch is held by the peer: the next messages queue, up to the limit.
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
      selfId: 1,
      selfAddress: '127.0.0.1:1',
      logger: new RecordingLogger(),
      onUnreachable: (id) => lost.push(id),
    });
    transport.setPeers(new Map([[3, '127.0.0.1:1']]));
    transport.send([append(3, 1)]);
    await until(() => lost.length > 0);
    assert.deepEqual(lost, [3]);
    transport.close();
  });
});
