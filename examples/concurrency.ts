import { setTimeout as sleep } from 'node:timers/promises';
import { after, Channel, ErrGroup, recvCase, select, WaitGroup } from '../src/index.ts';

// A pipeline: a producer, three workers, results gathered with a WaitGroup.
const jobs = new Channel<number>(8);
const results = new Channel<string>(8);
const workers = new WaitGroup();
for (let id = 0; id < 3; id++) {
  workers.add(1);
  void (async () => {
    for await (const n of jobs) await results.send(`worker ${id}: ${n} squared is ${n * n}`);
    workers.done();
  })();
}
void (async () => {
  for (let n = 1; n <= 5; n++) await jobs.send(n);
  jobs.close(); // workers' for-await loops end once the channel drains
  await workers.wait();
  results.close();
})();
const lines: string[] = [];
for await (const line of results) lines.push(line);
console.log(`${lines.length} results`);

// select: whichever is ready first, a value or a timeout.
const never = new Channel<string>();
const chosen = await select([recvCase(never), recvCase(after(20))]);
console.log(chosen.index === 1 ? 'timed out' : 'got a value');

// ErrGroup: the first failure aborts the others' shared signal.
const group = new ErrGroup({ limit: 2 });
await group.go(async (signal) => {
  await sleep(10_000, undefined, { signal }); // cut short when the other task fails
});
await group.go(async () => {
  throw new Error('disk full');
});
await group.wait().catch((error: Error) => console.log(`group failed: ${error.message}`));
