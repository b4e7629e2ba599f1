/**
 * How the key-value model splits a history for the checker: one part per
 * key, without the operations of unknown outcome that provably cannot change
 * the verdict.
 *
 * Why prune at all: an operation of unknown outcome never returns, so the
 * search must consider it at every point after its call, and proving a
 * history illegal means ruling out every subset of them; with dozens of
 * timed-out writes on a key that is far beyond any budget. Most timed-out
 * writes are never observed, and those can go.
 *
 * @module
 */
import type { KvOperation } from './kv-model.ts';

/**
 * Splits a key-value history per key (linearizability is local, Herlihy &
 * Wing 1990) and drops, from each key's part, the operations of unknown
 * outcome that cannot affect its verdict: every such get (it changes nothing
 * and accepts any result) and every such put or cas that nothing observes
 * (see {@link kvPartitionObservedWrites}); and it resolves the puts and cas
 * of unknown outcome that were surely observed into known ones (see
 * {@link kvPartitionResolver}). Deletes of unknown outcome are always kept
 * as they are: they all write the same "absent", so no uniqueness argument
 * applies to them, and keeping an operation never changes a verdict, it
 * only costs search. Parts come in order of each key's first operation;
 * operations keep their history order.
 */
export function kvPartition(history: readonly KvOperation[]): KvOperation[][] {
  const byKey = new Map<string, KvOperation[]>();
  for (const operation of history) {
    if (operation.input.op === 'get' && operation.output === undefined) continue;
    const operations = byKey.get(operation.input.key);
    if (operations === undefined) byKey.set(operation.input.key, [operation]);
    else operations.push(operation);
  }
  return [...byKey.values()].map((operations) => {
    const observed = kvPartitionObservedWrites(operations);
    const resolve = kvPartitionResolver(operations);
    return operations
      .filter(
        (operation) =>
          operation.output !== undefined || operation.input.op === 'delete' || observed.has(operation),
      )
      .map(resolve);
  });
}

/**
 * For one key's operations, a function that replaces a write of unknown
 * outcome that was surely observed by a copy whose outcome is known: a put
 * returning `{}`, a cas returning `{ ok: true }`, returning when its first
 * observer returned. Other operations come back as they are.
 *
 * A write W of `v` was surely observed when a known get returned `v` or a
 * known successful cas expected `v`, and W is the only operation writing
 * `v`: then W took effect, and did so before that observer returned. This is
 * exactly what the history already implies, so the verdict is unchanged;
 * but the search no longer carries W as optional to the end of the history,
 * which is what makes unknown outcomes expensive. A counterexample shows the
 * copy, with that return time.
 */
export function kvPartitionResolver(
  operations: readonly KvOperation[],
): (operation: KvOperation) => KvOperation {
  const writers = new Map<string, number>();
  const firstObservedReturn = new Map<string | undefined, number>();
  const observe = (value: string | undefined, ret: number) =>
    firstObservedReturn.set(value, Math.min(ret, firstObservedReturn.get(value) ?? Number.POSITIVE_INFINITY));
  for (const { input, output, ret } of operations) {
    if (input.op === 'put' || input.op === 'cas')
      writers.set(input.value, (writers.get(input.value) ?? 0) + 1);
    if (output === undefined) continue;
    if (input.op === 'get' && 'value' in output) observe(output.value, ret);
    if (input.op === 'cas' && casSwapped(output)) observe(input.expected, ret);
  }
  return (operation) => {
    const { input } = operation;
    if (operation.output !== undefined || (input.op !== 'put' && input.op !== 'cas')) return operation;
    if (writers.get(input.value) !== 1) return operation;
    const ret = firstObservedReturn.get(input.value);
    // An observer that returned before W was called makes the history
    // illegal; leave W alone and let the search say so.
    if (ret === undefined || ret < operation.call) return operation;
    return { ...operation, ret, output: input.op === 'put' ? {} : { ok: true } };
  };
}

/**
 * For one key's operations, the puts and cas of unknown outcome that could
 * be observed; the others are dropped, as if they never took effect.
 * (Deletes, which write "absent", are never dropped: see {@link kvPartition}.)
 * A write W, writing `v`, is kept when any of these holds:
 *
 * 1. a known get returned `v`;
 * 2. a cas that may succeed (known to have succeeded, or of unknown outcome)
 *    expects `v`;
 * 3. a known failed cas C, expecting `e`, may come right after W in a
 *    linearization (C returned no earlier than W's call) while the key holds
 *    `e` from before W until C. That needs a write E of `e` (for an absent
 *    `e`: the start, or a delete, all of which are kept), surely effective
 *    or itself kept, that C may follow, and that no surely effective write
 *    (deletes included) called after E returned had itself returned before
 *    W's or C's call (it would come between E and W or C, replacing `e`).
 *
 * Rule 3 refers to the kept set, so the set is grown to its least fixed
 * point.
 *
 * Why dropping the rest is sound: take a linearization and remove every
 * dropped write D. An operation O then sees a different state only if the
 * last write before it was some D (value `v`); it now sees the value of the
 * last remaining write, or absent. O is no known get (rule 1), and no cas
 * that succeeded (rule 2). If O is a known failed cas expecting `e` and now
 * sees `e`, the first dropped write after the remaining write of `e` (or
 * after the start) meets rule 3, a contradiction; so it still fails. An
 * unknown cas that failed and would now succeed is removed too, which an
 * unknown outcome allows. What remains is a linearization of the pruned
 * history; conversely any linearization of the pruned history is one of the
 * whole, with the dropped writes never taking effect. The verdict is
 * unchanged.
 */
export function kvPartitionObservedWrites(operations: readonly KvOperation[]): Set<KvOperation> {
  const valuesRead = new Set<string | undefined>();
  const valuesMaybeSwapped = new Set<string | undefined>();
  const writersOfValue = new Map<string, KvOperation[]>();
  const failedCas: FailedCas[] = [];
  const unknownWrites: KvOperation[] = [];
  const deletes: KvOperation[] = [];
  for (const operation of operations) {
    const { input, output } = operation;
    if (input.op === 'get') {
      if (output !== undefined && 'value' in output) valuesRead.add(output.value);
      continue;
    }
    if (input.op === 'delete') {
      deletes.push(operation);
      continue;
    }
    if (output === undefined) unknownWrites.push(operation);
    if (input.op === 'cas' && output !== undefined && !casSwapped(output)) {
      failedCas.push({ expected: input.expected, call: operation.call, ret: operation.ret });
      continue;
    }
    if (input.op === 'cas') valuesMaybeSwapped.add(input.expected);
    const writers = writersOfValue.get(input.value);
    if (writers === undefined) writersOfValue.set(input.value, [operation]);
    else writers.push(operation);
  }
  const observed = new Set<KvOperation>();
  for (const write of unknownWrites) {
    if (write.input.op !== 'put' && write.input.op !== 'cas') continue;
    if (valuesRead.has(write.input.value) || valuesMaybeSwapped.has(write.input.value)) observed.add(write);
  }
  const replacedBy = kvPartitionReplacedBy(operations);
  // May the key hold `cas.expected` just before `write`, with the failed
  // cas right after it (rule 3)? Each test is a real-time order that such a
  // linearization needs: B may follow A unless B returned before A was called.
  const threatens = (cas: FailedCas, write: KvOperation): boolean => {
    if (cas.ret < write.call) return false;
    const holdsUntilCas = (replaced: number) => replaced >= write.call && replaced >= cas.call;
    // The initial absent value is like a write that returned at -Infinity; deletes write it too (all kept).
    if (cas.expected === undefined && holdsUntilCas(replacedBy(Number.NEGATIVE_INFINITY))) return true;
    const writers = cas.expected === undefined ? deletes : (writersOfValue.get(cas.expected) ?? []);
    return writers.some((writer) => {
      if (writer === write || cas.ret < writer.call) return false;
      if (writer.output === undefined && writer.input.op !== 'delete' && !observed.has(writer)) return false;
      return holdsUntilCas(replacedBy(writer.output === undefined ? Number.POSITIVE_INFINITY : writer.ret));
    });
  };
  // Each pass keeps at least one more write or stops, so at most unknownWrites.length + 1 passes.
  for (let grown = true; grown; ) {
    grown = false;
    for (const write of unknownWrites) {
      if (observed.has(write) || !failedCas.some((cas) => threatens(cas, write))) continue;
      observed.add(write);
      grown = true;
    }
  }
  return observed;
}

/**
 * For a write that returned at `ret`, the earliest time by which a later
 * write surely replaced its value: the least return of a write known to have
 * taken effect that was called after `ret`; Infinity when there is none.
 */
function kvPartitionReplacedBy(operations: readonly KvOperation[]): (ret: number) => number {
  const effective = operations
    .filter(
      ({ input, output }) =>
        output !== undefined &&
        (input.op === 'put' || input.op === 'delete' || (input.op === 'cas' && casSwapped(output))),
    )
    .sort((a, b) => a.call - b.call);
  // suffixReturnMin[i]: the least ret among effective[i..].
  const suffixReturnMin = new Float64Array(effective.length + 1).fill(Number.POSITIVE_INFINITY);
  for (let i = effective.length - 1; i >= 0; i--) {
    suffixReturnMin[i] = Math.min(suffixReturnMin[i + 1]!, effective[i]!.ret);
  }
  return (ret) => {
    // The first write called strictly after `ret`, by binary search.
    let low = 0;
    let high = effective.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (effective[middle]!.call > ret) high = middle;
      else low = middle + 1;
    }
    return suffixReturnMin[low]!;
  };
}

interface FailedCas {
  readonly expected: string | undefined;
  readonly call: number;
  readonly ret: number;
}

function casSwapped(output: object): boolean {
  return 'ok' in output && output.ok === true;
}
