/**
 * The replicated state on disk: the MVCC key-value store (`src/kv/`) on
 * its LMDB backend, the membership and the member directory, all in one
 * LMDB environment, with the applied index written in the same transaction
 * as the data it describes, so a crash never applies an entry twice or
 * skips one: on restart the member resumes right after the index LMDB
 * holds, and the WAL replays the rest.
 *
 * Each batch of entries is applied in one synchronous LMDB transaction
 * (`transactionSync`), so the store's in-memory part (revision, leases) and
 * what reads see on disk never disagree, even for a moment. Commits are not
 * synced: the latest snapshot and the WAL after it are what is durable, and
 * a state an operating-system crash may have torn is discarded and rebuilt
 * from them on open (`state-session.ts`).
 *
 * @module
 */
import { mkdirSync, rmSync, statfsSync, statSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Database, open, type RootDatabase } from 'lmdb';
import {
  CancelledError,
  InvalidArgumentError,
  NoSpaceError,
  ProtocolError,
  TesseraError,
  UnavailableError,
} from '../base/errors.ts';
import { decode, encode, MultiDecoder } from '../codec/msgpack.ts';
import { decodeCommand, encodeCommand, type KvCommand } from '../kv/kv-command.ts';
import { applyCommand, type LeaseChange } from '../kv/kv-machine.ts';
import type { MvccStoreLimits, MvccStoreOptions, WatchHubOptions } from '../kv/limits.ts';
import { MvccStore } from '../kv/mvcc-store.ts';
import type { Event, LeaseInfo, RangeRequest, RangeResponse } from '../kv/types.ts';
import { WatchHub } from '../kv/watch-hub.ts';
import { decodeConfChange, nextConfState } from '../raft/conf-change.ts';
import type { SnapshotSink, SnapshotStore } from '../raft/stores.ts';
import {
  type ConfState,
  type Entry,
  EntryType,
  type NodeId,
  type SnapshotMetadata,
  type SnapshotRef,
} from '../raft/types.ts';
import { CorruptionError } from '../storage/errors.ts';
import { isErrorCode, readFully, writeFully } from '../storage/files.ts';
import { LMDB_PAGE_SIZE, LmdbKvBackend } from '../storage/lmdb-kv-backend.ts';
import type { KvOutcome } from './api.ts';
import { decodeMemberInfo, type MemberInfo, memberInfoFrom } from './member.ts';
import { beginSession, currentBootId, endSession } from './state-session.ts';

/** What lmdb-js's root database offers beyond its typings: a forced sync off the main thread. */
interface LmdbSyncable {
  sync(callback: (error?: Error) => void): void;
}

/** First byte of a KV entry: `[clientId, requestId, command]`, MessagePack. */
const KV_TAG = 0x03;

/**
 * The format of the state directory: 3 keeps a key's older versions as
 * history rows (see `lmdb-kv-backend.ts`). A directory in format
 * {@link STATE_FORMAT_UPGRADABLE} is upgraded when opened; any other is refused.
 */
export const STATE_FORMAT = 3;
/** The format before the history rows: each key's whole history in its index value. */
export const STATE_FORMAT_UPGRADABLE = 2;

/** A KV command with the identity of the call that issued it. */
export interface KvRequest {
  readonly clientId: number;
  readonly requestId: number;
  readonly command: KvCommand;
}

/** Encodes a KV command as a log entry. */
export function encodeKvEntry(request: KvRequest): Uint8Array {
  const body = encode([request.clientId, request.requestId, encodeCommand(request.command)]);
  const data = new Uint8Array(body.length + 1);
  data[0] = KV_TAG;
  data.set(body, 1);
  return data;
}

/** The identity of a KV entry's call, or undefined when `data` is not a KV entry. */
export function kvEntryIdentity(data: Uint8Array): { clientId: number; requestId: number } | undefined {
  if (data[0] !== KV_TAG) return undefined;
  try {
    const [clientId, requestId] = decode(data.subarray(1)) as [unknown, unknown];
    return typeof clientId === 'number' && typeof requestId === 'number'
      ? { clientId, requestId }
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The type of a KV entry's command, read without checking or copying the
 * command (a leader asks it of every proposal a follower forwards, to
 * renew a keep-alive's lease first); undefined when `data` is not a KV
 * entry. Whether the command is well formed is for {@link kvEntryCommand}.
 */
export function kvEntryType(data: Uint8Array): string | undefined {
  if (data[0] !== KV_TAG) return undefined;
  try {
    const outer = decode(data.subarray(1)) as unknown;
    const command = Array.isArray(outer) && outer[2] instanceof Uint8Array ? decode(outer[2]) : undefined;
    const type = (command as { type?: unknown } | null | undefined)?.type;
    return typeof type === 'string' ? type : undefined;
  } catch (error) {
    if (error instanceof TesseraError) return undefined;
    throw error;
  }
}

/** The command of a KV entry, or undefined when `data` is not a well-formed KV entry. */
export function kvEntryCommand(data: Uint8Array): KvCommand | undefined {
  if (data[0] !== KV_TAG) return undefined;
  try {
    return decodeKvEntry(data).command;
  } catch (error) {
    if (error instanceof TesseraError) return undefined;
    throw error;
  }
}

/**
 * Decodes a KV entry.
 *
 * @throws {ProtocolError} (or the command decoder's typed error) when `data` is not one.
 */
function decodeKvEntry(data: Uint8Array): KvRequest {
  const value = decode(data.subarray(1)) as unknown;
  if (!Array.isArray(value) || value.length !== 3 || !(value[2] instanceof Uint8Array)) {
    throw new ProtocolError('A KV entry is not [clientId, requestId, command]');
  }
  return { clientId: value[0] as number, requestId: value[1] as number, command: decodeCommand(value[2]) };
}

/**
 * The result of applying one KV entry: which call it answers, how, the
 * events for watchers and the lease changes for the member's lessor.
 */
export interface KvApplied {
  readonly clientId: number;
  readonly requestId: number;
  readonly outcome: KvOutcome;
  readonly events: readonly Event[];
  readonly leases: readonly LeaseChange[];
  readonly revision: number;
}

/** First byte of a publish entry. */
const PUBLISH_TAG = 0x01;

/**
 * The entry a member proposes to publish its addresses (as etcd members
 * publish their client URLs): founding members know only each other's
 * peer addresses at bootstrap.
 */
export function encodePublish(id: NodeId, info: MemberInfo): Uint8Array {
  const body = encode({ id, info });
  const data = new Uint8Array(body.length + 1);
  data[0] = PUBLISH_TAG;
  data.set(body, 1);
  return data;
}

function decodePublish(data: Uint8Array): { id: NodeId; info: MemberInfo } | undefined {
  const value = decode(data.subarray(1)) as { id?: unknown; info?: unknown } | null;
  if (value === null || typeof value !== 'object' || typeof value.id !== 'number') return undefined;
  const info = memberInfoFrom(value.info);
  return info === undefined ? undefined : { id: value.id, info };
}

/**
 * The largest record a restore accepts: the store's records close near
 * 1 MiB, plus one version at the request limit (1.5 MiB), doubled for
 * MessagePack framing.
 */
export const IMAGE_RECORD_BYTES_MAX = 6 * 1024 * 1024;
/** Snapshot bytes read per step of a restore (one LMDB transaction each). */
export const RESTORE_READ_BYTES = 1024 * 1024;
/** Bytes of table rows a restore from an LMDB copy writes per transaction. */
export const RESTORE_COPY_STEP_BYTES = 1024 * 1024;
/** The directory, inside the state's, where a snapshot's LMDB copy is made before it is streamed into the store. */
const SNAPSHOT_COPY_DIR = 'snapshot-copy';
/** The directory, inside the state's, where a received LMDB image is written before its tables are copied in. */
const RESTORE_COPY_DIR = 'restore-copy';
/**
 * Where an LMDB data file keeps its magic number (0xBEEFC0DE, little-endian):
 * in its first meta page, after the page header, 24 bytes in the LMDB that
 * lmdb-js builds (its pages carry a transaction id).
 */
const LMDB_MAGIC_OFFSET = 24;
const LMDB_MAGIC = 0xbeefc0de;

/**
 * Whether a snapshot image is an LMDB copy of the state (what
 * {@link LmdbState.snapshotInto} writes) rather than the store's
 * MessagePack records (what {@link LmdbState.writeImage} writes, and what
 * snapshots were before): the records start with a MessagePack map, an
 * LMDB file with its meta page.
 */
export function isLmdbImage(head: Uint8Array): boolean {
  return (
    head.length >= LMDB_MAGIC_OFFSET + 4 &&
    Buffer.from(head.buffer, head.byteOffset, head.length).readUInt32LE(LMDB_MAGIC_OFFSET) === LMDB_MAGIC
  );
}
/** Keys whose compacted history one step frees, between applies. */
export const COMPACTION_KEYS_PER_STEP = 1000;

/**
 * Default least free space, in bytes an unprivileged user may take, that
 * the state's file system must have before a write transaction begins.
 * LMDB writes through a writable memory map (see {@link LmdbState.open}),
 * where running out of space is a SIGBUS that kills the process rather than
 * an error; below this the transaction is refused with a `NoSpaceError`
 * (the member's NOSPACE alarm) before it writes anything. One transaction
 * applies at most a Ready's committed entries (64 MiB by default,
 * `COMMITTED_BYTES_PER_READY_MAX_DEFAULT`) or a snapshot chunk, which take
 * at most about twice their size in pages.
 */
export const STATE_FREE_BYTES_MIN_DEFAULT = 256 * 1024 * 1024;

/** Options of {@link LmdbState.open}. */
export interface LmdbStateOptions {
  /** The KV store's limits; every member must use the same. */
  readonly store?: MvccStoreOptions;
  /** The watch hub's limits (this member's own). */
  readonly hub?: WatchHubOptions;
  /**
   * Least free space before a write transaction (default
   * {@link STATE_FREE_BYTES_MIN_DEFAULT}; 0 turns the check off, for a
   * file system that never fills).
   */
  readonly freeBytesMin?: number;
}

/** The result of applying one entry: the proposal it answers, if any. */
export type AppliedResult = KvApplied | undefined;

/** The node's state machine, on LMDB. */
export class LmdbState {
  readonly #root: RootDatabase;
  readonly #path: string;
  readonly #freeBytesMin: number;
  readonly #meta: Database<unknown, string>;
  readonly #backend: LmdbKvBackend;
  readonly #storeOptions: MvccStoreOptions;
  #store: MvccStore;
  /** This member's watchers; a snapshot install replaces the store, and with it the hub (ending its watchers). */
  #hub: WatchHub;
  readonly #hubOptions: WatchHubOptions;
  #applied: number;
  #confState: ConfState;
  #members: Map<NodeId, MemberInfo>;
  /** The LMDB copy a snapshot under way is making (settles, never rejects). */
  #copying: Promise<void> | undefined;
  /** Whether {@link snapshotInto} is under way (one at a time: they share the copy's directory). */
  #snapshotting = false;
  /** Set when {@link close} begins: no copy may start under a closing environment. */
  #closing = false;
  /** The snapshot index a restore under way (or cut short by a crash) is installing. */
  #restoring: number | undefined;
  /** The session on the state directory ({@link LmdbState.open}); none for a state opened otherwise. */
  #session:
    | { readonly path: string; readonly bootId: string | null; readonly discarded: boolean }
    | undefined;

  private constructor(root: RootDatabase, path: string, options: LmdbStateOptions) {
    const storeOptions = options.store ?? {};
    const hubOptions = options.hub ?? {};
    this.#root = root;
    this.#path = path;
    this.#freeBytesMin = options.freeBytesMin ?? STATE_FREE_BYTES_MIN_DEFAULT;
    this.#meta = root.openDB<unknown, string>({ name: 'meta' });
    const format = this.#meta.get('format');
    if (format === undefined && this.#meta.get('applied') !== undefined) {
      throw new CorruptionError(
        'The state directory was written by an older Tessera (format 1, before the MVCC store); remove the data directory and rejoin the member',
      );
    }
    if (format !== undefined && format !== STATE_FORMAT && format !== STATE_FORMAT_UPGRADABLE) {
      throw new CorruptionError(
        `The state directory has format ${String(format)}; this Tessera reads ${STATE_FORMAT_UPGRADABLE} and ${STATE_FORMAT}`,
      );
    }
    this.#backend = new LmdbKvBackend(root);
    if (format !== STATE_FORMAT) {
      // The upgrade rewrites every history row in one transaction: room for the whole file again at most.
      const upgradeBytes =
        format === STATE_FORMAT_UPGRADABLE ? statSync(join(path, 'data.mdb')).blocks * 512 : 0;
      this.#checkFreeSpace('open the state', upgradeBytes);
      root.transactionSync(() => {
        if (format === STATE_FORMAT_UPGRADABLE) this.#backend.upgradeHistories();
        this.#meta.putSync('format', STATE_FORMAT);
      });
    }
    this.#storeOptions = storeOptions;
    this.#store = MvccStore.open(this.#backend, storeOptions);
    this.#hubOptions = hubOptions;
    this.#hub = new WatchHub(this.#store, hubOptions);
    this.#applied = (this.#meta.get('applied') as number | undefined) ?? 0;
    this.#confState = (this.#meta.get('confState') as ConfState | undefined) ?? { voters: [], learners: [] };
    this.#members = new Map((this.#meta.get('members') as [NodeId, MemberInfo][] | undefined) ?? []);
    this.#restoring = this.#meta.get('restoring') as number | undefined;
  }

  /**
   * The index of a snapshot whose restore is under way, or was cut short by
   * a crash (the data is then part old, part new: restore it again before
   * serving anything).
   */
  get restoring(): number | undefined {
    return this.#restoring;
  }

  #readable(): MvccStore {
    if (this.#restoring !== undefined) {
      throw new UnavailableError(`Cannot read: snapshot ${this.#restoring} is being restored; retry`);
    }
    return this.#store;
  }

  /**
   * Opens (creating) the state in directory `path`.
   *
   * @throws {CorruptionError} when the directory holds another format.
   * @throws {InvalidArgumentError} when `freeBytesMin` is not a non-negative integer.
   * @throws {NoSpaceError} when opening must write and the file system has too little room.
   */
  static open(path: string, options: LmdbStateOptions = {}): LmdbState {
    const { freeBytesMin } = options;
    if (freeBytesMin !== undefined && !(Number.isSafeInteger(freeBytesMin) && freeBytesMin >= 0)) {
      throw new InvalidArgumentError(
        `Cannot open the state: freeBytesMin must be a non-negative integer, got ${freeBytesMin}`,
      );
    }
    mkdirSync(path, { recursive: true });
    const bootId = currentBootId();
    const discarded = beginSession(path, bootId);
    // A snapshot's copy or a received image a crash left beside the state: neither is the state's, and
    // each takes up to the state's size on disk.
    for (const leftover of [SNAPSHOT_COPY_DIR, RESTORE_COPY_DIR]) {
      rmSync(join(path, leftover), { recursive: true, force: true });
    }
    // noSync: commits are not synced; the snapshot and the WAL are what is durable (see state-session.ts).
    // useWritemap: LMDB writes pages in place in its memory map, rather than copying each page it
    // changes into a malloc'd buffer and writing it with a pwrite at commit. Same-run A/B, three
    // rounds each: 256 etcd3 clients put 6.2k/s against 5.5k/s at 183 µs of server CPU per put
    // against 215, natively 14.1k/s against 13.6k/s, single-client puts 1,205/s against 1,113/s.
    // Its price: a full disk is a SIGBUS when a write faults in a page, not an error, so every
    // write transaction first checks the free space (see STATE_FREE_BYTES_MIN_DEFAULT); and a state
    // larger than RAM is slower to write (a page is read before it is changed).
    const root = open({
      path,
      compression: false,
      pageSize: LMDB_PAGE_SIZE,
      noSync: true,
      useWritemap: true,
    });
    let state: LmdbState;
    try {
      state = new LmdbState(root, path, options);
    } catch (error) {
      void root.close();
      throw error;
    }
    state.#session = { path, bootId, discarded };
    return state;
  }

  /**
   * Whether opening found data that a crash of the operating system may
   * have torn, and discarded it: the state starts empty, and the member
   * rebuilds it from its snapshot and WAL (see `state-session.ts`).
   */
  get discardedTornState(): boolean {
    return this.#session?.discarded ?? false;
  }

  /**
   * The watchers of this member's store, told of every applied write. A
   * snapshot install replaces it: watchers of the old hub must end (their
   * clients watch again from their last revision).
   */
  get hub(): WatchHub {
    return this.#hub;
  }

  /** The last entry index applied, durable with the data. */
  get applied(): number {
    return this.#applied;
  }

  /** The membership as of {@link applied}. */
  get confState(): ConfState {
    return this.#confState;
  }

  /** The member directory as of {@link applied}. */
  get members(): ReadonlyMap<NodeId, MemberInfo> {
    return this.#members;
  }

  /** The store's revision as of {@link applied}. */
  get revision(): number {
    return this.#store.revision;
  }

  /** The store's compact revision: history before it is gone. */
  get compactRevision(): number {
    return this.#store.compactRevision;
  }

  /**
   * Reads a range as of {@link applied} (see `MvccStore.range`).
   *
   * @throws {UnavailableError} while a snapshot is being restored.
   * @throws the store's typed errors on a bad request.
   */
  range(request: RangeRequest): RangeResponse {
    return this.#readable().range(request);
  }

  /** What the store records of a lease, as of {@link applied}. */
  leaseTimeToLive(id: number): LeaseInfo | undefined {
    return this.#readable().leaseTimeToLive(id);
  }

  /** Every lease id, as of {@link applied}. */
  leaseList(): number[] {
    return this.#readable().leaseList();
  }

  /** Each lease's TTLs, as of {@link applied}: what the member's lessor is reset from. */
  leaseTimers(): { id: number; grantedTtl: number; remainingTtl: number }[] {
    return this.#store.leaseTimers();
  }

  /**
   * Bytes of the LMDB data file: its pages up to the last one written.
   * LMDB reuses freed pages in place, so this is the high-water mark of the
   * state's size, not what it holds now.
   */
  get diskBytes(): number {
    const stats = this.#root.getStats() as { readonly pageSize: number; readonly lastPageNumber: number };
    return (stats.lastPageNumber + 1) * stats.pageSize;
  }

  /** The store's limits (the lessor's `leasesMax` must be the same). */
  get limits(): MvccStoreLimits {
    return this.#store.limits;
  }

  /** Whether compacted history remains to be freed ({@link compactStep}). */
  get compactionPending(): boolean {
    return this.#store.compactionPending;
  }

  /** Frees the compacted history of up to `keysMax` keys, in one transaction; true when none is left. */
  compactStep(keysMax = COMPACTION_KEYS_PER_STEP): boolean {
    this.#checkFreeSpace('free compacted history');
    return this.#root.transactionSync(() => this.#store.compactStep(keysMax));
  }

  /**
   * Refuses a write transaction while the state's file system has less
   * free space than its minimum (see {@link STATE_FREE_BYTES_MIN_DEFAULT})
   * plus `extraBytes`: LMDB would meet a full disk as a SIGBUS.
   *
   * @param what the refused write, for the error message (a function where building it costs).
   * @param extraBytes what this transaction may write beyond the usual bound.
   * @throws {NoSpaceError} when it has less.
   */
  #checkFreeSpace(what: string | (() => string), extraBytes = 0): void {
    if (this.#freeBytesMin === 0 && extraBytes === 0) return;
    const stats = statfsSync(this.#path);
    const free = stats.bavail * stats.bsize;
    const needed = this.#freeBytesMin + extraBytes;
    if (free >= needed) return;
    throw new NoSpaceError(
      `Cannot ${typeof what === 'string' ? what : what()}: the state's file system has ${free} bytes free, less than the ${needed} this write transaction needs`,
      { details: { freeBytes: free, freeBytesMin: needed } },
    );
  }

  /**
   * Applies committed entries in one transaction, with the new applied
   * index; entries at or below the applied index are skipped (a replay after
   * a crash). Returns each entry's result in order, once the transaction
   * is committed.
   *
   * A KV command the store refuses (a typed error: a bad request, a
   * compacted revision) changes nothing and answers its proposer with the
   * error; any other error is a bug and aborts the whole batch.
   */
  async apply(entries: readonly Entry[]): Promise<AppliedResult[]> {
    const fresh = entries.filter((entry) => entry.index > this.#applied);
    if (fresh.length === 0) return entries.map(() => undefined);
    let confState = this.#confState;
    // The directory is copied and rewritten only by a batch that changes it (most carry only KV writes).
    let members = this.#members;
    const changeMembers = (): Map<NodeId, MemberInfo> => {
      if (members === this.#members) members = new Map(members);
      return members as Map<NodeId, MemberInfo>;
    };
    const store = this.#store;
    const hub = this.#hub;
    const compactRevision = store.compactRevision;
    this.#checkFreeSpace(() => `apply entries ${fresh[0]?.index} to ${fresh[fresh.length - 1]?.index}`);
    const results = this.#root.transactionSync(() => {
      const out: AppliedResult[] = [];
      for (const entry of fresh) {
        if (entry.type === EntryType.confChange) {
          const change = decodeConfChange(entry.data);
          const next = nextConfState(confState, change);
          if (!(next instanceof Error)) {
            confState = next;
            const info = decodeMemberInfo(change.context);
            if (info !== undefined) changeMembers().set(change.nodeId, info);
            if (!next.voters.includes(change.nodeId) && !next.learners.includes(change.nodeId)) {
              changeMembers().delete(change.nodeId);
            }
          }
          out.push(undefined);
        } else if (entry.data.length === 0) {
          out.push(undefined);
        } else if (entry.data[0] === PUBLISH_TAG) {
          const published = decodePublish(entry.data);
          if (published !== undefined && members.has(published.id)) {
            changeMembers().set(published.id, published.info);
          }
          out.push(undefined);
        } else if (entry.data[0] === KV_TAG) {
          const applied = applyKvEntry(store, entry.data);
          // Watchers hear of each write in order, before anything else can read the hub.
          if (applied !== undefined && applied.events.length > 0)
            hub.notify(applied.events, applied.revision);
          out.push(applied);
        } else {
          out.push(undefined);
        }
      }
      const last = fresh[fresh.length - 1] as Entry;
      this.#meta.putSync('applied', last.index);
      if (confState !== this.#confState) this.#meta.putSync('confState', confState);
      if (members !== this.#members) this.#meta.putSync('members', [...members]);
      return out;
    });
    // Watchers still catching up below a new compaction point end with `COMPACTED`.
    if (store.compactRevision !== compactRevision) hub.onCompact();
    this.#applied = (fresh[fresh.length - 1] as Entry).index;
    this.#confState = confState;
    this.#members = members;
    const skipped = entries.length - fresh.length;
    return [...entries.slice(0, skipped).map(() => undefined), ...results];
  }

  /**
   * Writes the state into `write` as a snapshot image: a header record
   * (`{ applied, confState, members }`) then the store's records
   * (`MvccStore.snapshot`, about a megabyte each), each MessagePack.
   *
   * It reads one moment of the state (LMDB read transactions opened
   * together, no write between), so the image is the state as of one
   * applied index (returned, with the membership there) however many
   * entries are applied meanwhile; and it yields to the event loop after
   * every record, so a large state does not stop the Raft loop's ticks and
   * heartbeats while it is written.
   */
  async writeImage(
    begin: (at: { applied: number; confState: ConfState }) => Promise<(bytes: Uint8Array) => Promise<void>>,
  ): Promise<{ applied: number; confState: ConfState }> {
    const applied = this.#applied;
    const confState = this.#confState;
    const members = [...this.#members];
    const records = this.#store.snapshot();
    // Started at once, so that `return()` below always runs the generator's cleanup (its LMDB read transaction).
    const first = records.next();
    try {
      const write = await begin({ applied, confState });
      await write(encode({ applied, confState, members }));
      if (first.done !== true) await write(first.value);
      for (const record of records) {
        await write(record);
        await new Promise((resolve) => setImmediate(resolve));
      }
      return { applied, confState };
    } finally {
      records.return(undefined);
    }
  }

  /**
   * Takes a snapshot of the state into `snapshots` and resolves with its
   * metadata once it is durable; `termOf` gives the log term at an applied
   * index.
   *
   * The image is a compacting copy of the LMDB environment (lmdb's
   * `backup`, `mdb_env_copy2`: one read transaction, walked and written
   * on a libuv thread), then handed to the store whole when it can adopt
   * a file (`adoptFile`, a rename), else streamed into it a megabyte at a
   * time. The copy's transaction begins when that thread gets to it, so
   * the index and membership are read from the copy itself. Measured on
   * 300,000 versions of 256 B: the store's records ({@link writeImage},
   * the image before) took 2.1-2.3 s of CPU, mostly random reads of
   * values; the copy takes 0.07-0.26 s adopted, 0.32 s streamed (see
   * ARCHITECTURE). A copy larger than the store accepts falls back to the
   * records, which are smaller (no page overhead).
   *
   * @throws {NoSpaceError} (rejects) when the file system lacks room for the copy and the image.
   * @throws {CancelledError} (rejects) when the copy caught a restore under way.
   */
  async snapshotInto(snapshots: SnapshotStore, termOf: (index: number) => number): Promise<SnapshotMetadata> {
    if (this.#closing) throw new CancelledError('Cannot snapshot: the state is closing');
    if (this.#snapshotting) throw new UnavailableError('Cannot snapshot: a snapshot is under way; retry');
    const dir = join(this.#path, SNAPSHOT_COPY_DIR);
    rmSync(dir, { recursive: true, force: true });
    // The copy and the image are written with ordinary calls (a full disk is an error there, not a
    // SIGBUS), but they take room the state's writable map needs: room for both, on top of the floor.
    if (this.#freeBytesMin > 0) this.#checkFreeSpace('take a snapshot', 2 * this.diskBytes);
    mkdirSync(dir);
    this.#snapshotting = true;
    const copying = this.#root.backup(dir, true);
    this.#copying = copying.catch(() => undefined);
    try {
      await copying;
      const { applied, confState, restoring } = await readCopyMeta(dir);
      if (restoring !== undefined) {
        throw new CancelledError(`Cannot snapshot: the copy caught the restore of snapshot ${restoring}`);
      }
      const file = join(dir, LMDB_DATA_FILE);
      const size = statSync(file).size;
      if (size > snapshots.snapshotBytesMax) {
        rmSync(dir, { recursive: true, force: true });
        if (this.#restoring !== undefined) {
          throw new CancelledError(`Cannot snapshot: snapshot ${this.#restoring} is being restored`);
        }
        return await this.#snapshotRecords(snapshots, termOf);
      }
      const metadata = { index: applied, term: termOf(applied), confState };
      if (snapshots.adoptFile !== undefined) {
        try {
          return (await snapshots.adoptFile(metadata, file)).metadata;
        } catch (error) {
          // The snapshot store is on another file system: the copy is streamed into it instead.
          if (!isErrorCode(error, 'EXDEV')) throw error;
        }
      }
      const handle = await openFile(file, 'r');
      try {
        const sink = snapshots.create(metadata);
        try {
          for (let offset = 0; offset < size; ) {
            const chunk = await readFully(handle, Math.min(RESTORE_READ_BYTES, size - offset), offset);
            await sink.write(offset, chunk);
            offset += chunk.length;
          }
          return (await sink.commit()).metadata;
        } catch (error) {
          sink.abort();
          throw error;
        }
      } finally {
        await handle.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      this.#snapshotting = false;
    }
  }

  /** Takes a snapshot whose image is the store's records (see {@link writeImage}). */
  async #snapshotRecords(
    snapshots: SnapshotStore,
    termOf: (index: number) => number,
  ): Promise<SnapshotMetadata> {
    let sink: SnapshotSink | undefined;
    let offset = 0;
    await this.writeImage(async ({ applied, confState }) => {
      const opened = snapshots.create({ index: applied, term: termOf(applied), confState });
      sink = opened;
      return async (bytes) => {
        await opened.write(offset, bytes);
        offset += bytes.length;
      };
    });
    if (sink === undefined) throw new Error('Cannot snapshot: no image was written');
    return (await sink.commit()).metadata;
  }

  /**
   * Replaces the state with the image of the snapshot `ref` names, read
   * from `snapshots` a chunk at a time, so neither the snapshot nor the
   * state is ever held whole in memory. The image is either an LMDB copy
   * of a state ({@link snapshotInto}) or the store's records
   * ({@link writeImage}; snapshots taken before the copies).
   *
   * A copy is first written to a file beside the state and checked (an
   * LMDB environment of this format, at the snapshot's index): until then
   * nothing changes, and a failure leaves the state as it was. Then, as for
   * records, the restore takes many LMDB transactions: the first marks the
   * restore under way ({@link restoring}) and clears the data, the middle
   * ones copy the tables (or the records) about a megabyte at a time, the
   * last records the snapshot's index, membership and directory and clears
   * the mark. Reads are refused meanwhile (`UNAVAILABLE`); a crash in
   * between leaves the mark, and the member restores again on start.
   *
   * @param readBytes snapshot bytes read per step.
   * @throws {CorruptionError} (rejects) when the image is neither a copy of a state at the index nor records that decode.
   */
  async restore(
    snapshots: Pick<SnapshotStore, 'readChunk'>,
    ref: SnapshotRef,
    readBytes = RESTORE_READ_BYTES,
  ): Promise<void> {
    const { index } = ref.metadata;
    this.#checkFreeSpace(`restore snapshot ${index}`);
    const head =
      ref.totalBytes === 0 ? new Uint8Array(0) : await snapshots.readChunk(index, 0, Math.max(readBytes, 64));
    if (isLmdbImage(head)) {
      // The image is written beside the state first (ordinary writes), then its rows into the state.
      if (this.#freeBytesMin > 0) this.#checkFreeSpace(`restore snapshot ${index}`, 2 * ref.totalBytes);
      await this.#restoreCopy(snapshots, ref, readBytes, head);
    } else {
      await this.#restoreRecords(snapshots, ref, readBytes, head);
    }
  }

  async #restoreCopy(
    snapshots: Pick<SnapshotStore, 'readChunk'>,
    ref: SnapshotRef,
    readBytes: number,
    head: Uint8Array,
  ): Promise<void> {
    const { index, confState } = ref.metadata;
    const bad = (why: string) => cannotRestore(index, why);
    const dir = join(this.#path, RESTORE_COPY_DIR);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    try {
      const handle = await openFile(join(dir, LMDB_DATA_FILE), 'w');
      try {
        let chunk = head;
        for (let offset = 0; ; ) {
          await writeFully(handle, chunk, offset);
          offset += chunk.length;
          if (offset >= ref.totalBytes) break;
          chunk = await snapshots.readChunk(index, offset, readBytes);
          if (chunk.length === 0) throw bad(`its data ends at ${offset} of ${ref.totalBytes} bytes`);
        }
      } finally {
        await handle.close();
      }
      let copy: RootDatabase;
      try {
        copy = open({ path: dir, readOnly: true, compression: false, pageSize: LMDB_PAGE_SIZE });
      } catch (error) {
        throw bad(`it is not an LMDB environment: ${(error as Error).message}`);
      }
      try {
        // The environment's unnamed database lists its tables (a read-only environment opens a missing one
        // without complaint, and fails only when it is read).
        const present = new Set([...copy.getKeys()].map(String));
        const missing = ['meta', ...LmdbKvBackend.tableNames()].filter((name) => !present.has(name));
        if (missing.length > 0) throw bad(`it lacks the state's tables ${missing.join(', ')}`);
        const meta = copy.openDB<unknown, string>({ name: 'meta' });
        const tables = LmdbKvBackend.tableNames().map((name) => ({
          name,
          from: copy.openDB<Buffer, Buffer>({ name, ...LMDB_BINARY }),
        }));
        const format = meta.get('format');
        const applied = meta.get('applied');
        if (format !== STATE_FORMAT) throw bad(`its state has format ${String(format)}, not ${STATE_FORMAT}`);
        if (applied !== index) throw bad(`its state is at index ${String(applied)}`);
        if (meta.get('restoring') !== undefined) throw bad('its state was being restored');
        const members = (meta.get('members') as [NodeId, MemberInfo][] | undefined) ?? [];
        this.#beginRestore(index);
        await this.#copyTables(tables, index);
        this.#finishRestore(index, confState, members, MvccStore.open(this.#backend, this.#storeOptions));
      } finally {
        await copy.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Copies the store's tables from a copy's, about {@link RESTORE_COPY_STEP_BYTES} of rows per transaction. */
  async #copyTables(
    tables: readonly { name: string; from: Database<Buffer, Buffer> }[],
    index: number,
  ): Promise<void> {
    for (const { name, from } of tables) {
      const to = this.#root.openDB<Buffer, Buffer>({ name, ...LMDB_BINARY });
      let rows: { key: Buffer; value: Buffer }[] = [];
      let bytes = 0;
      const flush = async () => {
        this.#checkFreeSpace(`restore snapshot ${index}`);
        const batch = rows;
        this.#root.transactionSync(() => {
          // The table was cleared and the copy's rows come in key order: MDB_APPEND fills each page
          // before the next, where a put in the middle of the tree splits them half full.
          for (const { key, value } of batch) {
            if (!(to.putSync(key, value, { append: true }) as unknown as boolean)) {
              throw cannotRestore(index, `its table ${name} is not in key order`);
            }
          }
        });
        rows = [];
        bytes = 0;
        await new Promise((resolve) => setImmediate(resolve));
      };
      for (const { key, value } of from.getRange()) {
        rows.push({ key: Buffer.from(key), value: Buffer.from(value) });
        bytes += key.length + value.length;
        if (bytes >= RESTORE_COPY_STEP_BYTES) await flush();
      }
      if (rows.length > 0) await flush();
    }
  }

  /** The first transaction of a restore: marks it under way and clears the data. */
  #beginRestore(index: number): void {
    this.#restoring = index;
    this.#root.transactionSync(() => {
      this.#meta.putSync('restoring', index);
      this.#backend.clear();
    });
  }

  /** The last transaction of a restore: the snapshot's index, membership and directory; the mark cleared. */
  #finishRestore(
    index: number,
    confState: ConfState,
    directory: [NodeId, MemberInfo][],
    store: MvccStore,
  ): void {
    this.#checkFreeSpace(`restore snapshot ${index}`);
    this.#root.transactionSync(() => {
      this.#meta.putSync('applied', index);
      this.#meta.putSync('confState', confState);
      this.#meta.putSync('members', directory);
      this.#meta.removeSync('restoring');
    });
    this.#store = store;
    this.#hub = new WatchHub(store, this.#hubOptions);
    this.#applied = index;
    this.#confState = confState;
    this.#members = new Map(directory);
    this.#restoring = undefined;
  }

  /** Restores an image of the store's records ({@link writeImage}), whose first chunk is `head`. */
  async #restoreRecords(
    snapshots: Pick<SnapshotStore, 'readChunk'>,
    ref: SnapshotRef,
    readBytes: number,
    head: Uint8Array,
  ): Promise<void> {
    const { index, confState } = ref.metadata;
    this.#beginRestore(index);
    const restore = MvccStore.restore(this.#storeOptions, { backend: this.#backend, checkAll: false });
    const decoder = new MultiDecoder(IMAGE_RECORD_BYTES_MAX);
    let members: [NodeId, MemberInfo][] | undefined;
    const bad = (why: string) => cannotRestore(index, why);
    let store: MvccStore | undefined;
    for (let offset = 0; offset < ref.totalBytes; ) {
      const chunk = offset === 0 ? head : await snapshots.readChunk(index, offset, readBytes);
      if (chunk.length === 0) throw bad(`its data ends at ${offset} of ${ref.totalBytes} bytes`);
      offset += chunk.length;
      let records: unknown[];
      try {
        records = decoder.push(chunk);
      } catch (error) {
        throw bad((error as Error).message);
      }
      if (records.length === 0) continue;
      const last = offset >= ref.totalBytes;
      this.#checkFreeSpace(`restore snapshot ${index}`);
      try {
        this.#root.transactionSync(() => {
          for (const record of records) {
            if (members === undefined) {
              members = (record as { members?: [NodeId, MemberInfo][] } | null)?.members ?? [];
              continue;
            }
            restore.pushValue(record);
          }
          if (last) store = restore.finish();
        });
      } catch (error) {
        if (error instanceof ProtocolError) throw bad(error.message);
        throw error;
      }
    }
    try {
      decoder.end();
    } catch (error) {
      throw bad((error as Error).message);
    }
    if (store === undefined) throw bad('the image has no store records');
    this.#finishRestore(index, confState, members ?? [], store);
  }

  /** Syncs everything committed, marks the session closed cleanly, and closes LMDB. */
  async close(): Promise<void> {
    this.#closing = true;
    // A copy under way reads the environment from a libuv thread: it must end before the environment closes.
    await this.#copying;
    const session = this.#session;
    if (session !== undefined) {
      await new Promise<void>((resolve, reject) =>
        // `sync` (mdb_env_sync, forced, on a worker thread) is in lmdb-js but not in its typings.
        (this.#root as unknown as LmdbSyncable).sync((error) =>
          error === undefined ? resolve() : reject(error),
        ),
      );
      endSession(session.path, session.bootId);
    }
    await this.#root.close();
  }
}

/**
 * Applies one KV entry to the store. A typed error (the request's fault)
 * becomes the proposer's answer and changes nothing; anything else throws.
 */
function applyKvEntry(store: MvccStore, data: Uint8Array): KvApplied | undefined {
  let request: KvRequest;
  try {
    request = decodeKvEntry(data);
  } catch (error) {
    // Every member refuses the same bytes the same way; the proposer's waiter times out or is dropped.
    if (error instanceof TesseraError) return undefined;
    throw error;
  }
  const { clientId, requestId, command } = request;
  try {
    const result = applyCommand(store, command);
    return {
      clientId,
      requestId,
      outcome: { response: result.response },
      events: result.events,
      leases: result.leases,
      revision: store.revision,
    };
  } catch (error) {
    if (!(error instanceof TesseraError)) throw error;
    return {
      clientId,
      requestId,
      outcome: { error: { code: error.code, message: error.message, details: error.details } },
      events: [],
      leases: [],
      revision: store.revision,
    };
  }
}

/** Keys and values as bytes, untouched: how a copy's tables are read and written. */
const LMDB_BINARY = { keyEncoding: 'binary', encoding: 'binary' } as const;

/** LMDB's data file in an environment's directory. */
const LMDB_DATA_FILE = 'data.mdb';

/** The state's own records in an LMDB copy of it ({@link LmdbState.snapshotInto}). */
async function readCopyMeta(
  dir: string,
): Promise<{ applied: number; confState: ConfState; restoring: number | undefined }> {
  const copy = open({ path: dir, readOnly: true, compression: false, pageSize: LMDB_PAGE_SIZE });
  try {
    const meta = copy.openDB<unknown, string>({ name: 'meta' });
    return {
      applied: (meta.get('applied') as number | undefined) ?? 0,
      confState: (meta.get('confState') as ConfState | undefined) ?? { voters: [], learners: [] },
      restoring: meta.get('restoring') as number | undefined,
    };
  } finally {
    await copy.close();
  }
}

/** The error of a restore whose image is not what it must be. */
function cannotRestore(index: number, why: string): CorruptionError {
  return new CorruptionError(`Cannot restore snapshot ${index}: ${why}`, { details: { index } });
}
