/**
 * The data and request types of the MVCC key-value store, mirroring etcd v3's
 * `mvccpb.KeyValue`, `mvccpb.Event` and `etcdserverpb` requests
 * (`RangeRequest`, `PutRequest`, `DeleteRangeRequest`, `TxnRequest`,
 * `Compare`, `CompactionRequest`, the lease requests).
 *
 * Keys and values are bytes. Revisions and lease ids are safe integers.
 * Optional fields follow etcd's defaults when absent (`0`, `false`, empty).
 *
 * Ownership: byte arrays inside a response or an event are the store's own;
 * a caller must not change them (encode them, or copy them first).
 *
 * @module
 */

/** One version of a key, as etcd's `mvccpb.KeyValue`. */
export interface KeyValue {
  /** The key's bytes. */
  readonly key: Uint8Array;
  /** The value's bytes (empty for a `keysOnly` read and in a delete event). */
  readonly value: Uint8Array;
  /** The revision of the put that created this generation of the key (0 in a delete event). */
  readonly createRevision: number;
  /** The revision of the last change to the key. */
  readonly modRevision: number;
  /** Puts since the key was (re)created, starting at 1; a delete resets it (0 in a delete event). */
  readonly version: number;
  /** The lease the key is attached to, 0 for none. */
  readonly lease: number;
}

/** One change to one key, as etcd's `mvccpb.Event`: what a watch will deliver. */
export interface Event {
  /** Whether the key was put or deleted. */
  readonly type: 'put' | 'delete';
  /**
   * The key after the change. For a delete: the key, `modRevision` = the
   * delete's revision, every other field zero or empty (as etcd).
   */
  readonly kv: KeyValue;
  /** The key before the change, when it existed (the store always fills it; watchers drop it unless asked). */
  readonly prevKv?: KeyValue;
}

/** How a range orders its results (etcd `RangeRequest.SortOrder`). */
export type SortOrder = 'none' | 'ascend' | 'descend';

/** What a range sorts by (etcd `RangeRequest.SortTarget`). */
export type SortTarget = 'key' | 'version' | 'create' | 'mod' | 'value';

/**
 * A read of one key or a key range (etcd `RangeRequest`).
 *
 * The span: `rangeEnd` absent or empty reads `key` alone; `rangeEnd` equal to
 * the single byte `0` reads every key `>= key`; otherwise `[key, rangeEnd)`.
 * Use {@link prefixEnd} to read a prefix.
 */
export interface RangeRequest {
  /** The first key (must not be empty). */
  readonly key: Uint8Array;
  /** The end of the span, see above. */
  readonly rangeEnd?: Uint8Array;
  /** The most keys to return; 0 = no limit of the caller's (the store's page limit still applies). */
  readonly limit?: number;
  /** Read as of this revision; 0 = the current one. */
  readonly revision?: number;
  /** Order of the results; default `none` (by key, ascending). */
  readonly sortOrder?: SortOrder;
  /** What to sort by; default `key`. A target other than `key` with order `none` sorts ascending (as etcd). */
  readonly sortTarget?: SortTarget;
  /** Return keys without values. */
  readonly keysOnly?: boolean;
  /** Return only the count, no keys. */
  readonly countOnly?: boolean;
  /** Drop keys whose `modRevision` is below this (0 = no filter). */
  readonly minModRevision?: number;
  /** Drop keys whose `modRevision` is above this (0 = no filter). */
  readonly maxModRevision?: number;
  /** Drop keys whose `createRevision` is below this (0 = no filter). */
  readonly minCreateRevision?: number;
  /** Drop keys whose `createRevision` is above this (0 = no filter). */
  readonly maxCreateRevision?: number;
}

/** The answer to a {@link RangeRequest} (etcd `RangeResponse`). */
export interface RangeResponse {
  /** The store's current revision when the read ran (etcd's `header.revision`). */
  readonly revision: number;
  /** The keys read (none when `countOnly`). */
  readonly kvs: readonly KeyValue[];
  /**
   * More keys matched than were returned: the caller's `limit`, or the
   * store's page limits, cut the reply. Read on from after the last key.
   */
  readonly more: boolean;
  /** How many keys are in the span at the read revision, before filters and limits (as etcd). */
  readonly count: number;
}

/**
 * A fencing condition on a write: it runs only while `token` holds the lock
 * named `lock`, else it is refused whole with `FENCED` and nothing changes.
 * A lock's holders are the keys under `lock` + `/` (the layout of etcd's
 * and Tessera's mutex recipes); the holder is the live key with the lowest
 * create revision, and its token is that create revision. A token holds
 * while its key is that key: once a newer holder was granted the lock, or
 * the holder's key went (unlock, lease expiry), writes fenced with it fail.
 */
export interface Fence {
  /** The lock's name (its keys are under `lock` + `/`); not empty. */
  readonly lock: Uint8Array;
  /** The fencing token the writer was granted: its lock key's create revision. */
  readonly token: number;
}

/** A write of one key (etcd `PutRequest`). */
export interface PutRequest {
  /** The key (must not be empty). */
  readonly key: Uint8Array;
  /** The value (must be empty when `ignoreValue`). */
  readonly value?: Uint8Array;
  /** Attach the key to this lease (0 = none; must exist; must be 0 when `ignoreLease`). */
  readonly lease?: number;
  /** Return the key as it was before the put. */
  readonly prevKv?: boolean;
  /** Keep the key's current value (the key must exist). */
  readonly ignoreValue?: boolean;
  /** Keep the key's current lease (the key must exist). */
  readonly ignoreLease?: boolean;
  /** Put only while this fencing token holds its lock (see {@link Fence}). */
  readonly fence?: Fence;
}

/** The answer to a {@link PutRequest}. */
export interface PutResponse {
  /** The revision the put created. */
  readonly revision: number;
  /** The key before the put, when asked for and the key existed. */
  readonly prevKv?: KeyValue;
}

/** A delete of one key or a key range (etcd `DeleteRangeRequest`); the span as {@link RangeRequest}. */
export interface DeleteRangeRequest {
  /** The first key (must not be empty). */
  readonly key: Uint8Array;
  /** The end of the span, as in {@link RangeRequest}. */
  readonly rangeEnd?: Uint8Array;
  /** Return the deleted keys. */
  readonly prevKv?: boolean;
  /** Delete only while this fencing token holds its lock (see {@link Fence}). */
  readonly fence?: Fence;
}

/** The answer to a {@link DeleteRangeRequest}. */
export interface DeleteRangeResponse {
  /** The revision of the delete; the unchanged current revision when nothing was deleted (as etcd). */
  readonly revision: number;
  /** How many keys were deleted. */
  readonly deleted: number;
  /** The deleted keys as they were, when asked for. */
  readonly prevKvs: readonly KeyValue[];
}

/** How a {@link Compare} tests its target (etcd `Compare.CompareResult`). */
export type CompareResult = 'equal' | 'notEqual' | 'less' | 'greater';

/** Fields every {@link Compare} has. */
interface CompareBase {
  /** The relation the key's target must have to the operand. */
  readonly result: CompareResult;
  /** The key compared (must not be empty). */
  readonly key: Uint8Array;
  /** Compare every key of the span instead, as in {@link RangeRequest}: all must pass. */
  readonly rangeEnd?: Uint8Array;
}

/**
 * One condition of a transaction (etcd `Compare`). A missing key compares as
 * zero (version, revisions, lease) and always fails a `value` compare, as
 * etcd; over a span, every key must pass, an empty span as a missing key.
 */
export type Compare = CompareBase &
  (
    | { readonly target: 'version'; readonly version: number }
    | { readonly target: 'createRevision'; readonly createRevision: number }
    | { readonly target: 'modRevision'; readonly modRevision: number }
    | { readonly target: 'value'; readonly value: Uint8Array }
    | { readonly target: 'lease'; readonly lease: number }
  );

/** A request inside a transaction (etcd `RequestOp`). */
export type RequestOp =
  | { readonly type: 'range'; readonly request: RangeRequest }
  | { readonly type: 'put'; readonly request: PutRequest }
  | { readonly type: 'deleteRange'; readonly request: DeleteRangeRequest }
  | { readonly type: 'txn'; readonly request: TxnRequest };

/** A response inside a transaction's answer (etcd `ResponseOp`). */
export type ResponseOp =
  | { readonly type: 'range'; readonly response: RangeResponse }
  | { readonly type: 'put'; readonly response: PutResponse }
  | { readonly type: 'deleteRange'; readonly response: DeleteRangeResponse }
  | { readonly type: 'txn'; readonly response: TxnResponse };

/**
 * An atomic if/then/else (etcd `TxnRequest`): when every compare passes,
 * run `success`, else `failure`. All compares, nested ones included, see the
 * state before the transaction; requests run in order and a range sees the
 * writes before it. All writes share one revision.
 */
export interface TxnRequest {
  /** The conditions, all of which must pass. */
  readonly compare?: readonly Compare[];
  /** Run when every compare passes. */
  readonly success?: readonly RequestOp[];
  /** Run otherwise. */
  readonly failure?: readonly RequestOp[];
  /**
   * Run at all only while this fencing token holds its lock (see
   * {@link Fence}); checked before the compares. Puts and deletes inside
   * may carry fences too: one that fails on the branch taken refuses the
   * whole transaction.
   */
  readonly fence?: Fence;
}

/** The answer to a {@link TxnRequest}. */
export interface TxnResponse {
  /** The revision after the transaction (unchanged when it wrote nothing). */
  readonly revision: number;
  /** Whether every compare passed (so `success` ran). */
  readonly succeeded: boolean;
  /** One response per request of the branch that ran. */
  readonly responses: readonly ResponseOp[];
}

/** Forget history before a revision (etcd `CompactionRequest`). */
export interface CompactionRequest {
  /** Reads below this revision fail from now on; it must not be above the current revision. */
  readonly revision: number;
}

/** The answer to a {@link CompactionRequest}. */
export interface CompactionResponse {
  /** The current revision. */
  readonly revision: number;
}

/** Create a lease (etcd `LeaseGrantRequest`; the proposer picks the id, never 0). */
export interface LeaseGrantRequest {
  /** The lease id, a positive safe integer not in use. */
  readonly id: number;
  /** Time to live in seconds; below the store's minimum it is raised to it (as etcd). */
  readonly ttl: number;
}

/** The answer to a {@link LeaseGrantRequest}. */
export interface LeaseGrantResponse {
  /** The current revision (a grant does not change it). */
  readonly revision: number;
  /** The lease id. */
  readonly id: number;
  /** The TTL granted, in seconds. */
  readonly ttl: number;
}

/** End a lease and delete its keys (etcd `LeaseRevokeRequest`). */
export interface LeaseRevokeRequest {
  /** The lease id. */
  readonly id: number;
}

/** The answer to a {@link LeaseRevokeRequest}. */
export interface LeaseRevokeResponse {
  /** The revision of the deletes; unchanged when the lease had no keys. */
  readonly revision: number;
  /** How many keys were deleted. */
  readonly deleted: number;
}

/**
 * Renew a lease through the log: its checkpointed remaining TTL becomes its
 * full TTL again, so a later leader restarts its countdown from the full
 * TTL (etcd renews on the leader alone; a renewal that reaches the log
 * survives a leader change).
 */
export interface LeaseKeepAliveRequest {
  /** The lease id. */
  readonly id: number;
}

/** The answer to a {@link LeaseKeepAliveRequest}. */
export interface LeaseKeepAliveResponse {
  /** The current revision (a keep-alive does not change it). */
  readonly revision: number;
  /** The lease id. */
  readonly id: number;
  /** The TTL the lease has again, in seconds (its granted TTL). */
  readonly ttl: number;
}

/**
 * Renew many leases through the log at once: each as {@link LeaseKeepAliveRequest}
 * does, for the keep-alives a leader took in one turn (one entry to replicate,
 * sync and apply for all of them).
 */
export interface LeaseKeepAlivesRequest {
  /** The lease ids, in the order answered; one may appear more than once. */
  readonly ids: readonly number[];
}

/** The answer to a {@link LeaseKeepAlivesRequest}. */
export interface LeaseKeepAlivesResponse {
  /** The current revision (keep-alives do not change it). */
  readonly revision: number;
  /** For each id, in order: the TTL its lease has again, in seconds, or -1 when it does not exist. */
  readonly ttls: readonly number[];
}

/** Record how long leases have left (etcd `LeaseCheckpointRequest`), so a new leader does not reset them. */
export interface LeaseCheckpointRequest {
  /** One entry per lease; a lease that no longer exists is skipped (as etcd). */
  readonly checkpoints: readonly { readonly id: number; readonly remainingTtl: number }[];
}

/** The answer to a {@link LeaseCheckpointRequest}. */
export interface LeaseCheckpointResponse {
  /** The current revision. */
  readonly revision: number;
}

/** What the store records of a lease (etcd `LeaseTimeToLiveResponse`, less the live countdown). */
export interface LeaseInfo {
  /** The lease id. */
  readonly id: number;
  /** The TTL granted, in seconds. */
  readonly grantedTtl: number;
  /**
   * The TTL left at the last checkpoint, in seconds (the granted TTL before
   * any). The live countdown belongs to the leader's lessor, outside.
   */
  readonly remainingTtl: number;
  /** The keys attached, in byte order. */
  readonly keys: readonly Uint8Array[];
}

/** What a write answers, and the events it produced (with `prevKv` always filled when there was one). */
export interface WriteResult<Response> {
  readonly response: Response;
  readonly events: readonly Event[];
}

/**
 * A read of the history by revision (see `MvccStore.eventsSince`): the
 * changes to the keys of a span from a position in the revision log on, as
 * the events the writes produced. The span as {@link RangeRequest}.
 */
export interface HistoryRequest {
  /** The first key (must not be empty). */
  readonly key: Uint8Array;
  /** The end of the span, as in {@link RangeRequest}. */
  readonly rangeEnd?: Uint8Array;
  /** The first revision to read; it must be above the compacted revision. */
  readonly startRevision: number;
  /** The first change of `startRevision` to read (its place in the revision, from 0); default 0. */
  readonly startSub?: number;
  /** The last revision to read, inclusive; default the current one, never above it. */
  readonly endRevision?: number;
  /** Fill each event's `prevKv` (the key before the change, when it existed). */
  readonly prevKv?: boolean;
  /** Most events to return; default and at most `HISTORY_EVENTS_PER_READ_MAX`. */
  readonly eventsMax?: number;
  /** Most bytes of events (see `eventBytes`); a page holds one event at least. Default the store's `rangeReplyBytesMax`. */
  readonly bytesMax?: number;
  /** Most log versions to visit, matching or not; default and at most `HISTORY_RECORDS_PER_READ_MAX`. */
  readonly recordsMax?: number;
}

/** A page of history: events in revision order and where to read on from. */
export interface HistoryPage {
  /** The changes read, in revision order (then their order within a revision). */
  readonly events: readonly Event[];
  /** The revision to read on from (with {@link nextSub}); every change before that position was visited. */
  readonly nextRevision: number;
  /** The place within {@link nextRevision} to read on from; above 0 only when the page stopped inside a revision. */
  readonly nextSub: number;
  /** Whether the read reached `endRevision`: nothing up to it is left to read. */
  readonly done: boolean;
}

/** A kind of event a watcher leaves out (etcd `WatchCreateRequest.FilterType`). */
export type WatchFilter = 'noPut' | 'noDelete';

/**
 * A watch on a key, a span or a prefix (etcd `WatchCreateRequest`). The span
 * as {@link RangeRequest}.
 */
export interface WatchRequest {
  /** The first key (must not be empty). */
  readonly key: Uint8Array;
  /** The end of the span, as in {@link RangeRequest}; use `prefixEnd` for a prefix. */
  readonly rangeEnd?: Uint8Array;
  /**
   * The first revision to deliver; 0 or absent = the next one. One in the
   * past replays history first; it must be above the compacted revision.
   */
  readonly startRevision?: number;
  /** Fill each event's `prevKv`, the key before the change (when it existed). */
  readonly prevKv?: boolean;
  /** Kinds of event to leave out. */
  readonly filters?: readonly WatchFilter[];
}

/** Why a watcher ended, as the hub tells its consumer. */
export interface WatchCancel {
  /**
   * `compacted`: it was still catching up below a compaction (etcd's
   * `compact_revision` response); `slow`: its consumer fell more than its
   * buffer behind.
   */
  readonly reason: 'compacted' | 'slow';
  /** What happened, for people. */
  readonly message: string;
  /**
   * The first revision the consumer has not seen in full: a new watch from
   * here misses nothing (for `compacted`, it is below the compacted
   * revision, so only a fresh read and a watch from after it can go on).
   */
  readonly resumeRevision: number;
  /** The compacted revision, for `compacted` (etcd's `compact_revision`). */
  readonly compactRevision?: number;
}

/** What one `take` returns (etcd `WatchResponse`). */
export interface WatchResponse {
  /** The watcher. */
  readonly watchId: number;
  /** The revision the hub had seen when this was taken (etcd's `header.revision`). */
  readonly revision: number;
  /** The next events, in revision order; empty when there are none yet. */
  readonly events: readonly Event[];
  /**
   * The last revision in `events` may continue in the next response: it had
   * more changes than one take returns, or a catch-up page was cut inside it
   * (whose rest may then turn out to be outside the span). When false, every
   * change of the last revision is in this response or an earlier one.
   */
  readonly fragment: boolean;
  /** Set once, on the last response: the watcher ended and is gone. */
  readonly cancelled?: WatchCancel;
}
