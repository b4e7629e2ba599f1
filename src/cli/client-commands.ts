/**
 * The client commands: `status`, `member list|add|remove|promote`, `put`,
 * `get`, `del`, `compact`. Each takes `--endpoints` (client addresses, comma-separated), asks
 * the first that answers, and follows a `NOT_LEADER` answer to the leader.
 *
 * @module
 */
import { prefixEnd } from '../kv/key-span.ts';
import type { KeyValue, RangeRequest } from '../kv/types.ts';
import { ClusterService, KvService, type MemberStatus, type NodeStatus } from '../server/api.ts';
import { CLIENT_TIMEOUT_MS, withEndpoint } from '../server/endpoints.ts';
import { memberIdOf } from '../server/member.ts';
import { RpcClient } from '../transport/rpc-client.ts';

export { CLIENT_TIMEOUT_MS };

/** Parses `--endpoints a:1,b:2`. */
export function parseEndpoints(text: string): string[] {
  const endpoints = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (endpoints.length === 0)
    throw new RangeError('Give at least one endpoint: --endpoints host:port[,host:port...]');
  return endpoints;
}

const callOptions = { timeoutMs: CLIENT_TIMEOUT_MS, waitForReady: true };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `tessera put KEY VALUE [--lease ID]` (UTF-8 key and value): the revision of the write. */
export async function putCommand(
  endpoints: string[],
  key: string,
  value: string,
  lease = 0,
): Promise<{ revision: number }> {
  const request = {
    key: encoder.encode(key),
    value: encoder.encode(value),
    ...(lease === 0 ? {} : { lease }),
  };
  const response = await withEndpoint(endpoints, (client) =>
    client.service(KvService).put(request, callOptions),
  );
  return { revision: response.revision };
}

/** One key as `tessera get` prints it (UTF-8 key and value). */
export interface KeyLine {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly lease: number;
}

/** `kv` as `tessera get --json` (and `tessera txn --json`) print it: key and value decoded as UTF-8. */
export function keyLine(kv: KeyValue): KeyLine {
  return {
    key: decoder.decode(kv.key),
    value: decoder.decode(kv.value),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  };
}

/** `tessera get KEY [--prefix] [--rev N] [--limit N]`: the keys, the revision read at, and whether more match. */
export async function rangeCommand(
  endpoints: string[],
  key: string,
  options: { prefix?: boolean; revision?: number; limit?: number; serializable?: boolean },
): Promise<{ kvs: KeyLine[]; revision: number; more: boolean; count: number }> {
  const keyBytes = encoder.encode(key);
  const request: RangeRequest = {
    key: keyBytes,
    ...(options.prefix === true ? { rangeEnd: prefixEnd(keyBytes) } : {}),
    ...(options.revision === undefined ? {} : { revision: options.revision }),
    ...(options.limit === undefined ? {} : { limit: options.limit }),
  };
  const response = await withEndpoint(endpoints, (client) =>
    client.service(KvService).range({ request, serializable: options.serializable === true }, callOptions),
  );
  return {
    kvs: response.kvs.map(keyLine),
    revision: response.revision,
    more: response.more,
    count: response.count,
  };
}

/** `tessera del KEY [--prefix]`: how many keys were deleted, at which revision. */
export async function deleteCommand(
  endpoints: string[],
  key: string,
  prefix: boolean,
): Promise<{ deleted: number; revision: number }> {
  const keyBytes = encoder.encode(key);
  const response = await withEndpoint(endpoints, (client) =>
    client
      .service(KvService)
      .deleteRange({ key: keyBytes, ...(prefix ? { rangeEnd: prefixEnd(keyBytes) } : {}) }, callOptions),
  );
  return { deleted: response.deleted, revision: response.revision };
}

/** `tessera compact REV`: reads below REV fail from now on. */
export async function compactCommand(endpoints: string[], revision: number): Promise<{ revision: number }> {
  return withEndpoint(endpoints, (client) => client.service(KvService).compact({ revision }, callOptions));
}

/** `tessera get KEY` (UTF-8): the value (null when absent) and the revision read at. */
export async function getCommand(
  endpoints: string[],
  key: string,
  serializable: boolean,
): Promise<{ value: string | null; revision: number }> {
  const response = await withEndpoint(endpoints, (client) =>
    client.service(KvService).range({ request: { key: encoder.encode(key) }, serializable }, callOptions),
  );
  const found = response.kvs[0];
  return { value: found === undefined ? null : decoder.decode(found.value), revision: response.revision };
}

/** One member's line in `tessera status`. */
export interface StatusEntry {
  readonly endpoint: string;
  readonly name?: string;
  readonly id?: number;
  readonly role?: string;
  readonly term?: number;
  readonly commit?: number;
  readonly applied?: number;
  readonly pid?: number;
  readonly alarms?: string[];
  readonly error?: string;
}

/** `tessera status`: each endpoint's own view, and the leader they agree on. */
export async function statusCommand(
  endpoints: string[],
): Promise<{ leader: { name: string | null; id: number } | null; members: StatusEntry[] }> {
  const members = await Promise.all(
    endpoints.map(async (endpoint): Promise<StatusEntry & { status?: NodeStatus }> => {
      const client = new RpcClient({ address: endpoint });
      try {
        const status = await client.service(ClusterService).status(null, { timeoutMs: 3000 });
        const { name, id, role, term, commit, applied, pid, alarms } = status;
        return { endpoint, name, id, role, term, commit, applied, pid, alarms, status };
      } catch (error) {
        return { endpoint, error: (error as Error).message };
      } finally {
        client.close();
      }
    }),
  );
  const leaderStatus = members
    .map((m) => m.status)
    .filter((s): s is NodeStatus => s !== undefined && s.leaderId !== 0)
    .sort((a, b) => b.term - a.term)[0];
  return {
    leader: leaderStatus === undefined ? null : { name: leaderStatus.leaderName, id: leaderStatus.leaderId },
    members: members.map(({ status: _status, ...entry }) => entry),
  };
}

/** `tessera member list`. */
export function memberListCommand(endpoints: string[]): Promise<MemberStatus[]> {
  return withEndpoint(endpoints, (client) => client.service(ClusterService).memberList(null, callOptions));
}

/** `tessera member add NAME --peer A --client A --http A [--voter]`. */
export function memberAddCommand(
  endpoints: string[],
  member: { name: string; peer: string; client: string; http: string; voter: boolean },
): Promise<MemberStatus> {
  return withEndpoint(endpoints, (client) => client.service(ClusterService).memberAdd(member, callOptions));
}

/** `tessera member remove|promote NAME_OR_ID`. */
export async function memberChangeCommand(
  endpoints: string[],
  action: 'remove' | 'promote',
  nameOrId: string,
): Promise<void> {
  const id = /^\d+$/.test(nameOrId) ? Number(nameOrId) : memberIdOf(nameOrId);
  await withEndpoint(endpoints, (client) => {
    const cluster = client.service(ClusterService);
    return action === 'remove'
      ? cluster.memberRemove({ id }, callOptions)
      : cluster.memberPromote({ id }, callOptions);
  });
}

/** `tessera move-leader MEMBER`: hands leadership to a voter, by name or id. */
export async function moveLeaderCommand(endpoints: string[], nameOrId: string): Promise<void> {
  const id = /^\d+$/.test(nameOrId) ? Number(nameOrId) : memberIdOf(nameOrId);
  await withEndpoint(endpoints, (client) =>
    client.service(ClusterService).transferLeadership({ id }, callOptions),
  );
}
