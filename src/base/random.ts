/**
 * The `Random` seam: every random choice (election jitter, `select` among
 * ready cases, reconnect backoff, every simulator decision) comes from here,
 * so one seed replays a run exactly.
 *
 * @module
 */

/** A source of uniformly distributed random numbers. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, bound). `bound` must be a positive safe integer. */
  int(bound: number): number;
}

/**
 * A fast seeded PRNG (sfc32, seeded through splitmix32). Not cryptographic.
 * The same seed yields the same sequence on every platform.
 *
 * @example
 * ```ts
 * const random = new SeededRandom(42);
 * random.int(6); // the same value on every run with seed 42
 * ```
 */
export class SeededRandom implements Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  /** The seed this generator started from. */
  readonly seed: number;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed))
      throw new RangeError(`Cannot seed Random: seed must be a safe integer, got ${seed}`);
    this.seed = seed;
    // splitmix32 spreads the seed's bits over the four words of state.
    let state = (seed ^ Math.floor(seed / 0x1_0000_0000)) >>> 0;
    const splitmix = (): number => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = splitmix();
    this.#b = splitmix();
    this.#c = splitmix();
    this.#d = splitmix();
    for (let i = 0; i < 12; i++) this.#nextUint32();
  }

  #nextUint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  next(): number {
    return this.#nextUint32() / 0x1_0000_0000;
  }

  int(bound: number): number {
    if (!(Number.isSafeInteger(bound) && bound > 0)) {
      throw new RangeError(`Cannot draw random int: bound must be a positive safe integer, got ${bound}`);
    }
    return Math.floor(this.next() * bound);
  }
}

/** Non-reproducible randomness for production paths that need no replay. */
export const systemRandom: Random = {
  next: () => Math.random(),
  int: (bound) => Math.floor(Math.random() * bound),
};
