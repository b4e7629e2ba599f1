/**
 * Test harness for the coordination recipes (`src/coord`): a running
 * cluster of member processes, a client connected to it, and the sessions
 * a test opens, all closed together when the suite ends.
 *
 * @example
 * ```ts
 * let coord: CoordCluster;
 * describe('Mutex on a cluster', () => {
 *   before(async () => {
 *     coord = await CoordCluster.start();
 *   });
 *   after(() => coord?.close());
 *   it('locks', async () => {
 *     await new Mutex(await coord.session(), 'm1').lock();
 *     assert.equal((await coord.keysUnder('m1/')).length, 1);
 *   });
 * });
 * ```
 */
import { RecordingLogger } from '../../src/base/logger.ts';
import { type Client, connect, text } from '../../src/client/index.ts';
import { Session } from '../../src/coord/session.ts';
import { TestCluster } from './cluster.ts';

/**
 * TTL of the sessions tests open unless they ask for another: short, so a
 * lease a test forgets ends soon, and long enough for a renewal to land on a
 * loaded machine.
 */
export const TEST_SESSION_TTL_SECONDS = 5;

/** How long a test client waits for one call before it fails. */
const TEST_CLIENT_TIMEOUT_MS = 10_000;

/** A running cluster with a connected client, and the sessions opened on it. */
export class CoordCluster {
  /** The member processes. */
  readonly cluster: TestCluster;
  /** The client that {@link session} and {@link keysUnder} go through. */
  readonly client: Client;
  /** Every client connected by this harness, {@link client} first; closed by {@link close}. */
  readonly #clients: Client[];
  /** Every session opened by {@link session}; closed by {@link close}. */
  readonly #sessions: Session[] = [];

  private constructor(cluster: TestCluster, client: Client) {
    this.cluster = cluster;
    this.client = client;
    this.#clients = [client];
  }

  /**
   * Starts `size` members (default one), waits for a leader and connects a
   * client. Whatever started is torn down again when a step fails.
   */
  static async start(options: { size?: number } = {}): Promise<CoordCluster> {
    const cluster = await TestCluster.create(options.size ?? 1);
    try {
      await cluster.startAll();
      await cluster.leader();
      return new CoordCluster(cluster, await connectTo(cluster));
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
  }

  /** Connects one more client (for tests of two clients racing); {@link close} closes it. */
  async connect(): Promise<Client> {
    const client = await connectTo(this.cluster);
    this.#clients.push(client);
    return client;
  }

  /** Opens a session over {@link client}; {@link close} closes it, unless the test did first. */
  async session(ttl = TEST_SESSION_TTL_SECONDS): Promise<Session> {
    const created = await Session.create(this.client, { ttl });
    this.#sessions.push(created);
    return created;
  }

  /** The keys stored under `prefix`, as text, in key order. */
  async keysUnder(prefix: string): Promise<string[]> {
    const { kvs } = await this.client.kv.range({ prefix });
    return kvs.map((kv) => text(kv.key));
  }

  /**
   * Closes the sessions (revoking their leases), then the clients, then
   * kills the members and removes their data, even when a step before fails.
   */
  async close(): Promise<void> {
    try {
      for (const session of this.#sessions) await session.close();
    } finally {
      for (const client of this.#clients) client.close();
      await this.cluster.destroy();
    }
  }
}

function connectTo(cluster: TestCluster): Promise<Client> {
  return connect({
    endpoints: cluster.endpoints,
    timeoutMs: TEST_CLIENT_TIMEOUT_MS,
    logger: new RecordingLogger(),
  });
}

/**
 * Resolves with how a promise settled, or `'pending'` when `ms` passes
 * first (without waiting longer). Handles the promise's rejection, so a
 * promise that is still pending may reject later without going unhandled
 * until the test awaits it.
 *
 * @example
 * ```ts
 * assert.equal(await settledWithin(mutex.lock(), 300), 'pending');
 * ```
 */
export async function settledWithin(
  promise: Promise<unknown>,
  ms: number,
): Promise<'pending' | 'resolved' | 'rejected'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  const outcome = promise.then(
    () => 'resolved' as const,
    () => 'rejected' as const,
  );
  const result = await Promise.race([outcome, timeout]);
  clearTimeout(timer);
  return result;
}
