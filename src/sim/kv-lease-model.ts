/**
 * The sequential specification of the key-value store with leases, for the
 * linearizability checker: {@link kvModel}'s get, put, delete and
 * compare-and-set, plus lease grants, puts attached to a lease, keep-alives,
 * revokes by a client and revokes by expiry.
 *
 * An expiry is an unsolicited revoke: nobody calls it. The simulator records
 * each one that took effect as an operation of its own, read off the applied
 * log: called when the leader's lessor proposed it, returned when a member
 * first applied it (its log entry committed in between). So it is a write of
 * known outcome like any other, and the model needs no guess about when a
 * lease might vanish.
 *
 * @module
 */
import { type KvInput, type KvOperation, type KvOutput, kvModel } from './kv-model.ts';
import { kvPartition } from './kv-partition.ts';
import type { Model, Operation, StepResult } from './linearizability-model.ts';

/** A lease call; the same shape the simulator's clients send (and its lessors, for `expire`). */
export type LeaseInput =
  /** Create lease `lease` with a TTL in seconds (ids are the caller's, never reused). */
  | { readonly op: 'grant'; readonly lease: number; readonly ttl: number }
  /** End a lease and delete its keys, at a client's request. */
  | { readonly op: 'revoke'; readonly lease: number }
  /** End a lease and delete its keys, decided by a leader's lessor (recorded from the applied log). */
  | { readonly op: 'expire'; readonly lease: number }
  /** Renew a lease; it answers whether the lease exists. */
  | { readonly op: 'keepAlive'; readonly lease: number }
  /** Put a key attached to a lease; refused when the lease does not exist. */
  | { readonly op: 'leasePut'; readonly key: string; readonly value: string; readonly lease: number };

/** What a lease call returns: whether the lease existed (for a grant: whether it was created). */
export interface LeaseOutput {
  readonly ok: boolean;
  /** The lease's TTL in seconds, on a successful grant or keep-alive (the checker ignores it). */
  readonly ttl?: number;
}

/** Every call the model specifies. */
export type KvLeaseInput = KvInput | LeaseInput;
/** What any of them returns. */
export type KvLeaseOutput = KvOutput | LeaseOutput;
/** One call, as recorded. */
export type KvLeaseOperation = Operation<KvLeaseInput, KvLeaseOutput>;

/**
 * The state of one partition: one key with the lease it is attached to, and
 * which leases are alive among those the partition's operations name. A
 * partition of one lease has no key (`value` stays undefined).
 */
export interface KvLeaseState {
  readonly value: string | undefined;
  /** The lease the key is attached to; 0 for none (as the store's `lease` field). */
  readonly lease: number;
  /** The live leases, ascending. */
  readonly live: readonly number[];
}

const INITIAL: KvLeaseState = { value: undefined, lease: 0, live: [] };

/** Whether `input` is one of {@link kvModel}'s calls. */
export function isKvInput(input: KvLeaseInput): input is KvInput {
  return input.op === 'get' || input.op === 'put' || input.op === 'delete' || input.op === 'cas';
}

/**
 * The key-value store with leases. Per key as {@link kvModel}, and: a
 * plain write detaches the key from its lease (a put without a lease, as
 * the store does); `leasePut` succeeds exactly when its lease is alive and
 * attaches the key to it; `grant` succeeds exactly when the lease is not
 * alive; `revoke`, `expire` and `keepAlive` answer whether the lease is
 * alive, and the first two end it, deleting the key when it is attached to
 * it.
 *
 * Partitions ({@link kvLeasePartition}): keys no `leasePut` names are
 * checked exactly as {@link kvModel} checks them, with its pruning; each
 * other key together with the grants, revokes and expiries of every lease a
 * `leasePut` on it names; and each lease alone with its grants, revokes,
 * expiries and keep-alives. Each part is a projection of the history, so a
 * linearizable history gives linearizable parts (no false alarm). The
 * converse does not hold across parts: that a revoke deletes all its keys at
 * one revision is checked by the simulator's state comparisons between
 * members, not here.
 *
 * @throws {TypeError} From `step`, when an output does not have the shape
 *   its input calls for: a recording bug, not a violation.
 *
 * @example
 * ```ts
 * const verdict = checkLinearizable(kvLeaseModel, simulation.history);
 * ```
 */
export const kvLeaseModel: Model<KvLeaseState, KvLeaseInput, KvLeaseOutput> = {
  init: () => INITIAL,

  step(state, input, output): StepResult<KvLeaseState> {
    if (isKvInput(input)) return stepKv(state, input, output as KvOutput | undefined);
    const alive = state.live.includes(input.lease);
    switch (input.op) {
      case 'grant':
        return {
          ok: output === undefined || leaseOk(input, output) === !alive,
          state: alive ? state : { ...state, live: [...state.live, input.lease].sort((a, b) => a - b) },
        };
      case 'keepAlive':
        return { ok: output === undefined || leaseOk(input, output) === alive, state };
      case 'revoke':
      case 'expire': {
        const ok = output === undefined || leaseOk(input, output) === alive;
        if (!alive) return { ok, state };
        const live = state.live.filter((id) => id !== input.lease);
        const attached = state.lease === input.lease;
        return { ok, state: attached ? { value: undefined, lease: 0, live } : { ...state, live } };
      }
      case 'leasePut':
        return {
          ok: output === undefined || leaseOk(input, output) === alive,
          state: alive ? { ...state, value: input.value, lease: input.lease } : state,
        };
    }
  },

  partition: kvLeasePartition,

  equal: (a, b) =>
    a.value === b.value &&
    a.lease === b.lease &&
    a.live.length === b.live.length &&
    a.live.every((id, i) => id === b.live[i]),

  // Injective: JSON tells a string from null, and the rest are numbers.
  hash: (state) => JSON.stringify([state.value ?? null, state.lease, state.live]),

  describeOperation(input, output) {
    if (isKvInput(input)) return kvModel.describeOperation?.(input, output as KvOutput | undefined) ?? '';
    const result = output === undefined ? '?' : leaseOk(input, output) ? 'ok' : 'failed';
    switch (input.op) {
      case 'grant':
        return `grant lease ${input.lease} ttl ${input.ttl}s -> ${result}`;
      case 'leasePut':
        return `put ${JSON.stringify(input.key)} = ${JSON.stringify(input.value)} with lease ${input.lease} -> ${result}`;
      case 'expire':
        return `expire lease ${input.lease} (a leader's lessor) -> ${result}`;
      default:
        return `${input.op} lease ${input.lease} -> ${result}`;
    }
  },

  describeState(state) {
    const value = kvModel.describeState?.(state.value) ?? String(state.value);
    const attached = state.lease === 0 ? '' : ` with lease ${state.lease}`;
    return `${value}${attached}; live leases [${state.live.join(', ')}]`;
  },

  describePartition(operations) {
    const keyed = operations.find((operation) => 'key' in operation.input);
    if (keyed !== undefined && 'key' in keyed.input) return `key ${JSON.stringify(keyed.input.key)}`;
    const first = operations[0]?.input;
    return first === undefined || !('lease' in first) ? 'no key' : `lease ${first.lease}`;
  },
};

function stepKv(state: KvLeaseState, input: KvInput, output: KvOutput | undefined): StepResult<KvLeaseState> {
  const { ok, state: value } = kvModel.step(state.value, input, output);
  // A put, a delete or a swapping cas writes the key without a lease; a get or a failed cas leaves it.
  const wrote =
    input.op === 'put' || input.op === 'delete' || (input.op === 'cas' && state.value === input.expected);
  if (!wrote) return { ok, state };
  return { ok, state: { ...state, value, lease: 0 } };
}

function leaseOk(input: LeaseInput, output: KvLeaseOutput): boolean {
  if (!('ok' in output) || typeof output.ok !== 'boolean') {
    throw new TypeError(
      `Cannot check ${input.op}: its output must have a boolean ok field, got ${JSON.stringify(output)}`,
    );
  }
  return output.ok;
}

/**
 * Splits a history with leases (see {@link kvLeaseModel}): the keys no
 * `leasePut` names go through {@link kvPartition} (its pruning of
 * unobserved writes is sound only where no revoke can delete a key); each
 * other key gets its own operations and the grants, revokes and expiries of
 * the leases its `leasePut`s name, dropping only its gets of unknown outcome
 * (writes of unknown outcome stay: whether a revoke deletes the key depends
 * on which write came last); each lease gets its grants, revokes, expiries
 * and keep-alives, dropping keep-alives of unknown outcome (they change
 * nothing and accept any answer). Operations keep their history order.
 */
export function kvLeasePartition(history: readonly KvLeaseOperation[]): KvLeaseOperation[][] {
  const leasesOfKey = new Map<string, Set<number>>();
  for (const { input } of history) {
    if (input.op !== 'leasePut') continue;
    const leases = leasesOfKey.get(input.key) ?? new Set<number>();
    leases.add(input.lease);
    leasesOfKey.set(input.key, leases);
  }
  const keysOfLease = new Map<number, string[]>();
  for (const [key, leases] of leasesOfKey) {
    for (const lease of leases) keysOfLease.set(lease, [...(keysOfLease.get(lease) ?? []), key]);
  }
  const plain: KvOperation[] = [];
  const byKey = new Map<string, KvLeaseOperation[]>();
  const byLease = new Map<number, KvLeaseOperation[]>();
  const add = <K>(parts: Map<K, KvLeaseOperation[]>, part: K, operation: KvLeaseOperation) => {
    const operations = parts.get(part);
    if (operations === undefined) parts.set(part, [operation]);
    else operations.push(operation);
  };
  for (const operation of history) {
    const { input } = operation;
    if (input.op === 'get' && operation.output === undefined) continue;
    if ('key' in input) {
      if (leasesOfKey.has(input.key)) add(byKey, input.key, operation);
      else plain.push(operation as KvOperation);
      continue;
    }
    if (input.op === 'keepAlive' && operation.output === undefined) continue;
    add(byLease, input.lease, operation);
    if (input.op === 'keepAlive') continue;
    for (const key of keysOfLease.get(input.lease) ?? []) add(byKey, key, operation);
  }
  return [...kvPartition(plain), ...byKey.values(), ...byLease.values()];
}
