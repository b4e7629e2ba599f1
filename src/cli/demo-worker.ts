/**
 * The task the demo runs on worker threads: count the primes in a range.
 * Deliberately CPU-bound, so the pool's threads visibly share the work.
 */
export default function countPrimes(range: { from: number; to: number }): number {
  let count = 0;
  for (let n = Math.max(2, range.from); n < range.to; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}
