/**
 * The MVCC key-value store: etcd v3's `mvcc` package as a pure,
 * deterministic state machine, in memory or on a disk backend.
 *
 * @module
 */
import { InvalidArgumentError } from '../base/errors.ts';
import { compactionStep, startCompaction } from './compactor.ts';
import { checkFenceAgainstState } from './fence.ts';
import { checkHistoryRequest, readHistory } from './history-reader.ts';
import {
  checkpointLeases,
  grantLease,
  keepAliveLease,
  keepAliveLeases,
  leaseInfo,
  revokeLease,
} from './lease-ops.ts';
import {
  type MvccStoreLimits,
  type MvccStoreOptions,
  mvccStoreLimits,
  SNAPSHOT_RECORD_BYTES_TARGET,
} from './limits.ts';
import { readRange } from './range-reader.ts';
import {
  checkDeleteRangeRequest,
  checkPutRequest,
  checkRangeRequest,
  RequestBudget,
} from './request-checks.ts';
import { RevisionWriter } from './revision-writer.ts';
import { SnapshotRestorer } from './snapshot-restorer.ts';
import { snapshotRecords } from './snapshot-writer.ts';
import { checkStoreInvariants } from './store-invariants.ts';
import {
  createStoreState,
  readRevisionOf,
  type StoreBackend,
  type StoreState,
  saveScalars,
} from './store-state.ts';
import { checkTxnRequest } from './txn-check.ts';
import { checkTxnPlan, executeTxnPlan, planTxn } from './txn-runner.ts';
import type {
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  HistoryPage,
  HistoryRequest,
  LeaseCheckpointRequest,
  LeaseCheckpointResponse,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseInfo,
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  LeaseKeepAlivesRequest,
  LeaseKeepAlivesResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
  WriteResult,
} from './types.ts';
import { checkPutAgainstState, executeDeleteRange, executePut } from './write-ops.ts';

/**
 * Feeds a snapshot image back, record by record, into a new store. Records
 * come as bytes ({@link push}) or already decoded ({@link pushValue}, for a
 * `MultiDecoder` reading a stream).
 */
export interface MvccStoreRestore {
  /**
   * Takes one record's bytes.
   *
   * @throws {ProtocolError} when the record is malformed or out of place.
   */
  push(record: Uint8Array): void;
  /**
   * Takes one decoded record.
   *
   * @throws {ProtocolError} when the record is malformed or out of place.
   */
  pushValue(value: unknown): void;
  /**
   * The store, once every record is in.
   *
   * @throws {ProtocolError} when the image ended early or is inconsistent.
   */
  finish(): MvccStore;
}

/** Where a restore writes: an empty backend, and whether to check the whole state at the end. */
export interface RestoreTarget {
  /** An empty backend (a disk one cleared first); in memory by default. */
  readonly backend?: StoreBackend;
  /**
   * Check every invariant of the restored state at the end, O(state) in time
   * and memory (default true). Each key's history, each lease and the counts
   * are checked as they arrive either way; a disk restore of a large state
   * turns this off.
   */
  readonly checkAll?: boolean;
}

/**
 * An in-memory multi-version key-value store with etcd v3 semantics:
 * revisions, ranges at past revisions, transactions, compaction and lease
 * bookkeeping. Deterministic: the same requests in the same order give the
 * same answers and the same state on every member.
 *
 * Every request is checked in full before anything changes: a request that
 * throws changed nothing. Errors a caller can cause are typed
 * (`InvalidArgumentError`, `CompactedError`, `LimitExceededError`,
 * `TooLargeError`).
 *
 * @example
 * ```ts
 * const store = new MvccStore();
 * const bytes = (text: string) => new TextEncoder().encode(text);
 * const { response } = store.put({ key: bytes('a'), value: bytes('1') }); // revision 2
 * store.put({ key: bytes('a'), value: bytes('2') }); // revision 3
 * store.range({ key: bytes('a'), revision: response.revision }).kvs[0]?.value; // bytes('1')
 * store.txn({
 *   compare: [{ key: bytes('a'), target: 'version', result: 'equal', version: 2 }],
 *   success: [{ type: 'deleteRange', request: { key: bytes('a') } }],
 * }).response.succeeded; // true
 * ```
 */
export class MvccStore {
  // Not readonly: a restore swaps in the state it built.
  #state: StoreState;

  /**
   * @param options per-store limits (see `limits.ts`); every member must use the same.
   * @throws {InvalidArgumentError} on a bad limit.
   */
  constructor(options: MvccStoreOptions = {}, backend?: StoreBackend) {
    this.#state = createStoreState(mvccStoreLimits(options), backend);
  }

  /**
   * A store on `backend`: in memory by default; on disk with
   * `src/storage/lmdb-kv-backend.ts`, where the store opens as it was last
   * saved. A disk backend's writes must run inside its write transaction
   * (the caller's: one per applied batch).
   *
   * @throws {InvalidArgumentError} on a bad limit.
   */
  static open(backend: StoreBackend, options: MvccStoreOptions = {}): MvccStore {
    return new MvccStore(options, backend);
  }

  /**
   * Starts feeding a snapshot image made by {@link snapshot} into a new store.
   *
   * @example
   * ```ts
   * const restore = MvccStore.restore();
   * for (const record of store.snapshot()) restore.push(record);
   * const copy = restore.finish();
   * ```
   */
  static restore(options: MvccStoreOptions = {}, into?: RestoreTarget): MvccStoreRestore {
    const restorer = new SnapshotRestorer(mvccStoreLimits(options), into?.backend, into?.checkAll ?? true);
    return {
      push: (record) => restorer.push(record),
      pushValue: (value) => restorer.pushValue(value),
      finish: () => {
        const state = restorer.finish();
        saveScalars(state);
        return MvccStore.#fromState(state);
      },
    };
  }

  static #fromState(state: StoreState): MvccStore {
    const store = new MvccStore(state.limits, state.backend);
    store.#state = state;
    return store;
  }

  /** The current revision: 1 on an empty store, then one more per request that changed a key. */
  get revision(): number {
    return this.#state.revision;
  }

  /** The revision compacted at (0 = never): reads below it fail. */
  get compactRevision(): number {
    return this.#state.compactRevision;
  }

  /** Whether history below {@link compactRevision} remains to be freed by {@link compactStep}. */
  get compactionPending(): boolean {
    return this.#state.compactPending;
  }

  /** The limits in force. */
  get limits(): MvccStoreLimits {
    return this.#state.limits;
  }

  /**
   * Reads a key or a span (etcd `Range`); see {@link RangeRequest}.
   *
   * @throws {InvalidArgumentError} on a bad request, or a revision above the current one.
   * @throws {CompactedError} when the revision was compacted (`details.compactRevision`).
   * @throws {LimitExceededError} or {TooLargeError} past a size limit.
   */
  range(request: RangeRequest): RangeResponse {
    checkRangeRequest(request, new RequestBudget('read range'));
    const state = this.#state;
    const revision = readRevisionOf(state, request.revision ?? 0, state.revision);
    return readRange(state.index, request, revision, state.revision, state.limits);
  }

  /**
   * Reads the history of a span by revision: the changes to its keys from
   * `startRevision` (and `startSub`) through `endRevision`, as the events
   * the writes returned, in revision order; `prevKv` filled only when asked.
   * One page at a time: read on from `nextRevision`/`nextSub` until `done`.
   * This is what a watch starting in the past replays (see `watch-hub.ts`).
   *
   * Cost: at most `recordsMax` versions of the revision log visited, plus,
   * with `prevKv`, a walk of each key's newer versions the first time the
   * page meets it.
   *
   * @throws {CompactedError} when `startRevision` is at or below the
   * compacted revision (`details.compactRevision`): some of its changes may
   * be gone.
   * @throws {InvalidArgumentError} on a bad span or field, or an
   * `endRevision` above the current revision.
   * @throws {LimitExceededError} past a limit of the span, or `eventsMax`
   * or `recordsMax` above `HISTORY_EVENTS_PER_READ_MAX` or
   * `HISTORY_RECORDS_PER_READ_MAX`.
   * @example
   * ```ts
   * let page = store.eventsSince({ key: prefix, rangeEnd: prefixEnd(prefix), startRevision: 5 });
   * for (;;) {
   *   deliver(page.events);
   *   if (page.done) break;
   *   page = store.eventsSince({ key: prefix, rangeEnd: prefixEnd(prefix), startRevision: page.nextRevision, startSub: page.nextSub });
   * }
   * ```
   */
  eventsSince(request: HistoryRequest): HistoryPage {
    return readHistory(this.#state, checkHistoryRequest(this.#state, request));
  }

  /**
   * Puts a key (etcd `Put`): always a new revision.
   *
   * @throws {InvalidArgumentError} on a bad request, a lease that does not
   * exist (`details.leaseId`), or `ignoreValue`/`ignoreLease` on a missing key.
   * @throws {LimitExceededError} or {TooLargeError} past a size limit.
   */
  put(request: PutRequest): WriteResult<PutResponse> {
    checkPutRequest(request, new RequestBudget('put'));
    checkPutAgainstState(this.#state, request);
    checkFenceAgainstState(this.#state, request.fence, 'put');
    const writer = new RevisionWriter(this.#state);
    const response = executePut(this.#state, writer, request);
    this.#commit(writer);
    return { response, events: writer.events };
  }

  /**
   * Deletes a key or a span (etcd `DeleteRange`): a new revision when it deleted anything.
   *
   * @throws {InvalidArgumentError} on a bad request.
   * @throws {LimitExceededError} or {TooLargeError} past a size limit.
   */
  deleteRange(request: DeleteRangeRequest): WriteResult<DeleteRangeResponse> {
    checkDeleteRangeRequest(request, new RequestBudget('delete range'));
    checkFenceAgainstState(this.#state, request.fence, 'delete range');
    const writer = new RevisionWriter(this.#state);
    const response = executeDeleteRange(this.#state, writer, request);
    this.#commit(writer);
    return { response, events: writer.events };
  }

  /**
   * Runs a transaction (etcd `Txn`); see {@link TxnRequest} and `txn-check.ts`
   * for the rules (no key written twice). All its writes share one revision;
   * one that writes nothing keeps the revision.
   *
   * @throws {InvalidArgumentError} on a bad request, a key written twice, or
   * a request of the branch taken that fails its checks (nothing runs then).
   * @throws {CompactedError} when a range of the branch taken reads a compacted revision.
   * @throws {LimitExceededError} or {TooLargeError} past a limit.
   */
  txn(request: TxnRequest): WriteResult<TxnResponse> {
    checkTxnRequest(request, new RequestBudget('run transaction'));
    const state = this.#state;
    checkFenceAgainstState(state, request.fence, 'run transaction');
    const plan = planTxn(state, request, state.revision);
    checkTxnPlan(state, plan);
    const writer = new RevisionWriter(state);
    const response = executeTxnPlan(state, writer, plan);
    this.#commit(writer);
    return { response, events: writer.events };
  }

  /**
   * Compacts at `revision` (etcd `Compact`): reads below it fail from now
   * on. The history it frees is freed by {@link compactStep}, in bounded steps.
   *
   * @throws {InvalidArgumentError} when `revision` is not a positive integer
   * or is above the current revision.
   * @throws {CompactedError} when it is not above the revision compacted at.
   */
  compact(request: CompactionRequest): CompactionResponse {
    const revision = request.revision;
    if (!Number.isSafeInteger(revision) || revision < 1) {
      throw new InvalidArgumentError(`Cannot compact: the revision must be an integer >= 1, got ${revision}`);
    }
    startCompaction(this.#state, revision);
    saveScalars(this.#state);
    return { revision: this.#state.revision };
  }

  /**
   * Frees the compacted history of up to `keysMax` keys. Call it between
   * applies until it returns true; reads answer the same either way.
   *
   * @returns true when no compaction work is left.
   * @throws {InvalidArgumentError} when `keysMax` is not a positive integer.
   */
  compactStep(keysMax: number): boolean {
    if (!Number.isSafeInteger(keysMax) || keysMax < 1) {
      throw new InvalidArgumentError(`Cannot compact: keysMax must be an integer >= 1, got ${keysMax}`);
    }
    const done = compactionStep(this.#state, keysMax);
    saveScalars(this.#state);
    return done;
  }

  #commit(writer: RevisionWriter): void {
    if (!writer.changed) return;
    writer.commit();
    saveScalars(this.#state);
  }

  /**
   * Creates a lease (etcd `LeaseGrant`); a TTL below the minimum is raised to
   * it. Leases change no revision.
   *
   * @throws {InvalidArgumentError} when the id is not a positive integer or
   * is in use, or the TTL is negative, fractional or above `LEASE_TTL_SECONDS_MAX`.
   * @throws {LimitExceededError} when `leasesMax` leases exist.
   */
  leaseGrant(request: LeaseGrantRequest): LeaseGrantResponse {
    return grantLease(this.#state, request);
  }

  /**
   * Ends a lease and deletes its keys, in byte order, all in one revision
   * (etcd `LeaseRevoke`; no new revision when it had none).
   *
   * @throws {InvalidArgumentError} when the lease does not exist (`details.leaseId`).
   */
  leaseRevoke(request: LeaseRevokeRequest): WriteResult<LeaseRevokeResponse> {
    const result = revokeLease(this.#state, request);
    saveScalars(this.#state);
    return result;
  }

  /**
   * Records how long leases have left (etcd `LeaseCheckpoint`), so that a new
   * leader does not restart their countdowns; a lease that no longer exists
   * is skipped (etcd).
   *
   * @throws {InvalidArgumentError} on a bad id or TTL (then none is recorded).
   * @throws {LimitExceededError} past `LEASE_CHECKPOINTS_MAX` checkpoints.
   */
  leaseCheckpoint(request: LeaseCheckpointRequest): LeaseCheckpointResponse {
    return checkpointLeases(this.#state, request);
  }

  /**
   * Renews a lease through the log: its checkpointed remaining TTL becomes
   * its full TTL (see {@link LeaseKeepAliveRequest}).
   *
   * @throws {InvalidArgumentError} when the lease does not exist (`details.reason` `LEASE_NOT_FOUND`).
   */
  leaseKeepAlive(request: LeaseKeepAliveRequest): LeaseKeepAliveResponse {
    return keepAliveLease(this.#state, request);
  }

  /**
   * Renews many leases through the log at once (see {@link LeaseKeepAlivesRequest}):
   * -1 for a lease that does not exist.
   *
   * @throws {InvalidArgumentError} or {LimitExceededError} on a bad list (then nothing is renewed).
   */
  leaseKeepAlives(request: LeaseKeepAlivesRequest): LeaseKeepAlivesResponse {
    return keepAliveLeases(this.#state, request);
  }

  /** Whether lease `id` exists. */
  hasLease(id: number): boolean {
    return this.#state.leases.get(id) !== undefined;
  }

  /**
   * Each lease's TTLs, ascending by id, without its keys: what a lessor is
   * reset from.
   */
  leaseTimers(): { id: number; grantedTtl: number; remainingTtl: number }[] {
    return this.#state.leases.sorted().map(({ id, ttl, remainingTtl }) => ({
      id,
      grantedTtl: ttl,
      remainingTtl,
    }));
  }

  /**
   * What the store records of a lease (etcd `LeaseTimeToLive` with keys), or
   * undefined when it does not exist.
   *
   * @throws {InvalidArgumentError} when the id is not a positive integer.
   */
  leaseTimeToLive(id: number): LeaseInfo | undefined {
    return leaseInfo(this.#state, id);
  }

  /** Every lease id, ascending (etcd `LeaseLeases`); at most `leasesMax`. */
  leaseList(): number[] {
    return this.#state.leases.sorted().map((lease) => lease.id);
  }

  /**
   * The whole state as MessagePack records (see `snapshot-writer.ts`), as of
   * this call: the store may change while the records are read (the index is
   * cloned copy-on-write in O(1)). History compaction made unreachable is
   * left out, freed or not. Each record is at most `SNAPSHOT_RECORD_BYTES_MAX`
   * bytes.
   *
   * @param recordBytesTarget where a record closes, at most the default
   * `SNAPSHOT_RECORD_BYTES_TARGET` (tests lower it to make many records).
   * @throws {InvalidArgumentError} on a bad `recordBytesTarget`.
   * @example
   * ```ts
   * for (const record of store.snapshot()) sink.write(record);
   * ```
   */
  snapshot(recordBytesTarget = SNAPSHOT_RECORD_BYTES_TARGET): Generator<Uint8Array, void, undefined> {
    if (
      !Number.isSafeInteger(recordBytesTarget) ||
      recordBytesTarget < 1 ||
      recordBytesTarget > SNAPSHOT_RECORD_BYTES_TARGET
    ) {
      throw new InvalidArgumentError(
        `Cannot snapshot: recordBytesTarget must be an integer in [1, ${SNAPSHOT_RECORD_BYTES_TARGET}], got ${recordBytesTarget}`,
      );
    }
    return snapshotRecords(this.#state, recordBytesTarget);
  }

  /**
   * Checks every internal invariant (see `store-invariants.ts`); O(state).
   *
   * @throws {Error} on a broken invariant: a bug or corruption; stop using the store.
   */
  checkInvariants(): void {
    checkStoreInvariants(this.#state);
  }
}
