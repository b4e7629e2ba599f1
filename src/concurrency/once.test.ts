import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Once } from './once.ts';

describe('Once', () => {
  it('Once do runs fn once and gives every caller the same promise and result', async () => {
    const once = new Once<number>();
    let calls = 0;
    let release: (value: number) => void = () => undefined;
    const fn = (): Promise<number> => {
      calls++;
      return new Promise<number>((resolve) => {
        release = resolve;
      });
    };
    const first = once.do(fn);
    const second = once.do(fn);
    assert.equal(first, second);
    assert.equal(once.done, false);
    release(7);
    assert.deepEqual(await Promise.all([first, second]), [7, 7]);
    assert.equal(once.done, true);
    assert.equal(await once.do(() => 99), 7, 'a later fn is ignored');
    assert.equal(calls, 1);
  });

  it('Once do with a synchronous fn is done at once', async () => {
    const once = new Once<string>();
    const result = once.do(() => 'x');
    assert.equal(once.done, true);
    assert.equal(await result, 'x');
  });

  it('Once do keeps a failure as the one run: later calls get the same error', async () => {
    const once = new Once();
    let calls = 0;
    const failing = (): never => {
      calls++;
      throw new Error('init failed');
    };
    await assert.rejects(once.do(failing), /init failed/);
    await assert.rejects(
      once.do(() => undefined),
      /init failed/,
    );
    assert.equal(calls, 1);
    assert.equal(once.done, true);
  });

  it('Once do called from inside fn does not run fn again', async () => {
    const once = new Once<number>();
    let calls = 0;
    let inner: Promise<number> | undefined;
    const outer = once.do(() => {
      calls++;
      inner = once.do(() => {
        calls++;
        return -1;
      });
      return 1;
    });
    assert.equal(inner, outer);
    assert.equal(await outer, 1);
    assert.equal(calls, 1);
  });
});
