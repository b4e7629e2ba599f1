/**
 * The load generator of `npm run bench -- kv` and `etcd`, in its own process
 * so that its CPU time can be measured apart from the servers':
 * `node --import tsx bench/kv-load.ts '<LoadSpec JSON>'`. Drives one
 * workload at one cluster through one client (see {@link KvSystem}) and
 * prints one line, `result=<LoadResult JSON>`.
 *
 * @module
 */
import { Etcd3, type IKeyValue } from 'etcd3';
import { connect } from '../src/client/index.ts';
import { closedLoop, type LoopResult, measured, runLoadMain } from './load-loop.ts';
import { percentile } from './report.ts';

export type Workload =
  | 'fill'
  | 'put'
  | 'getLinearizable'
  | 'getSerializable'
  | 'watchFanOut'
  | 'leaseKeepAlive';

/**
 * A cluster and the client that drives it:
 * - `tessera`: Tessera through `tessera/client`;
 * - `etcd`: etcd through the `etcd3` package;
 * - `tessera-etcd3`: Tessera's etcd v3 gRPC API (`--listen-etcd`) through
 *   the `etcd3` package, the same code as `etcd`.
 */
export type KvSystem = 'tessera' | 'etcd' | 'tessera-etcd3';

/** What to run. */
export interface LoadSpec {
  readonly system: KvSystem;
  /** Addresses `host:port` of every member: its client port, or its etcd API for the `etcd3` client. */
  readonly endpoints: readonly string[];
  readonly workload: Workload;
  /** Requests in flight (for `watchFanOut`: puts in flight). */
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  /** Keys written and read: `bench/0` ... `bench/{keys - 1}`. */
  readonly keys: number;
  readonly valueBytes: number;
  /** Watchers of `watchFanOut`, each on the whole `bench/w/` prefix. */
  readonly watchers: number;
}

/** What it measured (latencies in ms; CPU of this process per operation in µs). */
export interface LoadResult extends LoopResult {
  /** `watchFanOut`: events delivered to all watchers per second, and the latency from put to delivery. */
  readonly eventsPerSecond?: number;
  readonly deliveryP50Ms?: number;
  readonly deliveryP99Ms?: number;
  readonly cpuUsPerEvent?: number;
}

/** One cluster as the workloads see it. */
interface Driver {
  put(key: string, value: Buffer): Promise<void>;
  get(key: string, serializable: boolean): Promise<void>;
  /** Watches a prefix; `onPut` gets each put's value. Returns a stop function. */
  watchPrefix(prefix: string, onPut: (value: Buffer) => void): Promise<() => void>;
  grant(ttlSeconds: number): Promise<string>;
  keepAlive(id: string): Promise<void>;
  close(): Promise<void>;
}

async function tesseraDriver(endpoints: readonly string[]): Promise<Driver> {
  const client = await connect({ endpoints });
  return {
    put: async (key, value) => {
      await client.kv.put(key, value);
    },
    get: async (key, serializable) => {
      await client.kv.get(key, { serializable });
    },
    watchPrefix: async (prefix, onPut) => {
      const controller = new AbortController();
      void (async () => {
        for await (const batch of client.watch({ prefix }, { signal: controller.signal })) {
          for (const event of batch.events) if (event.type === 'put') onPut(Buffer.from(event.kv.value));
        }
      })().catch((error: unknown) => {
        if (!controller.signal.aborted) console.error('tessera watch failed', error);
      });
      return () => controller.abort();
    },
    grant: async (ttl) => String((await client.lease.grant(ttl)).id),
    keepAlive: async (id) => {
      await client.lease.keepAliveOnce(Number(id));
    },
    close: async () => client.close(),
  };
}

/**
 * A client of the member that says it leads. An etcd follower forwards
 * each lease renewal to its leader over HTTP, so which member a client
 * picked decided the keep-alive figure: 9,000/s through a follower against
 * 41,700 at the leader, measured with 256 clients. Tessera's client renews
 * at the leader; both sides are measured there.
 *
 * @throws {Error} when no member says it leads.
 */
async function etcd3LeaderClient(endpoints: readonly string[]): Promise<Etcd3> {
  for (const endpoint of endpoints) {
    const probe = new Etcd3({ hosts: [`http://${endpoint}`] });
    try {
      const status = await probe.maintenance.status();
      if (status.leader === status.header.member_id) return probe;
    } catch {
      // Not answering: not the one to renew at.
    }
    probe.close();
  }
  throw new Error(`No member of ${endpoints.join(', ')} says it leads`);
}

async function etcd3Driver(endpoints: readonly string[]): Promise<Driver> {
  const client = new Etcd3({ hosts: endpoints.map((endpoint) => `http://${endpoint}`) });
  let leader: Promise<Etcd3> | undefined;
  const leaderClient = (): Promise<Etcd3> => {
    leader ??= etcd3LeaderClient(endpoints);
    return leader;
  };
  // Keep-alives on one bidirectional stream (etcd answers them in order), as etcd's own clients renew.
  type KeepAliveStream = Awaited<ReturnType<typeof client.leaseClient.leaseKeepAlive>>;
  const waiting: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  const openKeepAliveStream = async (): Promise<KeepAliveStream> => {
    const stream = await (await leaderClient()).leaseClient.leaseKeepAlive();
    stream.on('data', () => waiting.shift()?.resolve());
    stream.on('error', (error: unknown) => {
      for (const waiter of waiting.splice(0)) waiter.reject(error);
    });
    return stream;
  };
  // One stream for every worker: the first keep-alive opens it, the others wait for it.
  let keepAliveStream: Promise<KeepAliveStream> | undefined;
  return {
    put: async (key, value) => {
      await client.put(key).value(value).exec();
    },
    get: async (key, serializable) => {
      await client.get(key).serializable(serializable).exec();
    },
    watchPrefix: async (prefix, onPut) => {
      const watcher = await client.watch().prefix(prefix).create();
      watcher.on('put', (kv: IKeyValue) => onPut(kv.value));
      return () => void watcher.cancel();
    },
    grant: async (ttl) => (await (await leaderClient()).leaseClient.leaseGrant({ TTL: ttl, ID: 0 })).ID,
    keepAlive: async (id) => {
      keepAliveStream ??= openKeepAliveStream();
      const stream = await keepAliveStream;
      await new Promise<void>((resolve, reject) => {
        waiting.push({ resolve, reject });
        stream.write({ ID: id });
      });
    },
    close: async () => {
      (await keepAliveStream?.catch(() => undefined))?.end();
      client.close();
      (await leader?.catch(() => undefined))?.close();
    },
  };
}

/** A value of `bytes` bytes that starts with the time it was made (for watch delivery latency). */
function stampedValue(bytes: number): Buffer {
  const value = Buffer.alloc(bytes, 0x61);
  value.write(`${performance.now().toFixed(3)};`, 0, 'latin1');
  return value;
}

function stampOf(value: Buffer): number {
  return Number(value.subarray(0, value.indexOf(0x3b)).toString('latin1'));
}

/**
 * `watchers` watchers on one prefix, then puts under it from `concurrency`
 * loops: every put reaches every watcher. Measures the puts, the events
 * delivered per second (until the last put's events arrived), and the
 * latency from a put's start to each watcher receiving it.
 */
async function watchFanOut(spec: LoadSpec, driver: Driver): Promise<LoadResult> {
  const prefix = 'bench/w/';
  const delivery: number[] = [];
  let received = 0;
  let recording = false;
  let sentinelSeen = 0;
  const stops: Array<() => void> = [];
  for (let i = 0; i < spec.watchers; i++) {
    stops.push(
      await driver.watchPrefix(prefix, (value) => {
        if (value.toString('latin1', 0, 8) === 'sentinel') {
          sentinelSeen++;
          return;
        }
        received++;
        if (recording) delivery.push(performance.now() - stampOf(value));
      }),
    );
  }
  try {
    // Every watcher is live once each has seen a put made after all were created.
    const openedBy = performance.now() + 20_000;
    while (sentinelSeen < spec.watchers) {
      if (performance.now() > openedBy)
        throw new Error(`only ${sentinelSeen}/${spec.watchers} watchers opened`);
      sentinelSeen = 0;
      await driver.put(`${prefix}sentinel`, Buffer.from('sentinel'));
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const put = (_worker: number, sequence: number): Promise<void> =>
      driver.put(`${prefix}${sequence % spec.keys}`, stampedValue(spec.valueBytes));
    await closedLoop(spec.concurrency, spec.warmupMs, put, undefined);
    const expectedBefore = received;
    recording = true;
    received = 0;
    const cpuBefore = process.cpuUsage();
    const start = performance.now();
    const puts = await closedLoop(spec.concurrency, spec.measureMs, put, undefined);
    const putSeconds = (performance.now() - start) / 1000;
    // Wait for the measured puts' events (events of warm-up puts still in flight are counted too, and few).
    const expected = puts.operations * spec.watchers;
    const drainBy = performance.now() + 30_000;
    while (received < expected && performance.now() < drainBy) await new Promise((r) => setTimeout(r, 5));
    const elapsedSeconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    if (received < expected) {
      throw new Error(`watchers received ${received} of ${expected} events (${expectedBefore} in warm-up)`);
    }
    const sorted = Float64Array.from(delivery).sort();
    return {
      operations: puts.operations,
      errors: puts.errors,
      opsPerSecond: puts.operations / putSeconds,
      p50Ms: Number.NaN,
      p99Ms: Number.NaN,
      cpuUsPerOp: (cpu.user + cpu.system) / Math.max(1, puts.operations),
      eventsPerSecond: received / elapsedSeconds,
      deliveryP50Ms: percentile(sorted, 0.5),
      deliveryP99Ms: percentile(sorted, 0.99),
      cpuUsPerEvent: (cpu.user + cpu.system) / Math.max(1, received),
    };
  } finally {
    for (const stop of stops) stop();
  }
}

const NO_LATENCY = { p50Ms: Number.NaN, p99Ms: Number.NaN, cpuUsPerOp: Number.NaN };

async function run(spec: LoadSpec): Promise<LoadResult> {
  const driver =
    spec.system === 'tessera' ? await tesseraDriver(spec.endpoints) : await etcd3Driver(spec.endpoints);
  try {
    const key = (sequence: number): string => `bench/${(sequence * 7919) % spec.keys}`;
    switch (spec.workload) {
      case 'fill': {
        // Every key once (so reads find values), `concurrency` in flight; timed but not a workload of its own.
        const value = Buffer.alloc(spec.valueBytes, 0x62);
        const start = performance.now();
        let next = 0;
        const loop = async (): Promise<void> => {
          while (next < spec.keys) await driver.put(`bench/${next++}`, value);
        };
        await Promise.all(Array.from({ length: spec.concurrency }, loop));
        const seconds = (performance.now() - start) / 1000;
        return { ...NO_LATENCY, operations: spec.keys, errors: 0, opsPerSecond: spec.keys / seconds };
      }
      case 'put': {
        const value = Buffer.alloc(spec.valueBytes, 0x61);
        return await measured(spec, (_worker, sequence) => driver.put(key(sequence), value));
      }
      case 'getLinearizable':
      case 'getSerializable': {
        const serializable = spec.workload === 'getSerializable';
        return await measured(spec, (_worker, sequence) => driver.get(key(sequence), serializable));
      }
      case 'watchFanOut':
        return await watchFanOut(spec, driver);
      case 'leaseKeepAlive': {
        const ids = await Promise.all(Array.from({ length: spec.concurrency }, () => driver.grant(60)));
        return await measured(spec, (worker) => driver.keepAlive(ids[worker] as string));
      }
    }
  } finally {
    await driver.close();
  }
}

await runLoadMain(run);
