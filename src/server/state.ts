/**
 * The replicated state on disk: the simple key-value machine the simulator
 * runs (`executeKvCommand`), the membership and the member directory, kept
 * in LMDB (the `lmdb` package), with the applied index written in the same
 * transaction as the data it describes, so a crash never applies an entry
 * twice or skips one: on restart the member resumes right after the index
 * LMDB holds, and the WAL replays the rest.
 *
 * @module
 */
import { type Database, open, type RootDatabase } from 'lmdb';
import { UnavailableError } from '../base/errors.ts';
import { decode, encode, MultiDecoder } from '../codec/msgpack.ts';
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
import {
  decodeRequest,
  executeKvCommand,
  type KvApplied,
  type KvCommand,
  type KvOutput,
} from '../sim/kv-machine.ts';
import { CorruptionError } from '../storage/errors.ts';
import { decodeMemberInfo, type MemberInfo, memberInfoFrom } from './member.ts';

/** First byte of a publish entry; KV requests are JSON and start with `{`. */
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

/** Most `[key, value]` pairs per record of a snapshot image. */
export const IMAGE_PAIRS_PER_RECORD = 1000;
/** A record of a snapshot image ends once its keys and values pass this many bytes. */
export const IMAGE_RECORD_BYTES_TARGET = 1024 * 1024;
/**
 * The largest record a restore accepts: the target plus one pair at the
 * API's limits (4 KiB key, 1 MiB value), doubled for MessagePack framing.
 */
export const IMAGE_RECORD_BYTES_MAX = 2 * (IMAGE_RECORD_BYTES_TARGET + 4096 + 1024 * 1024);
/** Snapshot bytes read per step of a restore (one LMDB transaction each). */
export const RESTORE_READ_BYTES = 1024 * 1024;

/** The result of applying one entry: the proposal it answers, if any. */
export type AppliedResult = KvApplied | undefined;

/** The node's state machine, on LMDB. */
export class LmdbState {
  readonly #root: RootDatabase;
  readonly #kv: Database<string, string>;
  readonly #meta: Database<unknown, string>;
  #applied: number;
  #confState: ConfState;
  #members: Map<NodeId, MemberInfo>;
  /** The snapshot index a restore under way (or cut short by a crash) is installing. */
  #restoring: number | undefined;

  private constructor(root: RootDatabase) {
    this.#root = root;
    this.#kv = root.openDB<string, string>({ name: 'kv', encoding: 'string' });
    this.#meta = root.openDB<unknown, string>({ name: 'meta' });
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

  #checkReadable(): void {
    if (this.#restoring !== undefined) {
      throw new UnavailableError(`Cannot read: snapshot ${this.#restoring} is being restored; retry`);
    }
  }

  /** Opens (creating) the state in directory `path`. */
  static open(path: string): LmdbState {
    return new LmdbState(open({ path, compression: false }));
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

  /**
   * Reads a key as of {@link applied}.
   *
   * @throws {UnavailableError} while a snapshot is being restored.
   */
  get(key: string): string | undefined {
    this.#checkReadable();
    return this.#kv.get(key);
  }

  /** Keys held (for status and tests). */
  get size(): number {
    return this.#kv.getCount();
  }

  /**
   * Applies committed entries in one transaction, with the new applied
   * index; entries at or below the applied index are skipped (a replay after
   * a crash). Resolves once the transaction is durable, with each entry's
   * result in order.
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
    const results = await this.#root.transaction(() => {
      const cells = {
        get: (key: string) => this.#kv.get(key),
        set: (key: string, value: string) => this.#kv.put(key, value),
        delete: (key: string) => this.#kv.remove(key),
      };
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
        } else {
          const { clientId, requestId, command } = decodeRequest(entry.data);
          out.push({ clientId, requestId, output: executeKvCommand(cells, command) });
        }
      }
      const last = fresh[fresh.length - 1] as Entry;
      this.#meta.put('applied', last.index);
      if (confState !== this.#confState) this.#meta.put('confState', confState);
      if (members !== this.#members) this.#meta.put('members', [...members]);
      return out;
    });
    this.#applied = (fresh[fresh.length - 1] as Entry).index;
    this.#confState = confState;
    this.#members = members;
    const skipped = entries.length - fresh.length;
    return [...entries.slice(0, skipped).map(() => undefined), ...results];
  }

  /**
   * Runs a read-only command against the applied state.
   *
   * @throws {UnavailableError} while a snapshot is being restored.
   */
  read(command: KvCommand): KvOutput {
    this.#checkReadable();
    return executeKvCommand(
      {
        get: (key) => this.#kv.get(key),
        set: () => {
          throw new TypeError('Cannot write in a read');
        },
        delete: () => {
          throw new TypeError('Cannot write in a read');
        },
      },
      command,
    );
  }

  /**
   * Writes the state into `write` as a snapshot image: a header record
   * (`{ applied, confState, members }`) then records of up to
   * {@link IMAGE_PAIRS_PER_RECORD} `[key, value]` pairs and about
   * {@link IMAGE_RECORD_BYTES_TARGET} bytes, each MessagePack.
   *
   * It reads one LMDB read transaction, so the image is the state as of one
   * applied index (returned, with the membership there) however many
   * entries are applied meanwhile; and it yields to the event loop after
   * every record, so a large state does not stop the Raft loop's ticks and
   * heartbeats while it is written.
   */
  async writeImage(
    begin: (at: { applied: number; confState: ConfState }) => Promise<(bytes: Uint8Array) => Promise<void>>,
  ): Promise<{ applied: number; confState: ConfState }> {
    const transaction = this.#root.useReadTransaction();
    try {
      const applied = (this.#meta.get('applied', { transaction }) as number | undefined) ?? 0;
      const confState = (this.#meta.get('confState', { transaction }) as ConfState | undefined) ?? {
        voters: [],
        learners: [],
      };
      const members =
        (this.#meta.get('members', { transaction }) as [NodeId, MemberInfo][] | undefined) ?? [];
      const write = await begin({ applied, confState });
      await write(encode({ applied, confState, members }));
      let pairs: [string, string][] = [];
      let bytes = 0;
      for (const { key, value } of this.#kv.getRange({ transaction })) {
        pairs.push([key, value]);
        bytes += key.length + value.length;
        if (pairs.length < IMAGE_PAIRS_PER_RECORD && bytes < IMAGE_RECORD_BYTES_TARGET) continue;
        await write(encode(pairs));
        pairs = [];
        bytes = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (pairs.length > 0) await write(encode(pairs));
      return { applied, confState };
    } finally {
      transaction.done();
    }
  }

  /**
   * Takes a snapshot of the state into `snapshots` (streamed, see
   * {@link writeImage}); `termOf` gives the log term at the applied index.
   * Resolves with the snapshot's metadata once it is durable.
   */
  async snapshotInto(snapshots: SnapshotStore, termOf: (index: number) => number): Promise<SnapshotMetadata> {
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
   * Replaces the state with the image (see {@link writeImage}) of the
   * snapshot `ref` names, read from `snapshots` a chunk at a time, so
   * neither the snapshot nor the state is ever held whole in memory.
   *
   * It takes many LMDB transactions (one per chunk): the first marks the
   * restore under way ({@link restoring}) and clears the data, the last
   * records the snapshot's index, membership and directory and clears the
   * mark. Reads are refused meanwhile (`UNAVAILABLE`); a crash in between
   * leaves the mark, and the member restores again on start.
   *
   * @param readBytes snapshot bytes read per step.
   * @throws {CorruptionError} (rejects) when the image does not decode.
   */
  async restore(
    snapshots: Pick<SnapshotStore, 'readChunk'>,
    ref: SnapshotRef,
    readBytes = RESTORE_READ_BYTES,
  ): Promise<void> {
    const { index, confState } = ref.metadata;
    this.#restoring = index;
    await this.#root.transaction(() => {
      this.#meta.put('restoring', index);
      this.#kv.clearSync();
    });
    const decoder = new MultiDecoder(IMAGE_RECORD_BYTES_MAX);
    let members: [NodeId, MemberInfo][] | undefined;
    const bad = (why: string) =>
      new CorruptionError(`Cannot restore snapshot ${index}: ${why}`, { details: { index } });
    for (let offset = 0; offset < ref.totalBytes; ) {
      const chunk = await snapshots.readChunk(index, offset, readBytes);
      if (chunk.length === 0) throw bad(`its data ends at ${offset} of ${ref.totalBytes} bytes`);
      offset += chunk.length;
      let records: unknown[];
      try {
        records = decoder.push(chunk);
      } catch (error) {
        throw bad((error as Error).message);
      }
      if (records.length === 0) continue;
      await this.#root.transaction(() => {
        for (const record of records) {
          if (members === undefined) {
            members = (record as { members?: [NodeId, MemberInfo][] } | null)?.members ?? [];
            continue;
          }
          for (const [key, value] of record as [string, string][]) this.#kv.put(key, value);
        }
      });
    }
    try {
      decoder.end();
    } catch (error) {
      throw bad((error as Error).message);
    }
    const directory = members ?? [];
    await this.#root.transaction(() => {
      this.#meta.put('applied', index);
      this.#meta.put('confState', confState);
      this.#meta.put('members', directory);
      this.#meta.remove('restoring');
    });
    this.#applied = index;
    this.#confState = confState;
    this.#members = new Map(directory);
    this.#restoring = undefined;
  }

  async close(): Promise<void> {
    await this.#root.close();
  }
}
