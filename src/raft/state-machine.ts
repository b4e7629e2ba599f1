/**
 * The seam between Raft and what it replicates. The simulator's KV machine
 * implements it now; the real `kv/` store will, unchanged for the driver.
 *
 * Implementations must be deterministic: the same entries in the same order
 * give the same results and the same state on every member.
 *
 * @module
 */

/** A replicated state machine. */
export interface StateMachine<Output = unknown> {
  /** Applies one committed entry's data at `index`; returns what the proposer is answered. */
  apply(data: Uint8Array, index: number): Output;
  /** The whole state, for a snapshot. */
  snapshot(): Uint8Array;
  /** Replaces the state with a snapshot's. */
  restore(data: Uint8Array): void;
  /** A short string equal on two members exactly when their states are equal. */
  fingerprint(): string;
}
