/**
 * The leader's view of each follower's log (thesis §3.5, etcd's Progress):
 * how far it matches, what to send next, and how much is in flight.
 *
 * - `probe`: we do not know where the logs agree; send one append per
 *   heartbeat interval and wait for the answer.
 * - `replicate`: the follower is keeping up; stream appends optimistically
 *   (pipelining) within the in-flight window.
 * - `snapshot`: the follower needs entries we compacted; a snapshot is on
 *   its way and nothing else is sent until it lands.
 *
 * @module
 */

import type { SnapshotSender } from './snapshot-transfer.ts';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** Limits on what may be in flight to one follower. */
export interface InflightLimits {
  /** Append messages in flight at most. */
  messagesMax: number;
  /** Entry bytes in flight at most. */
  bytesMax: number;
}

/** One follower's replication state, kept by the leader. */
export class Progress {
  /** Highest index known replicated on the follower. */
  match = 0;
  /** Next index to send. Invariant: match < next. */
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an append was sent and no answer has come since the last heartbeat. */
  probeSent = false;
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** In snapshot state: the chunked transfer under way. */
  snapshotSender: SnapshotSender | undefined;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  isLearner: boolean;
  readonly #limits: InflightLimits;
  // In-flight appends, oldest first: the last index each carried and its bytes.
  #inflightIndexes: number[] = [];
  #inflightBytes: number[] = [];
  #inflightBytesTotal = 0;

  constructor(next: number, isLearner: boolean, limits: InflightLimits) {
    this.next = next;
    this.isLearner = isLearner;
    this.#limits = limits;
  }

  #reset(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotSender = undefined;
    this.state = state;
    this.#inflightIndexes = [];
    this.#inflightBytes = [];
    this.#inflightBytesTotal = 0;
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.#reset('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.#reset('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.#reset('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(sender: SnapshotSender): void {
    this.#reset('snapshot');
    this.pendingSnapshot = sender.index;
    this.snapshotSender = sender;
  }

  /** The follower has entries up to `index`. Returns whether that is news. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * An append to `rejected` was refused; the follower hints its log agrees
   * up to `matchHint`. Returns whether `next` moved back (a stale refusal
   * changes nothing).
   */
  maybeDecreaseTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /** Records an append of entries ending at `lastIndex` with `bytes` of payload. */
  sentEntries(entryCount: number, lastIndex: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.#inflightIndexes.push(lastIndex);
        this.#inflightBytes.push(bytes);
        this.#inflightBytesTotal += bytes;
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** Frees the in-flight slots of appends acknowledged up to `index`. */
  freeInflightsTo(index: number): void {
    let freed = 0;
    while (freed < this.#inflightIndexes.length && (this.#inflightIndexes[freed] as number) <= index) {
      this.#inflightBytesTotal -= this.#inflightBytes[freed] as number;
      freed++;
    }
    if (freed > 0) {
      this.#inflightIndexes = this.#inflightIndexes.slice(freed);
      this.#inflightBytes = this.#inflightBytes.slice(freed);
    }
  }

  /**
   * Frees the oldest in-flight slot. Called on a heartbeat response while the
   * window is full: if appends were lost, this lets one more go out, and the
   * follower's refusal of it resets the stream (etcd does the same).
   */
  freeFirstInflight(): void {
    const first = this.#inflightIndexes[0];
    if (first !== undefined) this.freeInflightsTo(first);
  }

  get inflightCount(): number {
    return this.#inflightIndexes.length;
  }

  /** Whether the in-flight window is full. */
  inflightFull(): boolean {
    return (
      this.#inflightIndexes.length >= this.#limits.messagesMax ||
      this.#inflightBytesTotal >= this.#limits.bytesMax
    );
  }

  /** Whether the leader should hold off sending appends. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflightFull();
      case 'snapshot':
        return true;
    }
  }
}
