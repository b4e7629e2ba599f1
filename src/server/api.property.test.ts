/**
 * Property tests of the client port's front door. Every request validator
 * of `KvService`, `LeaseService`, `WatchService` and `ClusterService`
 * answers any input with a checked request or a typed error; what a KV
 * validator accepts is what the log gives back; and a KV request that
 * passed validation but is refused when applied changes nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type ErrorCode, TesseraError } from '../base/errors.ts';
import { decode, encode } from '../codec/msgpack.ts';
import { RANGE_END_ALL } from '../kv/key-span.ts';
import { COMMAND_BYTES_MAX, decodeCommand, encodeCommand, type KvCommand } from '../kv/kv-command.ts';
import { applyCommand } from '../kv/kv-machine.ts';
import {
  KEY_BYTES_MAX,
  LEASE_TTL_SECONDS_MAX,
  REQUEST_BYTES_MAX,
  TXN_DEPTH_MAX,
  TXN_OPS_MAX,
  TXN_OPS_TOTAL_MAX,
} from '../kv/limits.ts';
import { MvccStore } from '../kv/mvcc-store.ts';
import { memoryBackend } from '../kv/store-state.ts';
import type { Compare, PutRequest, RequestOp, TxnRequest } from '../kv/types.ts';
import type { AnyService, Validator } from '../transport/service.ts';
import { ClusterService, KvService, LeaseService, WatchService } from './api.ts';
import { ElectionService, LockService } from './coord-api.ts';
import { encodeKvEntry, kvEntryCommand } from './state.ts';

// ---------------------------------------------------------------------------
// The validators, and what a refusal may be.

const SERVICES: readonly AnyService[] = [
  KvService,
  LeaseService,
  WatchService,
  ClusterService,
  LockService,
  ElectionService,
];

/** Every validator, by `service.method`. */
const VALIDATORS: ReadonlyMap<string, Validator<unknown>> = new Map(
  SERVICES.flatMap((service) =>
    Object.entries(service.methods).flatMap(([name, method]) =>
      method.validate === undefined ? [] : [[`${service.name}.${name}`, method.validate] as const],
    ),
  ),
);

/** The methods that take no request (`null`), so have nothing to validate. */
const WITHOUT_REQUEST = ['cluster.memberList', 'cluster.status', 'lease.leases'];

/** The KV methods, and the command each proposes. */
const KV_TYPES: Readonly<Record<string, KvCommand['type']>> = {
  'kv.range': 'range',
  'kv.put': 'put',
  'kv.deleteRange': 'deleteRange',
  'kv.txn': 'txn',
  'kv.compact': 'compact',
};

/** What a validator may refuse with: a bad argument, or a limit. */
const VALIDATOR_CODES: ReadonlySet<ErrorCode> = new Set(['INVALID_ARGUMENT', 'LIMIT_EXCEEDED', 'TOO_LARGE']);
/** What applying a validated command may fail with: the above, or a compacted revision. */
const STORE_CODES: ReadonlySet<ErrorCode> = new Set([...VALIDATOR_CODES, 'COMPACTED', 'FENCED']);

type Outcome = { readonly value: unknown } | { readonly code: ErrorCode; readonly message: string };

function describeThrown(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : typeof error;
}

/** Runs a validator: its result, or the typed error it threw; anything untyped fails the test. */
function outcomeOf(method: string, input: unknown): Outcome {
  const validate = VALIDATORS.get(method);
  assert.ok(validate !== undefined, `no validator for ${method}`);
  try {
    return { value: validate(input) };
  } catch (error) {
    assert.ok(error instanceof TesseraError, `${method} threw untyped ${describeThrown(error)}`);
    assert.ok(VALIDATOR_CODES.has(error.code), `${method} refused with ${error.code}: ${error.message}`);
    return { code: error.code, message: error.message };
  }
}

/** The command a KV method proposes for a validated request. */
function commandOf(method: string, validated: unknown): KvCommand {
  const type = KV_TYPES[method];
  assert.ok(type !== undefined, `${method} is not a KV method`);
  const request = type === 'range' ? (validated as { request: unknown }).request : validated;
  return { type, request } as KvCommand;
}

/** `value` as MessagePack gives it back: -0 is written as the integer 0. */
function asDecoded(value: unknown): unknown {
  if (Object.is(value, -0)) return 0;
  if (Array.isArray(value)) return value.map(asDecoded);
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return value;
  return Object.fromEntries(Object.entries(value).map(([name, field]) => [name, asDecoded(field)]));
}

/**
 * Validates `input` twice: the outcome must be typed and the same both
 * times, and an accepted KV request must come back whole from the log
 * codec (else the leader would propose an entry every member refuses).
 */
function checkValidator(method: string, input: unknown): Outcome {
  const outcome = outcomeOf(method, input);
  assert.deepEqual(outcomeOf(method, input), outcome, `${method} answered differently the second time`);
  if ('value' in outcome && KV_TYPES[method] !== undefined) {
    const command = commandOf(method, outcome.value);
    assert.deepEqual(decodeCommand(encodeCommand(command)), asDecoded(command));
  }
  return outcome;
}

/** `value` as the server receives it (through MessagePack), or undefined when MessagePack cannot carry it. */
function throughWire(value: unknown): { readonly value: unknown } | undefined {
  try {
    return { value: decode(encode(value)) };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// Arbitrary values.

const FIELD_NAMES = [
  ...['key', 'rangeEnd', 'value', 'lease', 'limit', 'revision', 'sortOrder', 'sortTarget'],
  ...['keysOnly', 'countOnly', 'minModRevision', 'maxModRevision', 'minCreateRevision'],
  ...['maxCreateRevision', 'prevKv', 'ignoreValue', 'ignoreLease', 'compare', 'success'],
  ...['failure', 'target', 'result', 'version', 'createRevision', 'modRevision', 'type'],
  ...['request', 'serializable', 'forwarded', 'ttl', 'id', 'keys', 'startRevision'],
  ...['filters', 'progressNotify', 'name', 'peer', 'client', 'http', 'voter'],
  ...['fence', 'lock', 'token', 'leader'],
  ...['toString', 'valueOf', 'constructor', '__proto__'],
];

/** Values that break code which prints or walks what it is given: no usable `toString`, holes. */
const trickyArb: fc.Arbitrary<unknown> = fc.constantFrom<unknown>(
  Object.create(null),
  decode(encode({ toString: 1, valueOf: 1 })),
  new Array(2),
  [undefined],
  new Date(0),
  new Map([['key', Uint8Array.of(1)]]),
);

const leafArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.uint8Array({ maxLength: 6 }),
  fc.constantFrom<unknown>(
    ...[null, undefined, true, false, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
    ...[-0, 0, 1, -1, 1.5, 2 ** 53, -(2 ** 53), Number.MAX_VALUE, LEASE_TTL_SECONDS_MAX + 1],
    ...['', 'range', 'put', 'deleteRange', 'txn', 'version', 'value', 'equal', 'noPut', 'ascend'],
  ),
  fc.integer(),
  fc.double(),
  fc.bigInt(),
  fc.string({ maxLength: 8 }),
  fc.constantFrom(...FIELD_NAMES),
  trickyArb,
);

/** Anything: nested maps and lists (sparse, null-prototype), dates, maps, sets, typed arrays, boxed values. */
const hostileArb: fc.Arbitrary<unknown> = fc.anything({
  key: fc.oneof(fc.constantFrom(...FIELD_NAMES), fc.string({ maxLength: 4 })),
  values: [leafArb],
  maxDepth: 4,
  maxKeys: 6,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
});

/** `bytes`, shown by name in a counterexample rather than byte by byte. */
function named(bytes: Uint8Array, name: string): Uint8Array {
  // Not enumerable: assert.deepEqual does not see it.
  return Object.defineProperty(bytes, fc.toStringMethod, { value: () => name });
}

const EMPTY = new Uint8Array(0);
/** One byte over the longest key. */
const LONG_KEY = named(new Uint8Array(KEY_BYTES_MAX + 1).fill(0x61), 'LONG_KEY');
/** One byte over the largest request: the store refuses it, the log still carries it. */
const LARGE_VALUE = named(new Uint8Array(REQUEST_BYTES_MAX + 1), 'LARGE_VALUE');

/** Keys from a small alphabet, so that requests meet each other and the store's keys. */
const keyArb = fc.oneof(
  { weight: 12, arbitrary: fc.uint8Array({ min: 0x61, max: 0x64, minLength: 1, maxLength: 2 }) },
  { weight: 1, arbitrary: fc.constantFrom(EMPTY, Uint8Array.of(0), LONG_KEY) },
);
const smallValueArb = fc.uint8Array({ maxLength: 3 });
const countArb = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 24 }) },
  { weight: 1, arbitrary: fc.constant(Number.MAX_SAFE_INTEGER) },
);
/** Leases 1 and 2 exist in the store the apply properties seed. */
const leaseArb = fc.constantFrom(0, 0, 1, 2, 3, 77, -1);

/** Fences naming locks whose keys the store's seeded keys may be (tokens around their revisions). */
const fenceArb = fc.record(
  {
    lock: fc.uint8Array({ min: 0x61, max: 0x64, minLength: 1, maxLength: 2 }),
    token: fc.integer({ min: 1, max: 30 }),
  },
  { noNullPrototype: true },
);

/**
 * A write as it is, or now and then with a fence: most fences name a lock
 * nobody holds, so a fence on every other write would leave too few writes
 * applied for the apply property to say much.
 */
function withRareFence<T extends object>(request: T): fc.Arbitrary<T> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(request) },
    { weight: 1, arbitrary: fenceArb.map((fence) => ({ ...request, fence })) },
  );
}

/** Shape-valid KV requests (what the validators accept; the store may still refuse them). */
function kvArbitraries(valueArb: fc.Arbitrary<Uint8Array>) {
  const range = fc.record(
    {
      key: keyArb,
      rangeEnd: keyArb,
      limit: countArb,
      revision: countArb,
      sortOrder: fc.constantFrom('none', 'ascend', 'descend'),
      sortTarget: fc.constantFrom('key', 'version', 'create', 'mod', 'value'),
      keysOnly: fc.boolean(),
      countOnly: fc.boolean(),
      minModRevision: countArb,
      maxModRevision: countArb,
      minCreateRevision: countArb,
      maxCreateRevision: countArb,
    },
    { requiredKeys: ['key'], noNullPrototype: true },
  );
  const put = fc
    .record(
      {
        key: keyArb,
        value: valueArb,
        lease: leaseArb,
        prevKv: fc.boolean(),
        ignoreValue: fc.boolean(),
        ignoreLease: fc.boolean(),
      },
      { requiredKeys: ['key'], noNullPrototype: true },
    )
    .chain(withRareFence);
  const deleteRange = fc
    .record(
      { key: keyArb, rangeEnd: keyArb, prevKv: fc.boolean() },
      { requiredKeys: ['key'], noNullPrototype: true },
    )
    .chain(withRareFence);
  const compare: fc.Arbitrary<Compare> = fc
    .record(
      { key: keyArb, rangeEnd: keyArb, result: fc.constantFrom('equal', 'notEqual', 'less', 'greater') },
      { requiredKeys: ['key', 'result'], noNullPrototype: true },
    )
    .chain((base) =>
      fc.oneof(
        countArb.map((version): Compare => ({ ...base, target: 'version', version })),
        countArb.map((createRevision): Compare => ({ ...base, target: 'createRevision', createRevision })),
        countArb.map((modRevision): Compare => ({ ...base, target: 'modRevision', modRevision })),
        smallValueArb.map((value): Compare => ({ ...base, target: 'value', value })),
        leaseArb.map((lease): Compare => ({ ...base, target: 'lease', lease })),
      ),
    );
  const { txn } = fc.letrec<{ txn: TxnRequest; op: RequestOp }>((tie) => ({
    txn: fc
      .record(
        {
          compare: fc.array(compare, { maxLength: 3 }),
          success: fc.array(tie('op'), { maxLength: 4 }),
          failure: fc.array(tie('op'), { maxLength: 3 }),
        },
        { requiredKeys: [], noNullPrototype: true },
      )
      .chain(withRareFence),
    op: fc.oneof(
      { maxDepth: 3, depthIdentifier: 'txn' },
      put.map((request): RequestOp => ({ type: 'put', request })),
      range.map((request): RequestOp => ({ type: 'range', request })),
      deleteRange.map((request): RequestOp => ({ type: 'deleteRange', request })),
      tie('txn').map((request): RequestOp => ({ type: 'txn', request: request as TxnRequest })),
    ),
  }));
  const compact = fc.record({ revision: countArb }, { noNullPrototype: true });
  return { range, put, deleteRange, txn, compact };
}

const kvValid = kvArbitraries(smallValueArb);
const idArb = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const idCallArb = fc.record({ id: idArb }, { noNullPrototype: true });
/** Lock and election names, and keys to unlock: bytes, not empty. */
const nameArb = fc.uint8Array({ minLength: 1, maxLength: 6 });
const leadershipArb = fc.record(
  {
    name: nameArb,
    key: nameArb,
    revision: fc.integer({ min: 1, max: 1e9 }),
    lease: fc.integer({ min: 1, max: 1e9 }),
  },
  { noNullPrototype: true },
);
const unchanged = (request: unknown) => request;
const optionalFlags = (names: readonly string[]) =>
  fc.record(Object.fromEntries(names.map((name) => [name, fc.boolean()])), {
    requiredKeys: [],
    noNullPrototype: true,
  });

/** For every validated method: requests it must accept, and what it must make of them. */
const VALID: Readonly<
  Record<string, { readonly arb: fc.Arbitrary<unknown>; readonly expected: (request: never) => unknown }>
> = {
  'kv.range': {
    arb: fc
      .tuple(kvValid.range, optionalFlags(['serializable', 'forwarded']))
      .map(([request, flags]) => ({ request, ...flags })),
    expected: (call: { request: unknown; serializable?: boolean; forwarded?: boolean }) => ({
      request: call.request,
      serializable: call.serializable === true,
      forwarded: call.forwarded === true,
    }),
  },
  'kv.put': { arb: kvValid.put, expected: unchanged },
  'kv.deleteRange': { arb: kvValid.deleteRange, expected: unchanged },
  'kv.txn': { arb: kvValid.txn, expected: unchanged },
  'kv.compact': { arb: kvValid.compact, expected: unchanged },
  'lease.grant': {
    arb: fc.record(
      { ttl: fc.integer({ min: 0, max: LEASE_TTL_SECONDS_MAX }), id: fc.maxSafeNat() },
      { requiredKeys: ['ttl'], noNullPrototype: true },
    ),
    expected: (call: { ttl: number; id?: number }) => ({ ttl: call.ttl, id: call.id ?? 0 }),
  },
  'lease.revoke': { arb: idCallArb, expected: unchanged },
  'lease.keepAlive': { arb: idCallArb, expected: unchanged },
  'lease.timeToLive': {
    arb: fc.tuple(idArb, optionalFlags(['keys'])).map(([id, flags]) => ({ id, ...flags })),
    expected: (call: { id: number; keys?: boolean }) => ({ id: call.id, keys: call.keys === true }),
  },
  'watch.watch': {
    arb: fc.record(
      {
        key: fc.uint8Array({ minLength: 1, maxLength: 4 }),
        rangeEnd: fc.uint8Array({ maxLength: 4 }),
        startRevision: fc.maxSafeNat(),
        prevKv: fc.boolean(),
        filters: fc.array(fc.constantFrom('noPut', 'noDelete'), { maxLength: 3 }),
        progressNotify: fc.boolean(),
      },
      { requiredKeys: ['key'], noNullPrototype: true },
    ),
    expected: (call: { progressNotify?: boolean }) => ({
      ...call,
      progressNotify: call.progressNotify === true,
    }),
  },
  'cluster.memberAdd': {
    arb: fc.record(
      {
        name: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/),
        // At most 4 UTF-8 bytes a character: always within the 255-byte limit.
        peer: fc.string({ maxLength: 60, unit: 'binary' }),
        client: fc.string({ maxLength: 60, unit: 'binary' }),
        http: fc.string({ maxLength: 60, unit: 'binary' }),
        voter: fc.boolean(),
      },
      { requiredKeys: ['name', 'peer', 'client', 'http'], noNullPrototype: true },
    ),
    expected: (call: { voter?: boolean }) => ({ ...call, voter: call.voter === true }),
  },
  'lock.lock': {
    arb: fc.record({ name: nameArb, lease: fc.integer({ min: 1, max: 1e9 }) }, { noNullPrototype: true }),
    expected: unchanged,
  },
  'lock.unlock': { arb: fc.record({ key: nameArb }, { noNullPrototype: true }), expected: unchanged },
  'election.campaign': {
    arb: fc.record(
      { name: nameArb, lease: fc.integer({ min: 1, max: 1e9 }), value: smallValueArb },
      { noNullPrototype: true },
    ),
    expected: unchanged,
  },
  'election.proclaim': {
    arb: fc.record({ leader: leadershipArb, value: smallValueArb }, { noNullPrototype: true }),
    expected: unchanged,
  },
  'election.resign': {
    arb: fc.record({ leader: leadershipArb }, { noNullPrototype: true }),
    expected: unchanged,
  },
  'election.leader': { arb: fc.record({ name: nameArb }, { noNullPrototype: true }), expected: unchanged },
  'election.observe': { arb: fc.record({ name: nameArb }, { noNullPrototype: true }), expected: unchanged },
  'cluster.memberRemove': { arb: idCallArb, expected: unchanged },
  'cluster.memberPromote': { arb: idCallArb, expected: unchanged },
  'cluster.transferLeadership': { arb: idCallArb, expected: unchanged },
};

/** The valid requests of `method`, and what its validator must make of one. */
function validOf(method: string): {
  readonly arb: fc.Arbitrary<unknown>;
  readonly expected: (request: unknown) => unknown;
} {
  const entry = VALID[method];
  assert.ok(entry !== undefined, `no valid requests for ${method}`);
  // Each entry's `expected` takes the requests of its own `arb`.
  return entry as unknown as ReturnType<typeof validOf>;
}

const validRequestArb = fc
  .constantFrom(...Object.keys(VALID))
  .chain((method) => validOf(method).arb.map((request) => ({ method, request })));

// ---------------------------------------------------------------------------
// Mutations of a valid request.

type Path = readonly (string | number)[];

function isMap(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}

/** The path of every node of `value` (not into byte arrays), the root first. */
function nodesOf(value: unknown, path: Path = []): Path[] {
  const children: [string | number, unknown][] = Array.isArray(value)
    ? value.map((item, index): [number, unknown] => [index, item])
    : isMap(value)
      ? Object.entries(value)
      : [];
  return [path, ...children.flatMap(([name, child]) => nodesOf(child, [...path, name]))];
}

const DROP = Symbol('drop');

/** A copy of `value` with the node at `path` replaced by `change(node)`, or removed when that is {@link DROP}. */
function edit(value: unknown, path: Path, change: (node: unknown) => unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return change(value);
  if (Array.isArray(value)) {
    const copy = [...value];
    const next = edit(copy[head as number], rest, change);
    if (next === DROP) copy.splice(head as number, 1);
    else copy[head as number] = next;
    return copy;
  }
  const copy = { ...(value as Record<string, unknown>) };
  const next = edit(copy[head], rest, change);
  if (next === DROP) delete copy[head];
  else copy[head] = next;
  return copy;
}

type Mutation =
  | { readonly kind: 'replace'; readonly at: number; readonly value: unknown }
  | { readonly kind: 'set' | 'add'; readonly at: number; readonly name: string; readonly value: unknown }
  | { readonly kind: 'drop'; readonly at: number }
  | { readonly kind: 'deepen'; readonly at: number; readonly depth: number };

const replacementArb = fc.oneof(hostileArb, leafArb, trickyArb);
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: replacementArb }),
  },
  fc.record({
    kind: fc.constant('set' as const),
    at: fc.nat(),
    name: fc.constantFrom(...FIELD_NAMES),
    value: replacementArb,
  }),
  fc.record({
    kind: fc.constant('add' as const),
    at: fc.nat(),
    name: fc.string({ maxLength: 6 }).map((suffix) => `unknown${suffix}`),
    value: leafArb,
  }),
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('deepen' as const), at: fc.nat(), depth: fc.integer({ min: 2, max: 300 }) }),
);

/** Fields no request may go without (`id` only where it is not optional). */
const REQUIRED = new Set([
  ...['key', 'type', 'request', 'target', 'result'],
  ...['ttl', 'name', 'peer', 'client', 'http'],
]);

/** The mutated request, and whether every validator must refuse it. */
function mutate(method: string, request: unknown, mutation: Mutation): { input: unknown; refuse: boolean } {
  const nodes = nodesOf(request);
  const pick = (paths: Path[]): Path => paths[mutation.at % paths.length] ?? [];
  switch (mutation.kind) {
    case 'replace':
      return { input: edit(request, pick(nodes), () => mutation.value), refuse: false };
    case 'set':
    case 'add': {
      const maps = nodes.filter((path) => isMap(nodeAt(request, path)));
      const input = edit(request, pick(maps), (node) => ({
        ...(node as object),
        [mutation.name]: mutation.value,
      }));
      // A misspelt field is a mistake, not a default: every validator refuses fields it does not know.
      return { input, refuse: mutation.kind === 'add' && mutation.value !== undefined };
    }
    case 'drop': {
      const path = pick(nodes.slice(1));
      const name = path.at(-1);
      const required =
        (typeof name === 'string' && REQUIRED.has(name)) ||
        (name === 'id' && method !== 'lease.grant') ||
        (name === 'revision' && method === 'kv.compact');
      return { input: path.length === 0 ? undefined : edit(request, path, () => DROP), refuse: required };
    }
    case 'deepen': {
      const path = pick(nodes);
      const wrap = (node: unknown, level: number): unknown =>
        level % 2 === 0 ? [node] : { [String(path.at(-1) ?? 'request')]: node };
      const input = edit(request, path, (node) => {
        let nested = node;
        for (let level = 0; level < mutation.depth; level++) nested = wrap(nested, level);
        return nested;
      });
      return { input, refuse: false };
    }
  }
}

function nodeAt(value: unknown, path: Path): unknown {
  return path.reduce<unknown>((node, name) => (node as Record<string | number, unknown>)[name], value);
}

/** A chain of transactions, each the only request of the one above; depth 1 is a lone empty transaction. */
function txnChain(depth: number): TxnRequest {
  let request: TxnRequest = {};
  for (let level = 1; level < depth; level++) request = { success: [{ type: 'txn', request }] };
  return request;
}

describe('request validators', () => {
  it('exist for every method that takes a request, and each has valid requests below', () => {
    const all = SERVICES.flatMap((service) =>
      Object.keys(service.methods).map((m) => `${service.name}.${m}`),
    );
    assert.deepEqual(all.filter((method) => !VALIDATORS.has(method)).sort(), WITHOUT_REQUEST);
    assert.deepEqual(Object.keys(VALID).sort(), [...VALIDATORS.keys()].sort());
  });

  it('answer any value with a request or a typed error, the same each time', () => {
    fc.assert(
      fc.property(hostileArb, (input) => {
        const wire = throughWire(input);
        for (const method of VALIDATORS.keys()) {
          checkValidator(method, input);
          if (wire !== undefined) checkValidator(method, wire.value);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('accept every valid request and keep what it says, also as received over the wire', () => {
    fc.assert(
      fc.property(validRequestArb, ({ method, request }) => {
        const outcome = checkValidator(method, request);
        if ('code' in outcome && KV_TYPES[method] !== undefined) {
          // Shape-valid, but refused for itself (a key written twice, a limit): only what the store refuses too.
          const store = MvccStore.open(memoryBackend());
          assert.throws(
            () => applyCommand(store, commandOf(method, request)),
            (error: unknown) => error instanceof TesseraError && error.code === outcome.code,
            `${method} refused with ${outcome.code} what the store takes: ${outcome.message}`,
          );
          return;
        }
        const expected = validOf(method).expected(request);
        assert.deepEqual(outcome, { value: expected });
        const received = throughWire(request);
        assert.ok(received !== undefined);
        assert.ok('value' in checkValidator(method, received.value), `${method} refused it from the wire`);
      }),
      { numRuns: 500 },
    );
  });

  it('answer a valid request with one field replaced, set, added, dropped or nested deep with a typed error or a request', () => {
    // Every method in every run: one valid request each, and one mutation of it.
    const everyMethodArb = fc.record(
      Object.fromEntries(
        [...VALIDATORS.keys()].map((method) => [method, fc.tuple(validOf(method).arb, mutationArb)]),
      ),
    );
    fc.assert(
      fc.property(everyMethodArb, (cases) => {
        for (const [method, [request, mutation]] of Object.entries(cases)) {
          const { input, refuse } = mutate(method, request, mutation);
          const outcome = checkValidator(method, input);
          if (refuse) assert.ok('code' in outcome, `${method} accepted ${fc.stringify(input)}`);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('kv.txn accepts transactions nested up to TXN_DEPTH_MAX and refuses deeper ones', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 * TXN_DEPTH_MAX }), (depth) => {
        const outcome = checkValidator('kv.txn', txnChain(depth));
        if (depth <= TXN_DEPTH_MAX) assert.deepEqual(outcome, { value: txnChain(depth) });
        else assert.equal('code' in outcome && outcome.code, 'INVALID_ARGUMENT');
      }),
      { numRuns: 100 },
    );
  });

  // Regressions: each of these went wrong before the fix named.

  it('watch refuses a startRevision whose toString is not a function (checkNonNegative printed it)', () => {
    for (const startRevision of [decode(encode({ toString: 1 })), Object.create(null) as unknown]) {
      const outcome = outcomeOf('watch.watch', { key: Uint8Array.of(1), startRevision });
      assert.equal('code' in outcome && outcome.code, 'INVALID_ARGUMENT');
    }
  });

  it('kv validators refuse a sparse list instead of passing its holes to the store', () => {
    const holes: unknown[] = [];
    holes[1] = { type: 'put', request: { key: Uint8Array.of(1) } };
    for (const request of [{ compare: new Array(1) }, { success: holes }, { failure: holes }]) {
      const outcome = outcomeOf('kv.txn', request);
      assert.equal('code' in outcome && outcome.code, 'INVALID_ARGUMENT');
    }
  });

  it('cluster validators refuse unknown fields and a voter flag that is not a boolean', () => {
    const member = { name: 'm4', peer: 'h:1', client: 'h:2', http: 'h:3' };
    for (const [method, input] of [
      ['cluster.memberAdd', { ...member, voter: 'yes' }],
      ['cluster.memberAdd', { ...member, voters: true }],
      ['cluster.memberRemove', { id: 5, force: true }],
      ['cluster.memberPromote', { id: 5, to: 'voter' }],
      ['cluster.transferLeadership', { id: 5, idd: 6 }],
    ] as const) {
      const outcome = outcomeOf(method, input);
      assert.equal('code' in outcome && outcome.code, 'INVALID_ARGUMENT', method);
    }
  });

  it('kv validators refuse a request whose command is over COMMAND_BYTES_MAX (the log would refuse it)', () => {
    const value = new Uint8Array(COMMAND_BYTES_MAX);
    const put = (key: number): PutRequest => ({ key: Uint8Array.of(key), value: LARGE_VALUE });
    for (const [method, input] of [
      ['kv.put', { key: Uint8Array.of(1), value }],
      ['kv.txn', { success: [put(1), put(2)].map((request) => ({ type: 'put', request })) }],
    ] as const) {
      const outcome = checkValidator(method, input);
      assert.equal('code' in outcome && outcome.code, 'TOO_LARGE', method);
    }
    // Past REQUEST_BYTES_MAX the store would refuse it whatever its state: refused here, before the log.
    const over = outcomeOf('kv.put', { key: Uint8Array.of(1), value: LARGE_VALUE });
    assert.equal('code' in over && over.code, 'TOO_LARGE');
    // Up to the limit, a large request passes.
    const fits = outcomeOf('kv.put', { key: Uint8Array.of(1), value: new Uint8Array(REQUEST_BYTES_MAX - 1) });
    assert.ok('value' in fits);
  });
});

// ---------------------------------------------------------------------------
// Applying what passed validation.

/** How a store is seeded before requests meet it. */
interface Seed {
  readonly writes: readonly {
    readonly key: Uint8Array;
    readonly value: Uint8Array | null;
    readonly lease: number;
  }[];
  readonly compactAt: number;
  readonly freed: boolean;
}

const seedArb: fc.Arbitrary<Seed> = fc.record({
  writes: fc.array(
    fc.record({
      key: fc.uint8Array({ min: 0x61, max: 0x64, minLength: 1, maxLength: 2 }),
      value: fc.option(smallValueArb),
      lease: fc.constantFrom(0, 1, 2),
    }),
    { maxLength: 10 },
  ),
  compactAt: fc.nat({ max: 12 }),
  freed: fc.boolean(),
});

/** A store in memory with leases 1 and 2, the seed's writes, and a compaction when `compactAt` is above 0. */
function seededStore(seed: Seed): MvccStore {
  const store = MvccStore.open(memoryBackend());
  store.leaseGrant({ id: 1, ttl: 10 });
  store.leaseGrant({ id: 2, ttl: 20 });
  for (const { key, value, lease } of seed.writes) {
    if (value === null) store.deleteRange({ key });
    else store.put({ key, value, lease });
  }
  if (seed.compactAt > 0) {
    store.compact({ revision: 1 + (seed.compactAt % store.revision) });
    if (seed.freed) while (!store.compactStep(1));
  }
  return store;
}

const EVERY_KEY = { key: Uint8Array.of(0), rangeEnd: RANGE_END_ALL };

/** All a store holds: its revisions, every key at every revision still readable, its history, leases and image. */
function contentsOf(store: MvccStore): unknown {
  const ranges = [];
  for (let revision = Math.max(1, store.compactRevision); revision <= store.revision; revision++) {
    ranges.push(store.range({ ...EVERY_KEY, revision }));
  }
  return {
    revision: store.revision,
    compactRevision: store.compactRevision,
    compactionPending: store.compactionPending,
    ranges,
    history:
      store.compactRevision < store.revision
        ? store.eventsSince({ ...EVERY_KEY, startRevision: store.compactRevision + 1, prevKv: true })
        : null,
    leases: store.leaseList().map((id) => store.leaseTimeToLive(id)),
    image: Buffer.concat([...store.snapshot()]),
  };
}

/** What happened to one request on its way to the store. */
type Fate = 'refusedByValidator' | 'refusedByStore' | 'applied';

/**
 * Sends a request the way the server does: validate, encode the command
 * for the log, decode it, apply it. A refusal must be typed, and a
 * refusal by the store must leave every part of it as it was.
 */
function submit(store: MvccStore, method: string, request: unknown): Fate {
  const outcome = checkValidator(method, request);
  if (!('value' in outcome)) return 'refusedByValidator';
  const command = decodeCommand(encodeCommand(commandOf(method, outcome.value)));
  const before = contentsOf(store);
  try {
    applyCommand(store, command);
  } catch (error) {
    assert.ok(error instanceof TesseraError, `${method} apply threw untyped ${describeThrown(error)}`);
    assert.ok(STORE_CODES.has(error.code), `${method} apply refused with ${error.code}: ${error.message}`);
    assert.deepEqual(contentsOf(store), before, `${method} refused (${error.message}) but changed the store`);
    store.checkInvariants();
    return 'refusedByStore';
  }
  store.checkInvariants();
  return 'applied';
}

const kvStore = kvArbitraries(
  fc.oneof({ weight: 20, arbitrary: smallValueArb }, { weight: 1, arbitrary: fc.constant(LARGE_VALUE) }),
);
const putOp = (key: Uint8Array, extra: Partial<PutRequest> = {}): RequestOp => ({
  type: 'put',
  request: { key, value: Uint8Array.of(1), ...extra },
});
/**
 * Transactions that must be refused: a key written twice, too many
 * requests in a list or in all, or (by the validator) too large for the log.
 */
const badTxnArb: fc.Arbitrary<TxnRequest> = fc.oneof(
  fc
    .tuple(keyArb, kvStore.put)
    .map(([key, put]) => ({ success: [putOp(key), { type: 'put' as const, request: { ...put, key } }] })),
  fc.tuple(kvStore.put, kvStore.deleteRange).map(([put, del]) => ({
    failure: [
      { type: 'deleteRange' as const, request: { ...del, key: put.key } },
      { type: 'txn' as const, request: { success: [{ type: 'put' as const, request: put }] } },
    ],
  })),
  fc.integer({ min: TXN_OPS_MAX - 1, max: TXN_OPS_MAX + 2 }).map((count) => ({
    success: Array.from({ length: count }, (_, index) => putOp(Uint8Array.of(0x70, index))),
  })),
  fc.constant(txnOpsTotalOver()),
  fc.tuple(keyArb, keyArb).map(([success, failure]) => ({
    success: [putOp(success, { value: LARGE_VALUE })],
    failure: [putOp(failure, { value: LARGE_VALUE })],
  })),
);

/** Requests for the apply property: mostly shape-valid ones the store may refuse, some mutated ones. */
const submissionArb: fc.Arbitrary<{ method: string; request: unknown }> = fc.oneof(
  kvStore.put.map((request) => ({ method: 'kv.put', request })),
  kvStore.deleteRange.map((request) => ({ method: 'kv.deleteRange', request })),
  kvStore.txn.map((request) => ({ method: 'kv.txn', request })),
  badTxnArb.map((request) => ({ method: 'kv.txn', request })),
  kvStore.compact.map((request) => ({ method: 'kv.compact', request })),
  kvStore.range.map((request) => ({ method: 'kv.range', request: { request } })),
  fc
    .tuple(fc.constantFrom('kv.put', 'kv.deleteRange', 'kv.txn', 'kv.compact'), mutationArb)
    .chain(([method, mutation]) =>
      validOf(method).arb.map((request) => ({
        method,
        request: mutate(method, request, mutation).input,
      })),
    ),
);

/** A transaction of TXN_DEPTH_MAX levels with TXN_OPS_MAX compares each: over TXN_OPS_TOTAL_MAX in all. */
function txnOpsTotalOver(): TxnRequest {
  const compare = Array.from(
    { length: TXN_OPS_MAX },
    (): Compare => ({ key: Uint8Array.of(0x61), target: 'version', result: 'greater', version: -1 }),
  );
  let request: TxnRequest = { compare, success: [putOp(Uint8Array.of(0x61))] };
  for (let level = 1; level < TXN_DEPTH_MAX; level++)
    request = { compare, success: [{ type: 'txn', request }] };
  // Each level holds TXN_OPS_MAX compares and one request.
  assert.ok(TXN_DEPTH_MAX * (TXN_OPS_MAX + 1) > TXN_OPS_TOTAL_MAX);
  return request;
}

describe('a validated KV request applied to the store', () => {
  it('is applied, or refused with a typed error and nothing changed', () => {
    const fates: Record<Fate, number> = { refusedByValidator: 0, refusedByStore: 0, applied: 0 };
    fc.assert(
      fc.property(seedArb, fc.array(submissionArb, { minLength: 1, maxLength: 4 }), (seed, submissions) => {
        const store = seededStore(seed);
        for (const { method, request } of submissions) fates[submit(store, method, request)]++;
      }),
      { numRuns: 300 },
    );
    // The property says little unless every fate is common.
    const total = fates.refusedByValidator + fates.refusedByStore + fates.applied;
    for (const [fate, count] of Object.entries(fates))
      assert.ok(count > total / 10, `${fate}: ${count}/${total}`);
  });

  const key = (text: string) => new TextEncoder().encode(text);
  const refusals: readonly (readonly [name: string, method: string, request: unknown, code: ErrorCode])[] = [
    [
      'a txn putting one key twice',
      'kv.txn',
      { success: [putOp(key('a')), putOp(key('a'))] },
      'INVALID_ARGUMENT',
    ],
    [
      'a txn putting a key it also deletes',
      'kv.txn',
      { success: [putOp(key('b')), { type: 'deleteRange', request: { key: key('a'), rangeEnd: key('c') } }] },
      'INVALID_ARGUMENT',
    ],
    [
      'a txn putting a key a nested txn puts',
      'kv.txn',
      { success: [putOp(key('z')), { type: 'txn', request: { success: [putOp(key('z'))] } }] },
      'INVALID_ARGUMENT',
    ],
    [
      'a txn over TXN_OPS_MAX requests',
      'kv.txn',
      { success: Array.from({ length: TXN_OPS_MAX + 1 }, (_, index) => putOp(Uint8Array.of(0x70, index))) },
      'LIMIT_EXCEEDED',
    ],
    ['a txn over TXN_OPS_TOTAL_MAX in all', 'kv.txn', txnOpsTotalOver(), 'LIMIT_EXCEEDED'],
    [
      'a txn whose last put names a lease that does not exist',
      'kv.txn',
      {
        success: [
          putOp(key('x')),
          { type: 'deleteRange', request: { key: key('a') } },
          putOp(key('y'), { lease: 99 }),
        ],
      },
      'INVALID_ARGUMENT',
    ],
    [
      'a txn reading a compacted revision after writing',
      'kv.txn',
      { success: [putOp(key('x')), { type: 'range', request: { key: key('a'), revision: 1 } }] },
      'COMPACTED',
    ],
    [
      'a txn writing, then a put fenced by a token that holds no lock',
      'kv.txn',
      { success: [putOp(key('x')), putOp(key('y'), { fence: { lock: key('a'), token: 2 } })] },
      'FENCED',
    ],
    [
      'a put with a lease that does not exist',
      'kv.put',
      { key: key('a'), value: key('v'), lease: 99 },
      'INVALID_ARGUMENT',
    ],
    [
      'a put with ignoreValue of a missing key',
      'kv.put',
      { key: key('q'), ignoreValue: true },
      'INVALID_ARGUMENT',
    ],
    ['a put of a value over REQUEST_BYTES_MAX', 'kv.put', { key: key('a'), value: LARGE_VALUE }, 'TOO_LARGE'],
    [
      'a txn whose values add up over REQUEST_BYTES_MAX',
      'kv.txn',
      { success: [putOp(key('x'), { value: LARGE_VALUE.subarray(1) }), putOp(key('y'))] },
      'TOO_LARGE',
    ],
    ['a put of a key over KEY_BYTES_MAX', 'kv.put', { key: LONG_KEY }, 'LIMIT_EXCEEDED'],
    [
      'a delete of the empty key',
      'kv.deleteRange',
      { key: EMPTY, rangeEnd: RANGE_END_ALL },
      'INVALID_ARGUMENT',
    ],
    ['a compaction beyond the current revision', 'kv.compact', { revision: 7 }, 'INVALID_ARGUMENT'],
    ['a compaction at the compacted revision', 'kv.compact', { revision: 3 }, 'COMPACTED'],
    ['a compaction below the compacted revision', 'kv.compact', { revision: 2 }, 'COMPACTED'],
    ['a compaction at revision 0', 'kv.compact', { revision: 0 }, 'INVALID_ARGUMENT'],
  ];
  /** Refusals that depend on the request alone: the validators make them, so these never take a log entry. */
  const REFUSED_BEFORE_THE_LOG = new Set([
    'a txn putting one key twice',
    'a txn putting a key it also deletes',
    'a txn putting a key a nested txn puts',
    'a txn over TXN_OPS_MAX requests',
    'a txn over TXN_OPS_TOTAL_MAX in all',
    'a put of a value over REQUEST_BYTES_MAX',
    'a txn whose values add up over REQUEST_BYTES_MAX',
    'a put of a key over KEY_BYTES_MAX',
    'a delete of the empty key',
  ]);
  for (const [name, method, request, code] of refusals) {
    it(`refuses ${name} with ${code} and changes nothing`, () => {
      // Revisions 2..6: a, b (lease 1), c, a again, delete c; compacted at 3.
      const store = MvccStore.open(memoryBackend());
      store.leaseGrant({ id: 1, ttl: 10 });
      store.put({ key: key('a'), value: key('1') });
      store.put({ key: key('b'), value: key('1'), lease: 1 });
      store.put({ key: key('c'), value: key('1') });
      store.put({ key: key('a'), value: key('2') });
      store.deleteRange({ key: key('c') });
      store.compact({ revision: 3 });
      assert.equal(store.revision, 6);
      const before = contentsOf(store);
      const outcome = checkValidator(method, request);
      if (REFUSED_BEFORE_THE_LOG.has(name)) {
        // The store would refuse it whatever its state: the front door refuses it first, with the same code.
        assert.equal('code' in outcome && outcome.code, code, `the validator took it`);
      } else {
        assert.ok('value' in outcome, `the validator refused it: ${'message' in outcome && outcome.message}`);
      }
      // The store refuses it too, should it ever arrive in the log.
      const command = commandOf(method, 'value' in outcome ? outcome.value : request);
      assert.throws(
        () => applyCommand(store, decodeCommand(encodeCommand(command))),
        (error: unknown) => error instanceof TesseraError && error.code === code,
      );
      assert.deepEqual(contentsOf(store), before);
      store.checkInvariants();
    });
  }
});

// ---------------------------------------------------------------------------
// The log codec.

const leaseIdArb = fc.record({ id: countArb }, { noNullPrototype: true });
const commandArb: fc.Arbitrary<KvCommand> = fc.oneof(
  kvValid.range.map((request): KvCommand => ({ type: 'range', request })),
  kvValid.put.map((request): KvCommand => ({ type: 'put', request })),
  kvValid.deleteRange.map((request): KvCommand => ({ type: 'deleteRange', request })),
  kvValid.txn.map((request): KvCommand => ({ type: 'txn', request })),
  kvValid.compact.map((request): KvCommand => ({ type: 'compact', request })),
  leaseIdArb.map((request): KvCommand => ({ type: 'leaseRevoke', request })),
  leaseIdArb.map((request): KvCommand => ({ type: 'leaseKeepAlive', request })),
  fc
    .record({ id: countArb, ttl: countArb }, { noNullPrototype: true })
    .map((request): KvCommand => ({ type: 'leaseGrant', request })),
  fc
    .array(fc.record({ id: countArb, remainingTtl: countArb }, { noNullPrototype: true }), { maxLength: 4 })
    .map((checkpoints): KvCommand => ({ type: 'leaseCheckpoint', request: { checkpoints } })),
);

describe('the KV command log codec', () => {
  it('gives back every valid command, alone and inside a KV log entry', () => {
    fc.assert(
      fc.property(commandArb, fc.maxSafeNat(), fc.maxSafeNat(), (command, clientId, requestId) => {
        assert.deepEqual(decodeCommand(encodeCommand(command)), command);
        assert.deepEqual(kvEntryCommand(encodeKvEntry({ clientId, requestId, command })), command);
      }),
      { numRuns: 400 },
    );
  });
});
