/**
 * The in-memory MVCC store against the reference model (`mvcc-model.suite.ts`).
 */
import { describe, it } from 'node:test';
import { checkAgainstModel } from './mvcc-model.suite.ts';
import { MvccStore } from './mvcc-store.ts';

describe('MvccStore against a reference model', () => {
  it('answers every read, write and error as the model does, at every revision, with invariants after each step', () => {
    checkAgainstModel(
      { create: (options) => new MvccStore(options), write: (run) => run(), restoreTarget: () => undefined },
      200,
    );
  });
});
