/**
 * The conformance suite of the storage seams (`stores.ts`): the same checks
 * run against the in-memory stores and, later, the disk stores.
 *
 * Each check is a plain async function that throws a
 * {@link ConformanceFailure}, so a test can also run one against a
 * deliberately broken store and expect it to fail. The register functions
 * turn the checks into tests; they take `describe` and `it` from the caller
 * because `src/raft` imports no `node:` module (test/pure-core.test.ts).
 *
 * @example
 * ```ts
 * import { describe, it } from 'node:test';
 * logStoreConformance('MemoryLogStore', {
 *   open: () => new MemoryLogStore(),
 *   crashAndReopen: (log) => { log.crash(); return log; },
 * }, { describe, it });
 * ```
 *
 * @module
 */
export * from './conformance-harness.ts';
export * from './log-store-conformance.ts';
export * from './snapshot-store-conformance.ts';
export * from './stable-store-conformance.ts';
