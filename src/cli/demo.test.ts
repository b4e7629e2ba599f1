import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runDemo } from './demo.ts';
import countPrimes from './demo-worker.ts';

describe('runDemo', () => {
  it('counts exactly what one thread counts, with every job done once', async () => {
    const lines: string[] = [];
    const result = await runDemo({
      jobs: 12,
      rangeSize: 5000,
      workers: 3,
      print: (line) => lines.push(line),
    });
    assert.equal(result.primes, countPrimes({ from: 0, to: 60_000 }));
    assert.equal(result.primes, 6057);
    assert.equal(result.jobsDone, 12);
    assert.equal(result.jobsPerWorker.length, 3);
    assert.ok(lines.some((line) => line.includes('6,057')));
  });

  it('refuses a non-positive option with RangeError', async () => {
    await assert.rejects(runDemo({ jobs: 0, rangeSize: 10, workers: 1, print: () => {} }), RangeError);
  });
});
