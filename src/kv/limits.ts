/**
 * Every limit of the KV store, named, with where its value comes from.
 *
 * The first group shapes requests and the snapshot format and is shared with
 * {@link decodeCommand}, so it is fixed. The second group is per store
 * ({@link MvccStoreOptions}); every member of a cluster must use the same
 * values, since the outcome of applying a command depends on them.
 *
 * @module
 */
import { InvalidArgumentError } from '../base/errors.ts';

/**
 * Longest key, in bytes. etcd bounds keys only through the request size;
 * FoundationDB allows 10 kB. 4000 because the disk backend files keys as
 * LMDB keys, at most 4026 bytes with its 8 KiB pages, and its lease-keys
 * table puts 8 bytes before them.
 */
export const KEY_BYTES_MAX = 4000;

/**
 * Largest request: the bytes of every key, range end, value and compare
 * operand of one command added up (etcd's `--max-request-bytes` default,
 * 1.5 MiB). It also bounds a value.
 */
export const REQUEST_BYTES_MAX = 1.5 * 1024 * 1024;

/** Most compares, and most requests in each branch, of one transaction level (etcd's `--max-txn-ops` default). */
export const TXN_OPS_MAX = 128;

/**
 * Most compares and requests of a transaction counted over all its nested
 * transactions. etcd bounds nesting only through the request size; a bound
 * here keeps validating and running one transaction linear and small.
 */
export const TXN_OPS_TOTAL_MAX = 1024;

/** Deepest nesting of transactions (a top-level transaction is depth 1). */
export const TXN_DEPTH_MAX = 8;

/** Most checkpoints in one lease checkpoint command (etcd's `leaseCheckpointLimit`). */
export const LEASE_CHECKPOINTS_MAX = 1000;

/** Most lease ids in one batched keep-alive command (as many as one checkpoint command carries). */
export const LEASE_KEEPALIVES_MAX = LEASE_CHECKPOINTS_MAX;

/** Longest lease TTL, in seconds (etcd's `MaxLeaseTTL`). */
export const LEASE_TTL_SECONDS_MAX = 9_000_000_000;

/**
 * Default shortest lease TTL, in seconds; a shorter grant is raised to it
 * (etcd's `minLeaseTTL`: 1.5 election timeouts, rounded up; 2 s for etcd's
 * default 1 s election timeout). A server sets it from its own timeout.
 */
export const LEASE_TTL_SECONDS_MIN = 2;

/** Default most leases alive at once. etcd has none; every table here has one. */
export const LEASES_MAX = 100_000;

/**
 * Default most keys in one range reply. A reply that would hold more sets
 * `more`, so no reply needs an array as large as the store; the caller reads
 * on from after its last key. (etcd has no such cap: a whole-keyspace read
 * there builds the whole reply.)
 */
export const RANGE_KEYS_PER_PAGE_MAX = 10_000;

/**
 * Default most bytes of keys and values in one range reply; past it the
 * reply is cut and sets `more`, as for {@link RANGE_KEYS_PER_PAGE_MAX}. A
 * reply always holds at least one key when one matched.
 */
export const RANGE_REPLY_BYTES_MAX = 16 * 1024 * 1024;

/**
 * Size a snapshot record grows to before the next one starts. A record is
 * built synchronously (its versions read and encoded) between two writes
 * of the image, so it is what a snapshot holds up the server's loop for:
 * 64 KiB is about a millisecond. (With snapshots of a 24 MB store under
 * way, the p99 of concurrent lease keep-alives was 34-115 ms at 1 MiB,
 * 29-36 ms at 64 KiB, 15-20 ms with no snapshot.)
 */
export const SNAPSHOT_RECORD_BYTES_TARGET = 64 * 1024;

/**
 * Largest snapshot record: a record is closed once past the target, so it
 * passes it by at most one key version (a key and a value) and framing.
 * Give this to `MultiDecoder` when reading an image back.
 */
export const SNAPSHOT_RECORD_BYTES_MAX = SNAPSHOT_RECORD_BYTES_TARGET + REQUEST_BYTES_MAX + 64 * 1024;

/** The per-store limits; each defaults to the constant of the same name. */
export interface MvccStoreOptions {
  /** Shortest lease TTL in seconds, default {@link LEASE_TTL_SECONDS_MIN}. */
  readonly leaseTtlSecondsMin?: number;
  /** Most live leases, default {@link LEASES_MAX}. */
  readonly leasesMax?: number;
  /** Most keys in a range reply, default {@link RANGE_KEYS_PER_PAGE_MAX}. */
  readonly rangeKeysPerPageMax?: number;
  /** Most bytes in a range reply, default {@link RANGE_REPLY_BYTES_MAX}. */
  readonly rangeReplyBytesMax?: number;
}

/** {@link MvccStoreOptions} with every default filled in. */
export type MvccStoreLimits = Required<MvccStoreOptions>;

/**
 * Fills in defaults and checks each limit.
 *
 * @throws {InvalidArgumentError} when a limit is not a positive safe integer,
 * or the TTL minimum passes {@link LEASE_TTL_SECONDS_MAX}.
 */
export function mvccStoreLimits(options: MvccStoreOptions = {}): MvccStoreLimits {
  const limits: MvccStoreLimits = {
    leaseTtlSecondsMin: options.leaseTtlSecondsMin ?? LEASE_TTL_SECONDS_MIN,
    leasesMax: options.leasesMax ?? LEASES_MAX,
    rangeKeysPerPageMax: options.rangeKeysPerPageMax ?? RANGE_KEYS_PER_PAGE_MAX,
    rangeReplyBytesMax: options.rangeReplyBytesMax ?? RANGE_REPLY_BYTES_MAX,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new InvalidArgumentError(
        `Cannot create the MVCC store: ${name} must be a positive integer, got ${value}`,
      );
    }
  }
  if (limits.leaseTtlSecondsMin > LEASE_TTL_SECONDS_MAX) {
    throw new InvalidArgumentError(
      `Cannot create the MVCC store: leaseTtlSecondsMin ${limits.leaseTtlSecondsMin} passes LEASE_TTL_SECONDS_MAX (${LEASE_TTL_SECONDS_MAX})`,
    );
  }
  return limits;
}

/**
 * Most events one history read ({@link MvccStore.eventsSince}) returns: a
 * read is a page, never the whole history, so that catching a watcher up on
 * a long history is done in bounded steps.
 */
export const HISTORY_EVENTS_PER_READ_MAX = 10_000;

/**
 * Most versions of the revision log one history read visits, matching its
 * span or not. A narrow span over a long history stops here with no events
 * yet and a cursor to read on from, so one read's work stays bounded even
 * when few versions match.
 */
export const HISTORY_RECORDS_PER_READ_MAX = 100_000;

/** Default most watchers one hub holds, ended ones whose notice is not taken yet included. etcd has none. */
export const WATCHERS_MAX = 10_000;

/**
 * Default most events waiting in one watcher's buffer. A watcher whose
 * consumer falls this far behind is cancelled with a revision to resume from
 * (see `watch-hub.ts`), so a slow consumer costs a bounded amount of memory.
 */
export const WATCH_EVENTS_BUFFERED_MAX = 4096;

/**
 * Default most bytes (keys, values, previous values and
 * `KEY_VALUE_OVERHEAD_BYTES` per version) waiting in one watcher's buffer.
 * At least one put of the largest request with its previous value must fit,
 * so it is well above twice {@link REQUEST_BYTES_MAX}.
 */
export const WATCH_BUFFER_BYTES_MAX = 8 * 1024 * 1024;

/** Default most events one `take` returns (etcd sends a revision per response; this bounds a response). */
export const WATCH_EVENTS_PER_TAKE_MAX = 1000;

/**
 * Default most versions of the revision log one catch-up step of a watcher
 * starting in the past visits (one step per `take`); at most
 * {@link HISTORY_RECORDS_PER_READ_MAX}.
 */
export const WATCH_REPLAY_RECORDS_PER_STEP_MAX = 10_000;

/** The limits of a watch hub; each defaults to the constant of the same name. */
export interface WatchHubOptions {
  /** Most watchers, default {@link WATCHERS_MAX}. */
  readonly watchersMax?: number;
  /** Most events buffered per watcher, default {@link WATCH_EVENTS_BUFFERED_MAX}. */
  readonly eventsBufferedMax?: number;
  /** Most bytes buffered per watcher, default {@link WATCH_BUFFER_BYTES_MAX}. */
  readonly bufferBytesMax?: number;
  /** Most events per take, default {@link WATCH_EVENTS_PER_TAKE_MAX}; at most `eventsBufferedMax`. */
  readonly eventsPerTakeMax?: number;
  /** Log versions visited per catch-up step, default {@link WATCH_REPLAY_RECORDS_PER_STEP_MAX}. */
  readonly replayRecordsPerStepMax?: number;
}

/** {@link WatchHubOptions} with every default filled in. */
export type WatchHubLimits = Required<WatchHubOptions>;

/**
 * Fills in defaults and checks each limit.
 *
 * @throws {InvalidArgumentError} when a limit is not a positive safe integer,
 * `eventsPerTakeMax` passes `eventsBufferedMax`, or `replayRecordsPerStepMax`
 * passes {@link HISTORY_RECORDS_PER_READ_MAX}.
 */
export function watchHubLimits(options: WatchHubOptions = {}): WatchHubLimits {
  const limits: WatchHubLimits = {
    watchersMax: options.watchersMax ?? WATCHERS_MAX,
    eventsBufferedMax: options.eventsBufferedMax ?? WATCH_EVENTS_BUFFERED_MAX,
    bufferBytesMax: options.bufferBytesMax ?? WATCH_BUFFER_BYTES_MAX,
    eventsPerTakeMax: options.eventsPerTakeMax ?? WATCH_EVENTS_PER_TAKE_MAX,
    replayRecordsPerStepMax: options.replayRecordsPerStepMax ?? WATCH_REPLAY_RECORDS_PER_STEP_MAX,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new InvalidArgumentError(
        `Cannot create the watch hub: ${name} must be a positive integer, got ${value}`,
      );
    }
  }
  if (limits.eventsPerTakeMax > limits.eventsBufferedMax) {
    throw new InvalidArgumentError(
      `Cannot create the watch hub: eventsPerTakeMax ${limits.eventsPerTakeMax} passes eventsBufferedMax ${limits.eventsBufferedMax}`,
    );
  }
  if (limits.replayRecordsPerStepMax > HISTORY_RECORDS_PER_READ_MAX) {
    throw new InvalidArgumentError(
      `Cannot create the watch hub: replayRecordsPerStepMax ${limits.replayRecordsPerStepMax} passes HISTORY_RECORDS_PER_READ_MAX (${HISTORY_RECORDS_PER_READ_MAX})`,
    );
  }
  return limits;
}

/**
 * Default time between two checkpoints of a lease's remaining TTL, in
 * milliseconds (etcd's `--lease-checkpoint-interval` default, 5 minutes).
 * A new leader restarts a lease's countdown from its last checkpoint, so a
 * lease can outlive its TTL by about this much across a leader change.
 */
export const LEASE_CHECKPOINT_INTERVAL_MS = 5 * 60 * 1000;

/**
 * Default time before a lease the lessor reported as expired is reported
 * again, in milliseconds (etcd's `expiredLeaseRetryInterval`): long enough
 * for its revoke to commit, so that a slow commit does not propose a flood
 * of duplicate revokes; short enough that a lost proposal is soon retried.
 */
export const LEASE_EXPIRED_RETRY_MS = 3000;

/**
 * Default most leases one `Lessor.expired` call reports. etcd revokes at
 * most `leaseRevokeRate` (1000) leases a second, checking every 500 ms; a
 * mass expiry is spread over calls instead of flooding the log.
 */
export const LEASES_EXPIRED_PER_CALL_MAX = 500;

/**
 * Default most checkpoints one `Lessor.checkpointsDue` call reports (etcd's
 * `leaseCheckpointRate`, 1000 a second, checked every 500 ms); at most
 * {@link LEASE_CHECKPOINTS_MAX}, since one checkpoint command carries them.
 */
export const LEASE_CHECKPOINTS_PER_CALL_MAX = 500;

/**
 * Default gap between two consecutive calls to a leading lessor past which
 * the lessor takes the gap for a stall of its own member (a stalled disk or
 * event loop) and shifts every deadline forward by it, in milliseconds: five
 * of etcd's default 1 s election timeouts. The driver calls the lessor at
 * least once a tick, so a healthy leader never leaves such a gap.
 */
export const LESSOR_STALL_THRESHOLD_MS = 5000;

/** The limits of a lessor; each defaults to the constant named in its doc. */
export interface LessorOptions {
  /** Most leases tracked, default {@link LEASES_MAX}; the same as the store's `leasesMax`. */
  readonly leasesMax?: number;
  /** Time between checkpoints of one lease, default {@link LEASE_CHECKPOINT_INTERVAL_MS}. */
  readonly checkpointIntervalMs?: number;
  /** Time before an expired lease is reported again, default {@link LEASE_EXPIRED_RETRY_MS}. */
  readonly expiredRetryMs?: number;
  /** Most leases reported per `expired` call, default {@link LEASES_EXPIRED_PER_CALL_MAX}. */
  readonly leasesExpiredPerCallMax?: number;
  /** Most checkpoints per `checkpointsDue` call, default {@link LEASE_CHECKPOINTS_PER_CALL_MAX}. */
  readonly checkpointsPerCallMax?: number;
  /** Gap between calls taken for a stall, default {@link LESSOR_STALL_THRESHOLD_MS}. */
  readonly stallThresholdMs?: number;
}

/** {@link LessorOptions} with every default filled in. */
export type LessorLimits = Required<LessorOptions>;

/**
 * Fills in defaults and checks each limit.
 *
 * @throws {InvalidArgumentError} when a limit is not a positive safe integer,
 * or `checkpointsPerCallMax` passes {@link LEASE_CHECKPOINTS_MAX}.
 */
export function lessorLimits(options: LessorOptions = {}): LessorLimits {
  const limits: LessorLimits = {
    leasesMax: options.leasesMax ?? LEASES_MAX,
    checkpointIntervalMs: options.checkpointIntervalMs ?? LEASE_CHECKPOINT_INTERVAL_MS,
    expiredRetryMs: options.expiredRetryMs ?? LEASE_EXPIRED_RETRY_MS,
    leasesExpiredPerCallMax: options.leasesExpiredPerCallMax ?? LEASES_EXPIRED_PER_CALL_MAX,
    checkpointsPerCallMax: options.checkpointsPerCallMax ?? LEASE_CHECKPOINTS_PER_CALL_MAX,
    stallThresholdMs: options.stallThresholdMs ?? LESSOR_STALL_THRESHOLD_MS,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new InvalidArgumentError(
        `Cannot create the lessor: ${name} must be a positive integer, got ${value}`,
      );
    }
  }
  if (limits.checkpointsPerCallMax > LEASE_CHECKPOINTS_MAX) {
    throw new InvalidArgumentError(
      `Cannot create the lessor: checkpointsPerCallMax ${limits.checkpointsPerCallMax} passes LEASE_CHECKPOINTS_MAX (${LEASE_CHECKPOINTS_MAX})`,
    );
  }
  return limits;
}
