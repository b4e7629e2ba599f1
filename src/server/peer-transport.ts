/**
 * Raft messages between members, on the RPC layer, over **one connection
 * per pair of members**.
 *
 * A link between two members is one RPC connection, dialed by whichever
 * first had something to send. On it the dialer sends its batches as unary
 * `send` calls (one batch in flight; the answer paces the next), and opens
 * one `attach` stream on which the other member sends its batches back as
 * items (the stream's credits pace them). When both dial at once, the
 * connection dialed by the lower member id wins and the other is closed.
 * A follower forwards a proposal over the link too: as a unary `propose`
 * call when it dialed; when the leader did, the proposals queued in a turn
 * go in one `attach` item, and the leader answers those whose outcomes it
 * knows in one turn with one `proposeResults` call.
 *
 * Messages to a peer leave in order, in batches, behind a bounded queue.
 * Raft tolerates lost messages, so a full queue or a failed batch drops
 * messages (and tells the core the peer is unreachable) rather than
 * buffering without bound. Snapshots travel as chunks
 * (`snapshot-transfer.ts`), each an ordinary message, so heartbeats are
 * never stuck behind a whole snapshot.
 *
 * Written here rather than taken from a library: the link needs Raft's
 * loss semantics (drop and report, never block the Raft loop) on top of
 * this package's RPC layer, which no library provides.
 *
 * @module
 */
import {
  ConnectionLostError,
  DeadlineExceededError,
  errorFromWire,
  TesseraError,
  TooLargeError,
  UnavailableError,
} from '../base/errors.ts';
import type { Logger } from '../base/logger.ts';
import { systemRandom } from '../base/random.ts';
import type { Message, NodeId } from '../raft/types.ts';
import { backoffDelayMs } from '../transport/backoff.ts';
import { RpcClient } from '../transport/rpc-client.ts';
import type { ClientStream, ServiceClient } from '../transport/service.ts';
import { type PeerItem, PeerService, type ProposeAnswer, type ProposeResult } from './api.ts';

/** Default most bytes queued for one peer before messages are dropped. */
export const PEER_QUEUE_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
/** Default most bytes in one batch (etcd's `MaxSizePerMsg` is 1 MiB too); a larger single message goes alone. */
export const PEER_BATCH_BYTES_MAX_DEFAULT = 1024 * 1024;
/** How long a batch may take before the peer counts as unreachable. */
export const PEER_SEND_TIMEOUT_MS = 5000;
/**
 * Batches in flight to a peer (each up to the batch limit): on an `attach`
 * stream, and as `send` calls. The receiver returns an `attach` stream's
 * credits every half window, so the window sets how many small writes the
 * credits cost: with 4, a follower forwarding writes from etcd clients drew
 * one credit message for every two proposals. At 32 (and 1 MiB batches,
 * so at most 32 MiB in flight per link, below the queue's own bound),
 * 256 etcd3 clients spread over the members put 5.1k/s against
 * 4.2-4.5k/s with 4 (same-run A/B, two rounds each), and server CPU per
 * put fell from 287-312 to 254-259 µs.
 */
export const PEER_STREAM_WINDOW = 32;
/** How long a forwarded proposal waits for its outcome. */
export const PEER_PROPOSE_TIMEOUT_MS = 10_000;
/** Most forwarded proposals awaiting an answer over accepted links. */
export const PEER_PROPOSALS_PENDING_MAX = 10_000;
/**
 * Most proposals in one `attach` item, and most outcomes in one
 * `proposeResults` call (an item also stops at the batch byte limit).
 * One item and one call for many proposals instead of one each: 256
 * etcd3 clients spread over the members forward two puts in three.
 */
export const PEER_FORWARD_BATCH_MAX = 256;

/**
 * Takes from the front of `queue` the proposals for one `attach` item: up
 * to {@link PEER_FORWARD_BATCH_MAX}, and at most `bytesMax` bytes of data
 * (one proposal at least, however large).
 */
export function takeForwardBatch<T extends { readonly data: Uint8Array }>(queue: T[], bytesMax: number): T[] {
  let count = 0;
  let bytes = 0;
  for (const { data } of queue) {
    if (count === PEER_FORWARD_BATCH_MAX || (count > 0 && bytes + data.length > bytesMax)) break;
    count++;
    bytes += data.length;
  }
  return queue.splice(0, count);
}

/** Bytes a message counts for in the limits. */
export function messageBytes(m: Message): number {
  let bytes = 64 + m.context.length + (m.snapshot?.data.length ?? 0);
  for (const entry of m.entries) bytes += entry.data.length + 24;
  return bytes;
}

/** Our end of a connection we dialed. */
interface Dialed {
  readonly client: RpcClient;
  readonly stub: ServiceClient<typeof PeerService>;
  stream: ClientStream<PeerItem> | undefined;
  closed: boolean;
  /** Outcomes of the peer's forwarded proposals, answered together once the microtask queue drains (a tick). */
  results: ProposeResult[];
}

/** Our end of a connection the peer dialed: its `attach` stream, which we feed. */
interface Accepted {
  wake: (() => void) | undefined;
  ended: boolean;
}

interface Peer {
  readonly id: NodeId;
  readonly address: string;
  queue: Message[];
  queuedBytes: number;
  /** Proposals to forward as `attach` items (accepted links only). */
  proposes: { requestId: number; data: Uint8Array }[];
  dialed: Dialed | undefined;
  accepted: Accepted | undefined;
  /** Batches sent over the dialed link and not yet answered. */
  sending: number;
}

interface PendingProposal {
  readonly peer: NodeId;
  readonly resolve: (answer: ProposeAnswer) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
  /** The accepted link it went out on, once sent. */
  sentOn: Accepted | undefined;
}

export interface PeerTransportOptions {
  readonly selfId: NodeId;
  /** This member's peer address, sent with every batch and attach. */
  readonly selfAddress: string;
  readonly logger: Logger;
  /** A batch to `id` failed or was dropped: the core should stop streaming to it. */
  readonly onUnreachable: (id: NodeId, lost: readonly Message[]) => void;
  /** Messages that came back on a link this member dialed. */
  readonly onMessages: (from: NodeId, address: string, messages: readonly Message[]) => void;
  /** A proposal a peer forwarded over a link it accepted: carry it out and answer. */
  readonly onPropose: (data: Uint8Array) => Promise<ProposeAnswer>;
  /** The bytes queued for a peer changed (metrics). */
  readonly onQueueBytes?: (id: NodeId, bytes: number) => void;
  readonly queueBytesMax?: number;
  /** Mutual TLS: this member's certificate and key, and the CA peers are checked against. */
  readonly tls?: { cert: Buffer; key: Buffer; ca: Buffer } | undefined;
  readonly batchBytesMax?: number;
}

/** Sends Raft messages to peers, one connection per pair. */
export class PeerTransport {
  readonly #options: PeerTransportOptions;
  readonly #peers = new Map<NodeId, Peer>();
  readonly #queueBytesMax: number;
  readonly #batchBytesMax: number;
  readonly #pendingProposals = new Map<number, PendingProposal>();
  #proposeCounter = 0;
  #closed = false;

  constructor(options: PeerTransportOptions) {
    this.#options = options;
    this.#queueBytesMax = options.queueBytesMax ?? PEER_QUEUE_BYTES_MAX_DEFAULT;
    this.#batchBytesMax = options.batchBytesMax ?? PEER_BATCH_BYTES_MAX_DEFAULT;
  }

  /** Makes the peers exactly `addresses` (id → peer `host:port`); links open when there is something to send. */
  setPeers(addresses: ReadonlyMap<NodeId, string>): void {
    for (const [id, peer] of this.#peers) {
      if (addresses.get(id) !== peer.address) this.#removePeer(peer);
    }
    for (const [id, address] of addresses) {
      if (id === this.#options.selfId || this.#peers.has(id)) continue;
      this.#peers.set(id, {
        id,
        address,
        queue: [],
        queuedBytes: 0,
        proposes: [],
        dialed: undefined,
        accepted: undefined,
        sending: 0,
      });
    }
  }

  /** How many connections this member dialed (the rest of its links the peers dialed). */
  get dialedCount(): number {
    let count = 0;
    for (const peer of this.#peers.values()) if (peer.dialed !== undefined) count++;
    return count;
  }

  /** Queues messages for their peers; never blocks. */
  send(messages: readonly Message[]): void {
    if (this.#closed) return;
    const touched = new Set<Peer>();
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
      touched.add(peer);
    }
    for (const peer of touched) {
      this.#options.onQueueBytes?.(peer.id, peer.queuedBytes);
      this.#kick(peer);
    }
  }

  /**
   * Writes the batches queued on dialed links now rather than at the end
   * of this event-loop turn: the Raft loop calls it after handing over a
   * Ready's messages, so that a leader's appends are on the wire before
   * its own WAL write and fdatasync, as etcd's leader sends before it
   * persists. (Items for links the peer dialed leave through their
   * stream, a few microtasks later.)
   */
  flush(): void {
    for (const peer of this.#peers.values()) peer.dialed?.client.flush();
  }

  /**
   * Forwards a proposal to peer `id` (the leader) over the link to it.
   *
   * @throws {UnavailableError} (rejects) when `id` is not a known peer, or
   * too many proposals await answers.
   * @throws {DeadlineExceededError} (rejects) when no answer came in time
   * (the outcome is unknown).
   */
  propose(id: NodeId, data: Uint8Array): Promise<ProposeAnswer> {
    const peer = this.#peers.get(id);
    if (peer === undefined || this.#closed) {
      return Promise.reject(
        new UnavailableError(`Cannot forward the proposal: member ${id} is unknown here`),
      );
    }
    if (this.#route(peer) !== 'accepted') {
      const dialed = peer.dialed ?? this.#dial(peer);
      return dialed.stub.propose({ data }, { timeoutMs: PEER_PROPOSE_TIMEOUT_MS });
    }
    if (this.#pendingProposals.size >= PEER_PROPOSALS_PENDING_MAX) {
      return Promise.reject(
        new UnavailableError(
          `Cannot forward the proposal: ${PEER_PROPOSALS_PENDING_MAX} already await answers`,
        ),
      );
    }
    const requestId = ++this.#proposeCounter;
    return new Promise<ProposeAnswer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pendingProposals.delete(requestId);
        reject(
          new DeadlineExceededError(
            `The proposal forwarded to ${id} had no answer in ${PEER_PROPOSE_TIMEOUT_MS} ms`,
          ),
        );
      }, PEER_PROPOSE_TIMEOUT_MS);
      this.#pendingProposals.set(requestId, { peer: id, resolve, reject, timer, sentOn: undefined });
      peer.proposes.push({ requestId, data });
      peer.accepted?.wake?.();
    });
  }

  /** The answer to a proposal this member forwarded as an `attach` item. */
  proposeResult(from: NodeId, result: ProposeResult): void {
    const pending = this.#pendingProposals.get(result.requestId);
    if (pending === undefined || pending.peer !== from) return;
    this.#pendingProposals.delete(result.requestId);
    clearTimeout(pending.timer);
    if (result.error === null) pending.resolve({ index: result.index, output: result.output });
    else pending.reject(errorFromWire(result.error.code, result.error.message, result.error.details));
  }

  /**
   * Peer `from` dialed us and attached: the stream of what we send it. A
   * newer attach from the same peer ends the older one; when we had dialed
   * it too, the connection dialed by the lower id is kept.
   *
   * @throws {UnavailableError} when `from` is not a known peer.
   */
  accept(from: NodeId, signal: AbortSignal): AsyncIterable<PeerItem> {
    const peer = this.#peers.get(from);
    if (peer === undefined || this.#closed) {
      throw new UnavailableError(`Cannot accept a link from ${from}: not a known member here`);
    }
    this.#endAccepted(peer);
    const accepted: Accepted = { wake: undefined, ended: false };
    peer.accepted = accepted;
    if (peer.dialed !== undefined && from < this.#options.selfId) this.#closeDialed(peer);
    const end = () => {
      accepted.ended = true;
      accepted.wake?.();
    };
    signal.addEventListener('abort', end, { once: true });
    return this.#feed(peer, accepted, () => signal.removeEventListener('abort', end));
  }

  async *#feed(peer: Peer, accepted: Accepted, cleanup: () => void): AsyncGenerator<PeerItem> {
    try {
      while (!accepted.ended && !this.#closed) {
        if (this.#route(peer) === 'accepted') {
          // An item holds proposals or messages, each within the batch byte limit (one at least).
          if (peer.proposes.length > 0) {
            const proposes = takeForwardBatch(peer.proposes, this.#batchBytesMax);
            for (const { requestId } of proposes) {
              const pending = this.#pendingProposals.get(requestId);
              if (pending !== undefined) pending.sentOn = accepted;
            }
            yield { messages: [], proposes };
            continue;
          }
          if (peer.queue.length > 0) {
            yield { messages: this.#takeBatch(peer), proposes: [] };
            continue;
          }
        }
        await new Promise<void>((resolve) => (accepted.wake = resolve));
        accepted.wake = undefined;
      }
    } finally {
      cleanup();
      accepted.ended = true;
      this.#failSentOn(accepted, peer.id);
      if (peer.accepted === accepted) {
        peer.accepted = undefined;
        this.#failProposes(peer, 'the link closed before the proposal was sent');
        if (peer.queue.length > 0 && !this.#closed && this.#peers.get(peer.id) === peer) this.#kick(peer);
      }
    }
  }

  /** Which link carries what we send to `peer` now. */
  #route(peer: Peer): 'dialed' | 'accepted' | undefined {
    if (peer.accepted !== undefined && (peer.dialed === undefined || peer.id < this.#options.selfId)) {
      return 'accepted';
    }
    return peer.dialed === undefined ? undefined : 'dialed';
  }

  #kick(peer: Peer): void {
    if (this.#route(peer) === 'accepted') {
      peer.accepted?.wake?.();
      return;
    }
    if (peer.dialed === undefined) this.#dial(peer);
    this.#pump(peer);
  }

  #dial(peer: Peer): Dialed {
    const { tls, logger } = this.#options;
    const client = new RpcClient({
      address: peer.address,
      logger,
      streamWindow: PEER_STREAM_WINDOW,
      ...(tls === undefined ? {} : { tls }),
    });
    const dialed: Dialed = {
      client,
      stub: client.service(PeerService),
      stream: undefined,
      closed: false,
      results: [],
    };
    peer.dialed = dialed;
    void this.#receive(peer, dialed);
    return dialed;
  }

  /** Reads the `attach` stream of a link we dialed, attaching again (with backoff) while the link lives. */
  async #receive(peer: Peer, dialed: Dialed): Promise<void> {
    const { selfId, selfAddress, logger } = this.#options;
    for (let attempt = 0; !dialed.closed && !this.#closed; attempt++) {
      try {
        const stream = dialed.stub.attach({ from: selfId, address: selfAddress }, { waitForReady: true });
        dialed.stream = stream;
        for await (const item of stream) {
          attempt = 0;
          if (Array.isArray(item?.messages) && item.messages.length > 0) {
            this.#options.onMessages(peer.id, peer.address, item.messages);
          }
          if (Array.isArray(item?.proposes)) {
            for (const propose of item.proposes) void this.#answer(peer, dialed, propose);
          }
        }
      } catch (error) {
        logger.debug({ peer: peer.id, error: (error as Error).message }, 'peer link stream ended');
      }
      if (dialed.closed || this.#closed) return;
      await new Promise((resolve) => setTimeout(resolve, backoffDelayMs(attempt, systemRandom)));
    }
  }

  /** Carries out a proposal the peer forwarded in an item, and answers it on our connection. */
  async #answer(peer: Peer, dialed: Dialed, propose: { requestId: number; data: Uint8Array }): Promise<void> {
    let result: ProposeResult;
    try {
      const answer = await this.#options.onPropose(propose.data);
      result = { requestId: propose.requestId, index: answer.index, output: answer.output, error: null };
    } catch (error) {
      const known = error instanceof TesseraError;
      result = {
        requestId: propose.requestId,
        index: 0,
        output: null,
        error: {
          code: known ? error.code : 'INTERNAL',
          message: (error as Error).message,
          details: known ? error.details : undefined,
        },
      };
    }
    dialed.results.push(result);
    // The outcomes of one apply batch come in one run of the microtask queue; a tick runs after it.
    if (dialed.results.length === 1) process.nextTick(() => this.#sendResults(peer, dialed));
  }

  /** Answers, in calls of up to {@link PEER_FORWARD_BATCH_MAX}, the proposals whose outcomes are known. */
  #sendResults(peer: Peer, dialed: Dialed): void {
    const results = dialed.results;
    dialed.results = [];
    for (let start = 0; start < results.length; start += PEER_FORWARD_BATCH_MAX) {
      this.#sendResultBatch(peer, dialed, results.slice(start, start + PEER_FORWARD_BATCH_MAX));
    }
  }

  #sendResultBatch(peer: Peer, dialed: Dialed, results: ProposeResult[]): void {
    dialed.stub
      .proposeResults({ from: this.#options.selfId, results }, { timeoutMs: PEER_SEND_TIMEOUT_MS })
      .catch((error: unknown) => {
        // Too large for one message together (refused before anything was sent): each half goes on its own.
        if (error instanceof TooLargeError && results.length > 1) {
          const half = Math.ceil(results.length / 2);
          this.#sendResultBatch(peer, dialed, results.slice(0, half));
          this.#sendResultBatch(peer, dialed, results.slice(half));
          return;
        }
        // Unanswered, the forwarder's proposals end at its deadline with their outcome unknown.
        this.#options.logger.debug(
          { peer: peer.id, error: (error as Error).message, proposals: results.length },
          'cannot answer forwarded proposals',
        );
      });
  }

  /**
   * Sends queued batches over the dialed link, up to {@link PEER_STREAM_WINDOW}
   * calls in flight: the peer steps each batch as it arrives, in order (its
   * `send` handler is synchronous), so a batch need not wait for the answer
   * to the one before it, a round trip per batch under light load.
   */
  #pump(peer: Peer): void {
    while (
      peer.queue.length > 0 &&
      peer.sending < PEER_STREAM_WINDOW &&
      !this.#closed &&
      this.#route(peer) === 'dialed'
    ) {
      const dialed = peer.dialed as Dialed;
      const batch = this.#takeBatch(peer);
      peer.sending++;
      dialed.stub
        .send(
          { from: this.#options.selfId, address: this.#options.selfAddress, messages: batch },
          { timeoutMs: PEER_SEND_TIMEOUT_MS },
        )
        .catch((error: unknown) => {
          this.#options.logger.debug({ peer: peer.id, error: (error as Error).message }, 'peer batch failed');
          if (!this.#closed) this.#options.onUnreachable(peer.id, batch);
        })
        .finally(() => {
          peer.sending--;
          this.#pump(peer);
          // The route may have moved to an accepted link meanwhile: it takes what is left.
          if (
            peer.sending === 0 &&
            peer.queue.length > 0 &&
            !this.#closed &&
            this.#route(peer) === 'accepted'
          )
            peer.accepted?.wake?.();
        });
    }
  }

  /** Takes the next batch off the queue: in order, up to the batch limit (at least one message). */
  #takeBatch(peer: Peer): Message[] {
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
    this.#options.onQueueBytes?.(peer.id, peer.queuedBytes);
    return batch;
  }

  #closeDialed(peer: Peer): void {
    const dialed = peer.dialed;
    if (dialed === undefined) return;
    dialed.closed = true;
    dialed.stream?.cancel();
    dialed.client.close();
    peer.dialed = undefined;
  }

  #endAccepted(peer: Peer): void {
    const accepted = peer.accepted;
    if (accepted === undefined) return;
    accepted.ended = true;
    accepted.wake?.();
    peer.accepted = undefined;
  }

  #failProposes(peer: Peer, why: string): void {
    for (const { requestId } of peer.proposes) {
      const pending = this.#pendingProposals.get(requestId);
      if (pending === undefined) continue;
      this.#pendingProposals.delete(requestId);
      clearTimeout(pending.timer);
      // Never sent: certainly not carried out, so safe to retry.
      pending.reject(new UnavailableError(`Cannot forward the proposal to ${peer.id}: ${why}; retry`));
    }
    peer.proposes = [];
  }

  /**
   * Fails the proposals sent over an accepted link that ended: their
   * answers would have come back over its connection, now gone. The
   * leader may still carry them out, so the outcome is unknown; failing
   * now rather than at {@link PEER_PROPOSE_TIMEOUT_MS} lets the caller
   * go to another member at once when the leader died (its process gone,
   * its connections closed by the kernel), as a forward by call fails
   * when its connection drops.
   */
  #failSentOn(accepted: Accepted, id: NodeId): void {
    for (const [requestId, pending] of this.#pendingProposals) {
      if (pending.sentOn !== accepted) continue;
      this.#pendingProposals.delete(requestId);
      clearTimeout(pending.timer);
      pending.reject(
        new ConnectionLostError(
          `The link to ${id} closed after the proposal ${requestId} was forwarded over it and before its answer; it may or may not have been applied`,
        ),
      );
    }
  }

  #removePeer(peer: Peer): void {
    this.#closeDialed(peer);
    this.#endAccepted(peer);
    this.#failProposes(peer, 'it left the peer list');
    this.#peers.delete(peer.id);
  }

  close(): void {
    this.#closed = true;
    for (const peer of [...this.#peers.values()]) this.#removePeer(peer);
    // What is left was sent (unsent ones failed above): the leader may carry it out, so the outcome is unknown.
    for (const [requestId, pending] of this.#pendingProposals) {
      clearTimeout(pending.timer);
      pending.reject(
        new ConnectionLostError(
          `The proposal ${requestId} forwarded to ${pending.peer} was sent, and this member shut down before its answer`,
        ),
      );
    }
    this.#pendingProposals.clear();
  }
}
