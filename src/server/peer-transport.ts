/**
 * Raft messages between members, on the RPC layer: one client connection
 * per peer, messages to a peer sent in order in batches, at most one batch
 * in flight per peer, and a bounded queue behind it. Raft tolerates lost
 * messages, so a full queue or a failed batch drops messages (and tells the
 * core the peer is unreachable) rather than buffering without bound.
 * Snapshots travel as chunks (`snapshot-transfer.ts`), each an ordinary
 * message, so heartbeats are never stuck behind one.
 *
 * @module
 */
import type { Logger } from '../base/logger.ts';
import type { Message, NodeId } from '../raft/types.ts';
import { RpcClient } from '../transport/rpc-client.ts';
import type { ServiceClient } from '../transport/service.ts';
import { PeerService } from './api.ts';

/** Default most bytes queued for one peer before messages are dropped. */
export const PEER_QUEUE_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
/** Default most bytes in one batch. */
export const PEER_BATCH_BYTES_MAX_DEFAULT = 2 * 1024 * 1024;
/** How long a batch may take before the peer counts as unreachable. */
export const PEER_SEND_TIMEOUT_MS = 5000;

/** Bytes a message counts for in the limits. */
export function messageBytes(m: Message): number {
  let bytes = 64 + m.context.length + (m.snapshot?.data.length ?? 0);
  for (const entry of m.entries) bytes += entry.data.length + 24;
  return bytes;
}

interface Peer {
  readonly address: string;
  readonly client: RpcClient;
  readonly stub: ServiceClient<typeof PeerService>;
  queue: Message[];
  queuedBytes: number;
  sending: boolean;
}

export interface PeerTransportOptions {
  readonly selfId: NodeId;
  /** This member's peer address, sent with every batch. */
  readonly selfAddress: string;
  readonly logger: Logger;
  /** A batch to `id` failed or was dropped: the core should stop streaming to it. */
  readonly onUnreachable: (id: NodeId, lost: readonly Message[]) => void;
  /** The bytes queued for a peer changed (metrics). */
  readonly onQueueBytes?: (id: NodeId, bytes: number) => void;
  readonly queueBytesMax?: number;
  /** Mutual TLS: this member's certificate and key, and the CA peers are checked against. */
  readonly tls?: { cert: Buffer; key: Buffer; ca: Buffer } | undefined;
  readonly batchBytesMax?: number;
}

/** Sends Raft messages to peers. */
export class PeerTransport {
  readonly #options: PeerTransportOptions;
  readonly #peers = new Map<NodeId, Peer>();
  readonly #queueBytesMax: number;
  readonly #batchBytesMax: number;
  #closed = false;

  constructor(options: PeerTransportOptions) {
    this.#options = options;
    this.#queueBytesMax = options.queueBytesMax ?? PEER_QUEUE_BYTES_MAX_DEFAULT;
    this.#batchBytesMax = options.batchBytesMax ?? PEER_BATCH_BYTES_MAX_DEFAULT;
  }

  /** Makes the peers exactly `addresses` (id → peer `host:port`), connecting to new ones. */
  setPeers(addresses: ReadonlyMap<NodeId, string>): void {
    for (const [id, peer] of this.#peers) {
      if (addresses.get(id) !== peer.address) {
        peer.client.close();
        this.#peers.delete(id);
      }
    }
    for (const [id, address] of addresses) {
      if (id === this.#options.selfId || this.#peers.has(id)) continue;
      const { tls, logger } = this.#options;
      const client = new RpcClient({ address, logger, ...(tls === undefined ? {} : { tls }) });
      this.#peers.set(id, {
        address,
        client,
        stub: client.service(PeerService),
        queue: [],
        queuedBytes: 0,
        sending: false,
      });
    }
  }

  /** The RPC client of peer `id`, for forwarded proposals. */
  client(id: NodeId): RpcClient | undefined {
    return this.#peers.get(id)?.client;
  }

  /** Queues messages for their peers; never blocks. */
  send(messages: readonly Message[]): void {
    if (this.#closed) return;
    for (const m of messages) {
      const peer = this.#peers.get(m.to);
      if (peer === undefined) continue; // not (yet) a known member: Raft resends
      const bytes = messageBytes(m);
      if (peer.queuedBytes + bytes > this.#queueBytesMax) {
        this.#options.onUnreachable(m.to, [m]);
        continue;
      }
      peer.queue.push(m);
      peer.queuedBytes += bytes;
    }
    for (const [id, peer] of this.#peers) {
      this.#options.onQueueBytes?.(id, peer.queuedBytes);
      if (!peer.sending && peer.queue.length > 0) void this.#pump(id, peer);
    }
  }

  async #pump(id: NodeId, peer: Peer): Promise<void> {
    peer.sending = true;
    try {
      while (peer.queue.length > 0 && !this.#closed) {
        const batch: Message[] = [];
        let bytes = 0;
        while (peer.queue.length > 0) {
          const next = peer.queue[0] as Message;
          const size = messageBytes(next);
          if (batch.length > 0 && bytes + size > this.#batchBytesMax) break;
          batch.push(next);
          bytes += size;
          peer.queue.shift();
        }
        peer.queuedBytes -= bytes;
        this.#options.onQueueBytes?.(id, peer.queuedBytes);
        try {
          await peer.stub.send(
            { from: this.#options.selfId, address: this.#options.selfAddress, messages: batch },
            { timeoutMs: PEER_SEND_TIMEOUT_MS },
          );
        } catch (error) {
          this.#options.logger.debug({ peer: id, error: (error as Error).message }, 'peer batch failed');
          if (!this.#closed) this.#options.onUnreachable(id, batch);
        }
      }
    } finally {
      peer.sending = false;
    }
  }

  close(): void {
    this.#closed = true;
    for (const peer of this.#peers.values()) peer.client.close();
    this.#peers.clear();
  }
}
