/**
 * A member's Prometheus metrics (prom-client), in a registry of its own so
 * that several members in one process (tests) do not mix.
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The metrics one member exports on `GET /metrics`. */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly proposals = new Counter({
    name: 'tessera_proposals_total',
    help: 'Proposals this member accepted as leader (or forwarded)',
    registers: [this.registry],
  });
  readonly proposalsFailed = new Counter({
    name: 'tessera_proposals_failed_total',
    help: 'Proposals refused or dropped',
    registers: [this.registry],
  });
  readonly commits = new Counter({
    name: 'tessera_committed_entries_total',
    help: 'Log entries seen committed',
    registers: [this.registry],
  });
  readonly applies = new Counter({
    name: 'tessera_applied_entries_total',
    help: 'Log entries applied to the state machine',
    registers: [this.registry],
  });
  readonly fsyncSeconds = new Histogram({
    name: 'tessera_wal_fsync_duration_seconds',
    help: 'Time to make one Ready durable (WAL write and fdatasync)',
    buckets: [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1, 2],
    registers: [this.registry],
  });
  readonly readIndexRounds = new Counter({
    name: 'tessera_read_index_rounds_total',
    help: 'ReadIndex rounds this member started; the linearizable reads that arrived while one waited to start share it',
    registers: [this.registry],
  });
  readonly leaderChanges = new Counter({
    name: 'tessera_leader_changes_total',
    help: 'Times this member saw the leader change',
    registers: [this.registry],
  });
  readonly isLeader = new Gauge({
    name: 'tessera_is_leader',
    help: '1 when this member leads',
    registers: [this.registry],
  });
  readonly term = new Gauge({ name: 'tessera_term', help: 'Current Raft term', registers: [this.registry] });
  readonly peerQueueBytes = new Gauge({
    name: 'tessera_peer_send_queue_bytes',
    help: 'Bytes of Raft messages queued for a peer',
    labelNames: ['peer'],
    registers: [this.registry],
  });
  readonly snapshots = new Counter({
    name: 'tessera_snapshots_total',
    help: 'Snapshots taken here (created), installed from a leader (installed)',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly snapshotChunksSent = new Counter({
    name: 'tessera_snapshot_chunks_sent_total',
    help: 'Snapshot chunks sent to followers',
    registers: [this.registry],
  });
}
