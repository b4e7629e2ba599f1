/**
 * {@link EtcdLockService}: a client of etcd's own lock service
 * (`v3lockpb.Lock`, what `etcdctl lock` uses), for `npm run bench -- coord`.
 *
 * The service runs etcd's `concurrency.Mutex` inside the member, on a lease
 * the caller passes: one lease per client for any number of acquires, as a
 * Tessera `Session`, and a waiting queue rather than a try-lock. The `etcd3`
 * package has no stubs for it (its `Lock` grants a lease per acquire and
 * fails when the lock is held), hence this client.
 *
 * The messages are encoded by hand: each has one or two fields, and the
 * protobuf library that could do it is only a transitive dependency here
 * (of `etcd3`), not one of this package's.
 *
 * @module
 */
import * as grpc from '@grpc/grpc-js';

const WIRE_VARINT = 0;
const WIRE_LENGTH_DELIMITED = 2;

function varint(value: bigint): number[] {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80n) {
    bytes.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  bytes.push(Number(rest));
  return bytes;
}

function bytesField(field: number, value: Uint8Array): Buffer {
  return Buffer.concat([
    Buffer.from([(field << 3) | WIRE_LENGTH_DELIMITED, ...varint(BigInt(value.length))]),
    value,
  ]);
}

function varintField(field: number, value: bigint): Buffer {
  return Buffer.from([(field << 3) | WIRE_VARINT, ...varint(value)]);
}

/** Reads the varint at `offset`; returns it and the offset after it. */
function readVarint(message: Buffer, offset: number): { value: number; next: number } {
  let value = 0;
  let next = offset;
  for (let shift = 0; ; shift += 7) {
    const byte = message[next++];
    if (byte === undefined) throw new Error('Cannot decode etcd lock response: truncated varint');
    // Only tags and lengths are read as numbers; larger varints are skipped, their value unused.
    if (shift < 49) value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value, next };
  }
}

/** The bytes of length-delimited field `field` of a message, if present. */
function readBytesField(message: Buffer, field: number): Buffer | undefined {
  let offset = 0;
  while (offset < message.length) {
    const tag = readVarint(message, offset);
    const wire = tag.value & 7;
    if (wire === WIRE_VARINT) {
      offset = readVarint(message, tag.next).next;
    } else if (wire === WIRE_LENGTH_DELIMITED) {
      const length = readVarint(message, tag.next);
      const end = length.next + length.value;
      if (tag.value >>> 3 === field) return message.subarray(length.next, end);
      offset = end;
    } else {
      throw new Error(`Cannot decode etcd lock response: unexpected wire type ${wire}`);
    }
  }
  return undefined;
}

/** The lock service on one member (send it to the leader: a follower forwards every write). */
export class EtcdLockService {
  readonly #client: grpc.Client;

  /** @param endpoint the member's client address, `host:port`. */
  constructor(endpoint: string) {
    this.#client = new grpc.Client(endpoint, grpc.credentials.createInsecure());
  }

  /**
   * Waits for the lock `name` on `lease` (decimal id): resolves with the
   * holder's key (`name/<lease hex>`) once granted.
   */
  lock(name: string, lease: string): Promise<Buffer> {
    // LockRequest { bytes name = 1; int64 lease = 2; } -> LockResponse { ResponseHeader header = 1; bytes key = 2; }
    const request = Buffer.concat([bytesField(1, Buffer.from(name)), varintField(2, BigInt(lease))]);
    return this.#call('/v3lockpb.Lock/Lock', request).then((response) => {
      const key = readBytesField(response, 2);
      if (key === undefined) throw new Error(`Cannot lock ${name}: the response holds no key`);
      return key;
    });
  }

  /** Releases the lock held by `key` (deletes it). */
  async unlock(key: Buffer): Promise<void> {
    // UnlockRequest { bytes key = 1; } -> UnlockResponse { ResponseHeader header = 1; }
    await this.#call('/v3lockpb.Lock/Unlock', bytesField(1, key));
  }

  close(): void {
    this.#client.close();
  }

  #call(method: string, request: Buffer): Promise<Buffer> {
    const identity = (bytes: Buffer): Buffer => bytes;
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(method, identity, identity, request, (error, response) => {
        if (error !== null || response === undefined) reject(error ?? new Error(`${method}: no response`));
        else resolve(response);
      });
    });
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
