/**
 * The MVCC store against a naive reference model, for any backend (the
 * in-memory one in `mvcc-model.test.ts`, LMDB in
 * `src/storage/lmdb-kv-backend.test.ts`): a flat list of every
 * version of every key ever written, never compacted. Random sequences of
 * puts, deletes, transactions, leases, compactions (and their steps),
 * snapshot round trips and ranges (at past revisions too, with limits,
 * sorts and filters) run on both; every answer, event and error code must
 * agree, and the store's invariants must hold after every step.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TesseraError } from '../base/errors.ts';
import type { MvccStoreOptions } from './limits.ts';
import { MvccStore, type RestoreTarget } from './mvcc-store.ts';
import { Model, ModelError, ModelWriter, modelTxnDuplicates } from './reference-model.ts';
import type {
  Compare,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  ResponseOp,
  TxnRequest,
} from './types.ts';

const EMPTY = new Uint8Array(0);
const ALL = Uint8Array.of(0);
const KEYS = [[0x00], [0x61], [0x61, 0x00], [0x61, 0x62], [0x61, 0xff], [0x62], [0x62, 0x61], [0xff]].map(
  (k) => Uint8Array.from(k),
);

type Op =
  | { kind: 'put'; request: PutRequest }
  | { kind: 'deleteRange'; request: DeleteRangeRequest }
  | { kind: 'range'; request: RangeRequest; back?: number }
  | { kind: 'txn'; request: TxnRequest }
  | { kind: 'compact'; revision: number; back?: number }
  | { kind: 'compactStep'; keys: number }
  | { kind: 'leaseGrant'; id: number }
  | { kind: 'leaseRevoke'; id: number }
  | { kind: 'snapshot'; recordBytes: number };

/** Runs one op on the model; returns its result or throws a ModelError with the expected code. */
function runModel(model: Model, op: Op): unknown {
  switch (op.kind) {
    case 'put': {
      const lease = op.request.lease ?? 0;
      if (lease !== 0 && !model.leases.has(lease)) throw new ModelError('INVALID_ARGUMENT');
      const writer = new ModelWriter(model);
      const response = writer.put(op.request).response;
      writer.commit();
      return { response, events: writer.events };
    }
    case 'deleteRange': {
      const writer = new ModelWriter(model);
      const response = writer.deleteRange(op.request).response;
      writer.commit();
      return { response, events: writer.events };
    }
    case 'range':
      return model.range(op.request, model.readRevision(op.request.revision, model.revision), model.revision);
    case 'txn': {
      const { compare = [], success = [], failure = [] } = op.request;
      if (modelTxnDuplicates(success) || modelTxnDuplicates(failure))
        throw new ModelError('INVALID_ARGUMENT');
      const succeeded = compare.every((c) => model.compareHolds(c));
      const ops = succeeded ? success : failure;
      for (const inner of ops) {
        if (
          inner.type === 'put' &&
          (inner.request.lease ?? 0) !== 0 &&
          !model.leases.has(inner.request.lease ?? 0)
        ) {
          throw new ModelError('INVALID_ARGUMENT');
        }
        if (inner.type === 'range') model.readRevision(inner.request.revision, model.revision);
      }
      const writer = new ModelWriter(model);
      const responses = ops.map((inner): ResponseOp => {
        if (inner.type === 'put') return writer.put(inner.request);
        if (inner.type === 'deleteRange') return writer.deleteRange(inner.request);
        if (inner.type === 'range') {
          const current = writer.readRevision;
          const revision = inner.request.revision || current;
          return { type: 'range', response: model.range({ ...inner.request, revision }, revision, current) };
        }
        throw new Error('nested transactions are not generated');
      });
      const revision = writer.commit();
      return { response: { revision, succeeded, responses }, events: writer.events };
    }
    case 'compact':
      if (op.revision < 1) throw new ModelError('INVALID_ARGUMENT');
      if (op.revision <= model.compactRevision) throw new ModelError('COMPACTED');
      if (op.revision > model.revision) throw new ModelError('INVALID_ARGUMENT');
      model.compactRevision = op.revision;
      return { revision: model.revision };
    case 'leaseGrant':
      if (model.leases.has(op.id)) throw new ModelError('INVALID_ARGUMENT');
      model.leases.add(op.id);
      return { revision: model.revision, id: op.id, ttl: 10 };
    case 'leaseRevoke': {
      if (!model.leases.has(op.id)) throw new ModelError('INVALID_ARGUMENT');
      model.leases.delete(op.id);
      const writer = new ModelWriter(model);
      const attached = model.live(model.revision, Uint8Array.of(0), ALL).filter((kv) => kv.lease === op.id);
      for (const kv of attached) writer.deleteKey(kv);
      const revision = writer.commit();
      return { response: { revision, deleted: attached.length }, events: writer.events };
    }
    case 'compactStep':
    case 'snapshot':
      return undefined;
  }
}

/** How the suite makes and changes stores of one backend. */
export interface ModelHarness {
  /** A new, empty store. */
  create(options: MvccStoreOptions): MvccStore;
  /** Runs a call that may write (a disk store: in a write transaction). */
  write<T>(run: () => T): T;
  /** Where a snapshot is restored to (emptied): the other store of a pair, for a disk backend. */
  restoreTarget(): RestoreTarget | undefined;
}

/** Runs one op on the store; returns [the store to go on with, its result]. */
function runStore(harness: ModelHarness, store: MvccStore, op: Op): [MvccStore, unknown] {
  if (op.kind !== 'range' && op.kind !== 'snapshot') return harness.write(() => runStoreOp(store, op));
  return runStoreOp(store, op, harness);
}

function runStoreOp(store: MvccStore, op: Op, harness?: ModelHarness): [MvccStore, unknown] {
  switch (op.kind) {
    case 'put':
      return [store, store.put(op.request)];
    case 'deleteRange':
      return [store, store.deleteRange(op.request)];
    case 'range':
      return [store, store.range(op.request)];
    case 'txn':
      return [store, store.txn(op.request)];
    case 'compact':
      return [store, store.compact({ revision: op.revision })];
    case 'compactStep':
      store.compactStep(op.keys);
      return [store, undefined];
    case 'leaseGrant':
      return [store, store.leaseGrant({ id: op.id, ttl: 10 })];
    case 'leaseRevoke':
      return [store, store.leaseRevoke({ id: op.id })];
    case 'snapshot': {
      const records = [...store.snapshot(op.recordBytes)];
      const restored = (harness as ModelHarness).write(() => {
        const restore = MvccStore.restore(store.limits, (harness as ModelHarness).restoreTarget());
        for (const record of records) restore.push(record);
        return restore.finish();
      });
      // The image is a function of what the store answers: the copy writes the same one.
      assert.deepEqual(
        [...restored.snapshot(op.recordBytes)].map((r) => Buffer.from(r).toString('hex')),
        records.map((r) => Buffer.from(r).toString('hex')),
      );
      return [restored, undefined];
    }
  }
}

const keyArb = fc.constantFrom(...KEYS);
const rangeEndArb = fc.oneof(
  fc.constant(undefined),
  fc.constant(ALL),
  keyArb,
  keyArb.map((k) => Uint8Array.of(...k, 0xff)),
);
const valueArb = fc.oneof(fc.constant(EMPTY), fc.uint8Array({ minLength: 1, maxLength: 3 }));
const leaseArb = fc.constantFrom(0, 0, 1, 2, 3);
const revisionArb = fc.oneof(fc.constant(0), fc.nat({ max: 30 }));

const putArb = fc.record(
  { key: keyArb, value: valueArb, lease: leaseArb, prevKv: fc.boolean() },
  { requiredKeys: ['key', 'value'] },
);
const deleteArb = fc.record(
  { key: keyArb, rangeEnd: rangeEndArb, prevKv: fc.boolean() },
  { requiredKeys: ['key'] },
);
/** Present now and then: most generated reads must return keys for the checks to bite. */
function sometimes<T extends object>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | object> {
  return fc.oneof({ weight: 3, arbitrary: fc.constant({}) }, { weight: 1, arbitrary });
}
const rangeArb: fc.Arbitrary<RangeRequest> = fc
  .tuple(
    fc.record({ key: keyArb, rangeEnd: rangeEndArb }),
    fc.record(
      {
        limit: fc.nat({ max: 4 }),
        revision: revisionArb,
        sortOrder: fc.constantFrom('none', 'ascend', 'descend'),
        sortTarget: fc.constantFrom('key', 'version', 'create', 'mod', 'value'),
        keysOnly: fc.boolean(),
      },
      { requiredKeys: [] },
    ),
    sometimes(fc.record({ countOnly: fc.boolean() })),
    sometimes(
      fc.record(
        {
          minModRevision: fc.nat({ max: 20 }),
          maxModRevision: fc.nat({ max: 20 }),
          minCreateRevision: fc.nat({ max: 20 }),
          maxCreateRevision: fc.nat({ max: 20 }),
        },
        { requiredKeys: [] },
      ),
    ),
  )
  .map(([span, options, count, filters]) => {
    const request = { ...span, ...options, ...count, ...filters } as Record<string, unknown>;
    if (request['rangeEnd'] === undefined) delete request['rangeEnd'];
    return request as unknown as RangeRequest;
  });
const compareArb: fc.Arbitrary<Compare> = fc
  .tuple(
    keyArb,
    fc.option(rangeEndArb, { nil: undefined }),
    fc.constantFrom('equal', 'notEqual', 'less', 'greater'),
  )
  .chain(([key, rangeEnd, result]) => {
    const base = rangeEnd === undefined ? { key, result } : { key, rangeEnd, result };
    return fc.oneof(
      fc.nat({ max: 4 }).map((version): Compare => ({ ...base, target: 'version', version })),
      fc
        .nat({ max: 20 })
        .map((createRevision): Compare => ({ ...base, target: 'createRevision', createRevision })),
      fc.nat({ max: 20 }).map((modRevision): Compare => ({ ...base, target: 'modRevision', modRevision })),
      valueArb.map((value): Compare => ({ ...base, target: 'value', value })),
      leaseArb.map((lease): Compare => ({ ...base, target: 'lease', lease })),
    );
  });
const innerOpArb: fc.Arbitrary<RequestOp> = fc.oneof(
  putArb.map((request): RequestOp => ({ type: 'put', request: request as PutRequest })),
  deleteArb.map((request): RequestOp => ({ type: 'deleteRange', request: request as DeleteRangeRequest })),
  rangeArb.map((request): RequestOp => ({ type: 'range', request })),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: putArb.map((request): Op => ({ kind: 'put', request: request as PutRequest })) },
  {
    weight: 1,
    arbitrary: deleteArb.map(
      (request): Op => ({ kind: 'deleteRange', request: request as DeleteRangeRequest }),
    ),
  },
  { weight: 3, arbitrary: rangeArb.map((request): Op => ({ kind: 'range', request })) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(rangeArb, fc.nat({ max: 6 }))
      .map(([request, back]): Op => ({ kind: 'range', request, back })),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({
        compare: fc.array(compareArb, { maxLength: 2 }),
        success: fc.array(innerOpArb, { maxLength: 3 }),
        failure: fc.array(innerOpArb, { maxLength: 3 }),
      })
      .map((request): Op => ({ kind: 'txn', request })),
  },
  { weight: 1, arbitrary: fc.nat({ max: 30 }).map((revision): Op => ({ kind: 'compact', revision })) },
  { weight: 1, arbitrary: fc.nat({ max: 4 }).map((back): Op => ({ kind: 'compact', revision: 0, back })) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 3 }).map((keys): Op => ({ kind: 'compactStep', keys })) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 3 }).map((id): Op => ({ kind: 'leaseGrant', id })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }).map((id): Op => ({ kind: 'leaseRevoke', id })) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 120 }).map((recordBytes): Op => ({ kind: 'snapshot', recordBytes })),
  },
);

/** Turns a revision given as "this many back from the current one" into an absolute one. */
function resolve(op: Op, revision: number): Op {
  if (op.kind === 'range' && op.back !== undefined) {
    return { kind: 'range', request: { ...op.request, revision: Math.max(1, revision - op.back) } };
  }
  if (op.kind === 'compact' && op.back !== undefined)
    return { kind: 'compact', revision: revision - op.back };
  return op;
}

/** The outcome of one run, error or result, as a comparable value. */
function outcome(run: () => unknown): unknown {
  try {
    return { ok: run() };
  } catch (error) {
    if (error instanceof ModelError) return { error: error.code };
    if (error instanceof TesseraError) return { error: error.code };
    throw error;
  }
}

/** How often each kind of op met each outcome over the whole run. */
const TALLY = new Map<string, number>();

function tally(op: Op, result: unknown): void {
  const kvs = ((result as { ok?: { kvs?: unknown[] } }).ok?.kvs ?? []).length;
  const name = `${op.kind}:${(result as { error?: string }).error ?? (kvs > 1 ? 'ok, several keys' : 'ok')}`;
  TALLY.set(name, (TALLY.get(name) ?? 0) + 1);
}

/**
 * Random op sequences on the store and the model: every answer, event and
 * error code must agree, and the invariants hold after every step.
 */
export function checkAgainstModel(harness: ModelHarness, numRuns: number): void {
  TALLY.clear();
  fc.assert(
    fc.property(
      fc.array(opArb, { maxLength: 80, size: 'max' }),
      fc.constantFrom(2, 10_000),
      (ops, pageMax) => {
        const model = new Model(pageMax);
        let store = harness.create({ rangeKeysPerPageMax: pageMax, leaseTtlSecondsMin: 10 });
        for (const generated of ops) {
          const op = resolve(generated, model.revision);
          const expected = outcome(() => runModel(model, op));
          const actual = outcome(() => {
            const [next, value] = runStore(harness, store, op);
            store = next;
            return value;
          });
          tally(op, actual);
          assert.deepEqual(actual, expected, `op ${JSON.stringify(op.kind)}`);
          store.checkInvariants();
          assert.equal(store.revision, model.revision);
          assert.equal(store.compactRevision, model.compactRevision);
        }
        // Every revision still readable answers as the model does, whole keyspace.
        for (let revision = Math.max(model.compactRevision, 1); revision <= model.revision; revision++) {
          const request = { key: Uint8Array.of(0), rangeEnd: ALL, revision };
          assert.deepEqual(store.range(request), model.range(request, revision, model.revision));
        }
        while (!harness.write(() => store.compactStep(2))) store.checkInvariants();
        store.checkInvariants();
      },
    ),
    { numRuns },
  );
  // The generator must keep reaching the interesting cases, or the comparison proves little.
  for (const kind of [
    'range:ok, several keys',
    'range:COMPACTED',
    'range:INVALID_ARGUMENT',
    'txn:ok',
    'txn:INVALID_ARGUMENT',
    'compact:ok',
    'leaseRevoke:ok',
    'snapshot:ok',
  ]) {
    assert.ok((TALLY.get(kind) ?? 0) > numRuns / 20, `${kind} happened ${TALLY.get(kind) ?? 0} times`);
  }
}
