/**
 * The simulated network: messages delayed by a seeded number of ticks (so
 * they reorder), dropped and duplicated at seeded rates, and blocked by
 * partitions.
 *
 * @module
 */
import type { Random } from '../base/random.ts';
import type { Message, NodeId } from '../raft/types.ts';

/** Fault rates of the network. */
export interface NetworkFaults {
  /** Probability a message is lost. */
  dropRate: number;
  /** Probability a message is delivered twice. */
  duplicateRate: number;
  /** Messages take 0..delayTicksMax ticks (uniform), so later ones may overtake. */
  delayTicksMax: number;
}

/** A partition: the directed links it blocks, and a name for the log. */
export interface Partition {
  readonly name: string;
  readonly blocked: ReadonlySet<string>;
}

function link(from: NodeId, to: NodeId): string {
  return `${from}>${to}`;
}

/** Builds partitions over `ids`, chosen by `random`. */
export function randomPartition(ids: readonly NodeId[], random: Random, leader: NodeId): Partition {
  const blocked = new Set<string>();
  const cutBoth = (a: NodeId, b: NodeId): void => {
    blocked.add(link(a, b)).add(link(b, a));
  };
  const kind = random.int(4);
  if (kind === 0 && leader !== 0) {
    for (const id of ids) if (id !== leader) cutBoth(leader, id);
    return { name: `isolate-leader(${leader})`, blocked };
  }
  if (kind === 1) {
    // One-way: a member hears but is not heard (or the reverse).
    const a = ids[random.int(ids.length)] as NodeId;
    const outbound = random.int(2) === 0;
    for (const id of ids) if (id !== a) blocked.add(outbound ? link(a, id) : link(id, a));
    return { name: `asymmetric(${a},${outbound ? 'mute' : 'deaf'})`, blocked };
  }
  if (kind === 2 && ids.length >= 3) {
    // A bridge: two sides that reach each other only through one member.
    const shuffled = ids.map((id) => ({ id, key: random.next() })).sort((x, y) => x.key - y.key);
    const bridge = (shuffled[0] as { id: NodeId }).id;
    const rest = shuffled.slice(1).map((x) => x.id);
    const half = Math.ceil(rest.length / 2);
    for (const a of rest.slice(0, half)) for (const b of rest.slice(half)) cutBoth(a, b);
    return { name: `bridge(${bridge})`, blocked };
  }
  // A symmetric split into a random side and the rest.
  const side = ids.filter(() => random.int(2) === 0);
  for (const a of side) for (const b of ids) if (!side.includes(b)) cutBoth(a, b);
  return { name: `split(${side.join(',')}|${ids.filter((id) => !side.includes(id)).join(',')})`, blocked };
}

/** Messages in flight, by the tick they arrive. */
export class SimNetwork {
  readonly #random: Random;
  faults: NetworkFaults;
  partition: Partition | undefined;
  readonly #inFlight = new Map<number, Message[]>();
  sent = 0;
  dropped = 0;

  constructor(random: Random, faults: NetworkFaults) {
    this.#random = random;
    this.faults = faults;
  }

  /** Sends `m` at tick `now`; returns false when it is lost at once. */
  send(m: Message, now: number): boolean {
    this.sent++;
    if (this.partition?.blocked.has(link(m.from, m.to)) || this.#random.next() < this.faults.dropRate) {
      this.dropped++;
      return false;
    }
    const copies = this.#random.next() < this.faults.duplicateRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const at = now + 1 + this.#random.int(this.faults.delayTicksMax + 1);
      const bucket = this.#inFlight.get(at);
      if (bucket === undefined) this.#inFlight.set(at, [m]);
      else bucket.push(m);
    }
    return true;
  }

  /** Takes the messages arriving at tick `now`; `lost` gets those a partition now blocks. */
  arrivals(now: number, lost: (m: Message) => void): Message[] {
    const bucket = this.#inFlight.get(now) ?? [];
    this.#inFlight.delete(now);
    return bucket.filter((m) => {
      if (!this.partition?.blocked.has(link(m.from, m.to))) return true;
      lost(m);
      return false;
    });
  }

  /** Puts a message back to arrive at a later tick (its receiver is paused). */
  defer(m: Message, at: number): void {
    const bucket = this.#inFlight.get(at);
    if (bucket === undefined) this.#inFlight.set(at, [m]);
    else bucket.push(m);
  }
}
