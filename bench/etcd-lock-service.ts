/**
 * {@link EtcdLockService}: a client of etcd's own lock service
 * (`v3lockpb.Lock`, what `etcdctl lock` uses), for `npm run bench -- coord`.
 *
 * The service runs etcd's `concurrency.Mutex` inside the member, on a lease
 * the caller passes: one lease per client for any number of acquires, as a
 * Tessera `Session`, and a waiting queue rather than a try-lock. The `etcd3`
 * package has no stubs for it (its `Lock` grants a lease per acquire and
 * fails when the lock is held), so this client is made from Tessera's own
 * copy of etcd's protocol definitions (`src/api/etcd/proto/`).
 *
 * @module
 */
import * as grpc from '@grpc/grpc-js';
import { etcdPackageDefinition } from '../src/api/etcd/proto.ts';

interface LockStub extends grpc.Client {
  Lock(
    request: { name: Buffer; lease: string },
    callback: (error: grpc.ServiceError | null, response?: { key: Buffer }) => void,
  ): void;
  Unlock(request: { key: Buffer }, callback: (error: grpc.ServiceError | null) => void): void;
}

/** The lock service on one member (send it to the leader: a follower forwards every write). */
export class EtcdLockService {
  readonly #client: LockStub;

  /** @param endpoint the member's client address, `host:port`. */
  constructor(endpoint: string) {
    const proto = grpc.loadPackageDefinition(etcdPackageDefinition()) as unknown as {
      v3lockpb: { Lock: new (address: string, credentials: grpc.ChannelCredentials) => LockStub };
    };
    this.#client = new proto.v3lockpb.Lock(endpoint, grpc.credentials.createInsecure());
  }

  /**
   * Waits for the lock `name` on `lease` (decimal id): resolves with the
   * holder's key (`name/<lease hex>`) once granted.
   */
  lock(name: string, lease: string): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.#client.Lock({ name: Buffer.from(name), lease }, (error, response) => {
        if (error !== null || response === undefined)
          reject(error ?? new Error(`Cannot lock ${name}: no response`));
        else resolve(response.key);
      });
    });
  }

  /** Releases the lock held by `key` (deletes it). */
  unlock(key: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#client.Unlock({ key }, (error) => (error === null ? resolve() : reject(error)));
    });
  }

  close(): void {
    this.#client.close();
  }
}

/** The client address of the etcd leader among `endpoints`, from each member's status. */
export async function etcdLeaderEndpoint(endpoints: readonly string[]): Promise<string> {
  for (const endpoint of endpoints) {
    const response = await fetch(`http://${endpoint}/v3/maintenance/status`, {
      method: 'POST',
      body: '{}',
      signal: AbortSignal.timeout(2_000),
    });
    const status = (await response.json()) as { header?: { member_id?: string }; leader?: string };
    if (status.leader !== undefined && status.header?.member_id === status.leader) return endpoint;
  }
  throw new Error(`Cannot find the etcd leader: none of ${endpoints.join(', ')} says it leads`);
}
