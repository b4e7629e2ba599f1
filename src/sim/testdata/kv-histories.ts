/**
 * Generated key-value histories for the linearizability checker's tests:
 * a random sequential execution whose operations are then given random
 * call/return intervals around their true linearization points, so the
 * result is linearizable by construction.
 *
 * @module
 */
import type { Random } from '../../base/random.ts';
import type { KvInput, KvOperation, KvOutput } from '../kv-model.ts';

/** The shape of a generated history. */
export interface KvHistoryOptions {
  /** Operations in the history. */
  operations: number;
  /** Clients; each makes one call at a time. */
  clients: number;
  /** Distinct keys, named `k0`, `k1`, ... */
  keys: number;
  /**
   * Fraction of operations whose outcome is unknown; half of those (the
   * puts and cas among them) never take effect at all.
   */
  unknownRate: number;
  /** How far, in time units, an interval may stretch each side of its linearization point (10 units apart). */
  widenMax: number;
}

/** Time between consecutive linearization points. */
const POINT_SPACING = 10;

interface Planned {
  readonly clientId: number;
  readonly input: KvInput;
  readonly output: KvOutput | undefined;
  readonly point: number;
}

/**
 * A linearizable history: run `operations` random calls one after another
 * against a map, then widen each call's interval at random, keeping its
 * linearization point inside and each client's calls in sequence. Put and
 * cas values are unique (`v<index>`), so a read names the write it saw.
 */
export function generateKvHistory(random: Random, options: KvHistoryOptions): KvOperation[] {
  const planned = generateKvHistoryPlan(random, options);
  const history: KvOperation[] = [];
  // The linearization point of each operation's client's next operation.
  const nextPoints: (number | undefined)[] = [];
  const latestPoint = new Map<number, number>();
  for (let index = planned.length - 1; index >= 0; index--) {
    const { clientId, point } = planned[index]!;
    nextPoints[index] = latestPoint.get(clientId);
    latestPoint.set(clientId, point);
  }
  const nextCallMin = new Map<number, number>();
  planned.forEach((operation, index) => {
    const { clientId, point } = operation;
    const callMin = nextCallMin.get(clientId) ?? 0;
    const call = Math.max(callMin, point - random.int(options.widenMax + 1));
    // The client's next call must start after this one returns, and its
    // point lies at least one spacing later.
    const nextPoint = nextPoints[index];
    const retSlack =
      nextPoint === undefined ? options.widenMax : Math.min(options.widenMax, nextPoint - point - 1);
    const ret = point + random.int(retSlack + 1);
    nextCallMin.set(clientId, ret + 1);
    const recordedRet = operation.output === undefined ? Number.POSITIVE_INFINITY : ret;
    history.push({ clientId, input: operation.input, call, ret: recordedRet, output: operation.output });
  });
  return history;
}

function generateKvHistoryPlan(random: Random, options: KvHistoryOptions): Planned[] {
  const data = new Map<string, string>();
  const written: string[] = [];
  const planned: Planned[] = [];
  for (let index = 0; index < options.operations; index++) {
    const key = `k${random.int(options.keys)}`;
    const value = `v${index}`;
    const kind = random.int(10);
    let input: KvInput;
    if (kind < 4) input = { op: 'get', key };
    else if (kind < 6) input = { op: 'put', key, value };
    else if (kind < 7) input = { op: 'delete', key };
    else {
      // Half the cas calls expect the current value, so both outcomes occur.
      const expected =
        random.int(2) === 0 || written.length === 0 ? data.get(key) : written[random.int(written.length)];
      input = { op: 'cas', key, expected, value };
    }
    const unknown = random.next() < options.unknownRate;
    const takesEffect = !unknown || random.int(2) === 0;
    const output = takesEffect ? applyKv(data, input) : undefined;
    if (input.op === 'put' || input.op === 'cas') written.push(value);
    planned.push({
      clientId: random.int(options.clients),
      input,
      output: unknown ? undefined : output,
      point: (index + 1) * POINT_SPACING,
    });
  }
  return planned;
}

/** Applies one call to a map and returns its output. */
export function applyKv(data: Map<string, string>, input: KvInput): KvOutput {
  switch (input.op) {
    case 'get':
      return { value: data.get(input.key) };
    case 'put':
      data.set(input.key, input.value);
      return {};
    case 'delete':
      data.delete(input.key);
      return {};
    case 'cas':
      if (data.get(input.key) !== input.expected) return { ok: false };
      data.set(input.key, input.value);
      return { ok: true };
  }
}
