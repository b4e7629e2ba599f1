/**
 * A naive reference model of the MVCC store for tests: every version of
 * every key ever written in one flat list, searched linearly, never
 * compacted; etcd's rules written out again from the spec, independent of
 * the store's code (byte order by `Buffer.compare`, its own span rules).
 * `mvcc-model.test.ts` runs random requests against both.
 *
 * @module
 */
import type {
  Compare,
  DeleteRangeRequest,
  Event,
  KeyValue,
  PutRequest,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  SortTarget,
} from './types.ts';

const EMPTY = new Uint8Array(0);

/** Byte order by Buffer.compare: independent of the code under test. */
export function byteOrder(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** Etcd's span rules, written out again from the spec. */
export function inSpan(key: Uint8Array, start: Uint8Array, end: Uint8Array | undefined): boolean {
  if (end === undefined || end.length === 0) return byteOrder(key, start) === 0;
  if (end.length === 1 && end[0] === 0) return byteOrder(key, start) >= 0;
  return byteOrder(key, start) >= 0 && byteOrder(key, end) < 0;
}

/** One version in the model: a put, or a delete (`deleted`). */
export interface Version {
  key: Uint8Array;
  revision: number;
  deleted: boolean;
  value: Uint8Array;
  createRevision: number;
  version: number;
  lease: number;
}

/** The error code the store is expected to throw. */
export class ModelError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

/** The reference: every version ever, searched linearly. */
export class Model {
  revision = 1;
  compactRevision = 0;
  versions: Version[] = [];
  leases = new Set<number>();

  /** @param pageMax the store's `rangeKeysPerPageMax`. */
  constructor(readonly pageMax: number) {}

  /** The newest version of `key` at or before `revision`. */

  latest(key: Uint8Array, revision: number): Version | undefined {
    let found: Version | undefined;
    for (const v of this.versions) {
      if (
        byteOrder(v.key, key) === 0 &&
        v.revision <= revision &&
        (found === undefined || v.revision > found.revision)
      ) {
        found = v;
      }
    }
    return found;
  }

  /** The keys of a span that exist at `revision`, in byte order. */
  live(revision: number, start: Uint8Array, end: Uint8Array | undefined): KeyValue[] {
    const keys = new Map<string, Uint8Array>();
    for (const v of this.versions)
      if (inSpan(v.key, start, end)) keys.set(Buffer.from(v.key).toString('hex'), v.key);
    const result: KeyValue[] = [];
    for (const key of keys.values()) {
      const v = this.latest(key, revision);
      if (v !== undefined && !v.deleted) result.push(kvOf(v));
    }
    return result.sort((a, b) => byteOrder(a.key, b.key));
  }

  /** The revision a read asks for, or the error code the store must throw. */
  readRevision(requested: number | undefined, current: number): number {
    const revision = requested ?? 0;
    if (revision === 0) return current;
    if (revision > current) throw new ModelError('INVALID_ARGUMENT');
    if (revision < this.compactRevision) throw new ModelError('COMPACTED');
    return revision;
  }

  /** etcd's range: count all, filter, sort (ties by key, descend reversed), page. */
  range(request: RangeRequest, current: number, header = current): RangeResponse {
    const revision = request.revision === undefined || request.revision === 0 ? current : request.revision;
    const all = this.live(revision, request.key, request.rangeEnd);
    if (request.countOnly === true) return { revision: header, kvs: [], more: false, count: all.length };
    const { minModRevision = 0, maxModRevision = 0, minCreateRevision = 0, maxCreateRevision = 0 } = request;
    const kept = all.filter(
      (kv) =>
        (minModRevision === 0 || kv.modRevision >= minModRevision) &&
        (maxModRevision === 0 || kv.modRevision <= maxModRevision) &&
        (minCreateRevision === 0 || kv.createRevision >= minCreateRevision) &&
        (maxCreateRevision === 0 || kv.createRevision <= maxCreateRevision),
    );
    const target = request.sortTarget ?? 'key';
    let order = request.sortOrder ?? 'none';
    if (target !== 'key' && order === 'none') order = 'ascend';
    const sorted =
      order === 'none' ? kept : [...kept].sort((a, b) => sortBy(target, a, b) || byteOrder(a.key, b.key));
    if (order === 'descend') sorted.reverse();
    const limit = request.limit ?? 0;
    const pageMax = limit > 0 ? Math.min(limit, this.pageMax) : this.pageMax;
    const kvs = sorted
      .slice(0, pageMax)
      .map((kv) => (request.keysOnly === true ? { ...kv, value: EMPTY } : kv));
    return { revision: header, kvs, more: sorted.length > kvs.length, count: all.length };
  }

  /** etcd's applyCompare against the current revision. */
  compareHolds(compare: Compare): boolean {
    const kvs = this.live(this.revision, compare.key, compare.rangeEnd);
    if (kvs.length === 0 && compare.target === 'value') return false;
    const zero: KeyValue = {
      key: compare.key,
      value: EMPTY,
      createRevision: 0,
      modRevision: 0,
      version: 0,
      lease: 0,
    };
    return (kvs.length === 0 ? [zero] : kvs).every((kv) => {
      const d = compareTargetOf(compare, kv);
      return { equal: d === 0, notEqual: d !== 0, less: d < 0, greater: d > 0 }[compare.result];
    });
  }
}

function sortBy(target: SortTarget, a: KeyValue, b: KeyValue): number {
  if (target === 'version') return a.version - b.version;
  if (target === 'create') return a.createRevision - b.createRevision;
  if (target === 'mod') return a.modRevision - b.modRevision;
  if (target === 'value') return byteOrder(a.value, b.value);
  return 0;
}

function compareTargetOf(compare: Compare, kv: KeyValue): number {
  switch (compare.target) {
    case 'value':
      return byteOrder(kv.value, compare.value);
    case 'version':
      return kv.version - compare.version;
    case 'createRevision':
      return kv.createRevision - compare.createRevision;
    case 'modRevision':
      return kv.modRevision - compare.modRevision;
    case 'lease':
      return kv.lease - compare.lease;
  }
}

/** The public view of a model version. */
export function kvOf(v: Version): KeyValue {
  return {
    key: v.key,
    value: v.value,
    createRevision: v.createRevision,
    modRevision: v.revision,
    version: v.version,
    lease: v.lease,
  };
}

/** One revision being written in the model. */
export class ModelWriter {
  readonly revision: number;
  changed = false;
  events: Event[] = [];

  constructor(readonly model: Model) {
    this.revision = model.revision + 1;
  }
  /** The revision a read inside the request sees. */
  get readRevision(): number {
    return this.changed ? this.revision : this.model.revision;
  }
  /** Puts a key at this revision. */
  put(request: PutRequest): ResponseOp {
    const before = this.model.latest(request.key, this.revision);
    const prev = before === undefined || before.deleted ? undefined : before;
    const v: Version = {
      key: request.key,
      revision: this.revision,
      deleted: false,
      value: request.value ?? EMPTY,
      createRevision: prev?.createRevision ?? this.revision,
      version: (prev?.version ?? 0) + 1,
      lease: request.lease ?? 0,
    };
    this.model.versions.push(v);
    this.changed = true;
    this.events.push(
      prev === undefined ? { type: 'put', kv: kvOf(v) } : { type: 'put', kv: kvOf(v), prevKv: kvOf(prev) },
    );
    const response =
      request.prevKv === true && prev !== undefined
        ? { revision: this.revision, prevKv: kvOf(prev) }
        : { revision: this.revision };
    return { type: 'put', response };
  }
  /** Deletes the live keys of a span at this revision. */
  deleteRange(request: DeleteRangeRequest): ResponseOp {
    const doomed = this.model.live(this.revision, request.key, request.rangeEnd);
    for (const kv of doomed) this.deleteKey(kv);
    return {
      type: 'deleteRange',
      response: {
        revision: this.readRevision,
        deleted: doomed.length,
        prevKvs: request.prevKv === true ? doomed : [],
      },
    };
  }
  /** Deletes one live key at this revision. */
  deleteKey(prev: KeyValue): void {
    const tomb: Version = {
      key: prev.key,
      revision: this.revision,
      deleted: true,
      value: EMPTY,
      createRevision: 0,
      version: 0,
      lease: 0,
    };
    this.model.versions.push(tomb);
    this.changed = true;
    this.events.push({ type: 'delete', kv: kvOf(tomb), prevKv: prev });
  }
  /** Makes the revision current when anything was written. */
  commit(): number {
    if (this.changed) this.model.revision = this.revision;
    return this.model.revision;
  }
}

/** Flat transactions only (what the generator makes): whether a key is written twice in one branch. */
export function modelTxnDuplicates(ops: readonly RequestOp[]): boolean {
  const puts = ops.flatMap((op) => (op.type === 'put' ? [op.request.key] : []));
  const deletes = ops.flatMap((op) => (op.type === 'deleteRange' ? [op.request] : []));
  for (let i = 0; i < puts.length; i++) {
    for (let j = i + 1; j < puts.length; j++)
      if (byteOrder(puts[i] as Uint8Array, puts[j] as Uint8Array) === 0) return true;
    if (deletes.some((d) => inSpan(puts[i] as Uint8Array, d.key, d.rangeEnd))) return true;
  }
  return false;
}
