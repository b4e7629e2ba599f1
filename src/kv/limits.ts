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

/** Longest key, in bytes. etcd bounds keys only through the request size; FoundationDB allows 10 kB. */
export const KEY_BYTES_MAX = 8 * 1024;

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

/** Size a snapshot record grows to before the next one starts. */
export const SNAPSHOT_RECORD_BYTES_TARGET = 1024 * 1024;

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
