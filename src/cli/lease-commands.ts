/**
 * The `tessera lease` commands: `grant`, `revoke`, `keep-alive`,
 * `timetolive`, `list`. Lease ids are printed and read in hexadecimal, as
 * etcdctl does.
 *
 * @module
 */
import { connect } from '../client/index.ts';
import { LeaseService } from '../server/api.ts';
import { CLIENT_TIMEOUT_MS, withEndpoint } from '../server/endpoints.ts';

const callOptions = { timeoutMs: CLIENT_TIMEOUT_MS, waitForReady: true };
const decoder = new TextDecoder();

/** A lease id as etcdctl prints it: lowercase hexadecimal. */
export function formatLeaseId(id: number): string {
  return id.toString(16);
}

/**
 * Reads a lease id as etcdctl takes it: hexadecimal (an optional `0x`).
 *
 * @throws {RangeError} when it is not a positive hexadecimal number below 2^53.
 */
export function parseLeaseId(text: string): number {
  const digits = text.toLowerCase().replace(/^0x/, '');
  const id = /^[0-9a-f]{1,14}$/.test(digits) ? Number.parseInt(digits, 16) : Number.NaN;
  if (!Number.isSafeInteger(id) || id <= 0) {
    throw new RangeError(`Bad lease id ${JSON.stringify(text)}: expected a positive hexadecimal number`);
  }
  return id;
}

/** `tessera lease grant TTL [--id ID]`: the lease's id and granted TTL. */
export async function leaseGrantCommand(
  endpoints: string[],
  ttl: number,
  id = 0,
): Promise<{ id: number; ttl: number }> {
  const response = await withEndpoint(endpoints, (client) =>
    client.service(LeaseService).grant({ ttl, id }, callOptions),
  );
  return { id: response.id, ttl: response.ttl };
}

/** `tessera lease revoke ID`: how many keys went with it. */
export async function leaseRevokeCommand(endpoints: string[], id: number): Promise<{ deleted: number }> {
  const response = await withEndpoint(endpoints, (client) =>
    client.service(LeaseService).revoke({ id }, callOptions),
  );
  return { deleted: response.deleted };
}

/**
 * `tessera lease keep-alive ID`: renews the lease a third of its TTL apart
 * (the client SDK's `lease.keepAlive`) until `signal` aborts or the lease
 * is gone, calling `onRenewed` after each renewal.
 *
 * @throws the renewal's typed error (`LEASE_NOT_FOUND` once it expired or was revoked).
 */
export async function leaseKeepAliveCommand(
  endpoints: string[],
  id: number,
  signal: AbortSignal,
  onRenewed: (ttl: number) => void,
): Promise<void> {
  const client = await connect({ endpoints, signal });
  try {
    const keepAlive = client.lease.keepAlive(id, { signal });
    for await (const { ttl } of keepAlive) onRenewed(ttl);
    await keepAlive.done;
  } finally {
    client.close();
  }
}

/** `tessera lease timetolive ID [--keys]`: what the lease has left (`ttl` -1 when it does not exist). */
export async function leaseTimeToLiveCommand(
  endpoints: string[],
  id: number,
  keys: boolean,
): Promise<{ id: number; ttl: number; grantedTtl: number; keys: string[] }> {
  const response = await withEndpoint(endpoints, (client) =>
    client.service(LeaseService).timeToLive({ id, keys }, callOptions),
  );
  return {
    id: response.id,
    ttl: response.ttl,
    grantedTtl: response.grantedTtl,
    keys: response.keys.map((key) => decoder.decode(key)),
  };
}

/** `tessera lease list`: every lease id, ascending. */
export async function leaseListCommand(endpoints: string[]): Promise<number[]> {
  const response = await withEndpoint(endpoints, (client) =>
    client.service(LeaseService).leases(null, callOptions),
  );
  return response.leases;
}
