/**
 * `npm run bench -- <name>`: runs one benchmark; each prints a table and ends
 * with one JSON line.
 */
import { benchConcurrency } from './concurrency.ts';
import { benchCoord } from './coord.ts';
import { benchEtcd } from './etcd.ts';
import { benchKv } from './kv.ts';
import { benchRestart } from './restart.ts';
import { benchRpc } from './rpc.ts';
import { benchStorage } from './storage.ts';

const benches: Record<string, () => Promise<void>> = {
  concurrency: benchConcurrency,
  coord: benchCoord,
  etcd: benchEtcd,
  kv: benchKv,
  restart: benchRestart,
  rpc: benchRpc,
  storage: benchStorage,
};

const name = process.argv[2];
const bench = name === undefined ? undefined : benches[name];
if (bench === undefined) {
  console.error(
    `Cannot run benchmark ${JSON.stringify(name)}: choose one of ${Object.keys(benches).join(', ')}`,
  );
  process.exit(2);
}
await bench();
