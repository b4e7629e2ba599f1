/**
 * The {@link StableStore} part of the storage conformance suite (see
 * `store-conformance.ts`).
 *
 * @module
 */
import {
  type ConformanceCheck,
  expectEqual,
  registerConformance,
  type StoreFactory,
  type StoreSession,
  type TestRegistrar,
  withStore,
} from './conformance-harness.ts';
import type { StableStore } from './stores.ts';
import type { HardState } from './types.ts';

type StableCheck = ConformanceCheck<StoreFactory<StableStore>>;

function stableCheck(name: string, body: (session: StoreSession<StableStore>) => Promise<void>): StableCheck {
  return { name, run: (factory) => withStore(factory, body) };
}

const hardStateA: HardState = { term: 3, vote: 2, commit: 7 };
const hardStateB: HardState = { term: 4, vote: 0, commit: 9 };

/** The {@link StableStore} contract, check by check. */
export const stableStoreChecks: readonly StableCheck[] = [
  stableCheck('a new stable store holds the zero hard state', async ({ store }) => {
    expectEqual(store.hardState(), { term: 0, vote: 0, commit: 0 }, 'hard state');
  }),
  stableCheck('setHardState is visible at once', async ({ store }) => {
    store.setHardState(hardStateA);
    expectEqual(store.hardState(), hardStateA, 'hard state');
  }),
  stableCheck('an unsynced hard state is lost in a crash', async (session) => {
    session.store.setHardState(hardStateA);
    await session.store.sync();
    session.store.setHardState(hardStateB);
    expectEqual((await session.crash()).hardState(), hardStateA, 'hard state after the crash');
  }),
  stableCheck('a synced hard state survives a crash', async (session) => {
    session.store.setHardState(hardStateA);
    await session.store.sync();
    session.store.setHardState(hardStateB);
    await session.store.sync();
    expectEqual((await session.crash()).hardState(), hardStateB, 'hard state after the crash');
  }),
];

/** Registers the {@link StableStore} conformance tests for one implementation. */
export function stableStoreConformance(
  name: string,
  factory: StoreFactory<StableStore>,
  test: TestRegistrar,
): void {
  registerConformance(`StableStore conformance: ${name}`, stableStoreChecks, factory, test);
}
