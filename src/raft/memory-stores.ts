/**
 * In-memory implementations of the storage seams (`stores.ts`), for tests
 * and the simulator. Each has a crash model: writes are visible at once but
 * durable only after `sync()` (or a snapshot's save or commit); `crash()`
 * drops everything not yet durable, like a power loss.
 *
 * `sync()` and every other promise-returning method do their work before
 * they return, so a deterministic caller (the simulator) may call them
 * without awaiting; errors still arrive as rejections, as on disk.
 *
 * @module
 */
import type { StableStore } from './stores.ts';
import type { HardState } from './types.ts';

export * from './memory-log-store.ts';
export * from './memory-snapshot-store.ts';

const ZERO_HARD_STATE: HardState = { term: 0, vote: 0, commit: 0 };

/** A {@link StableStore} in memory. `crash()` returns it to the hard state of the last `sync()`. */
export class MemoryStableStore implements StableStore {
  #live: HardState = ZERO_HARD_STATE;
  #durable: HardState = ZERO_HARD_STATE;

  hardState(): HardState {
    return this.#live;
  }

  setHardState(hardState: HardState): void {
    this.#live = hardState;
  }

  /** Makes the hard state durable; done when it returns. */
  sync(): Promise<void> {
    this.#durable = this.#live;
    return Promise.resolve();
  }

  /** Loses the hard state set since the last sync. */
  crash(): void {
    this.#live = this.#durable;
  }
}
