/**
 * `client.cluster`: members and their status, through a {@link Caller}.
 *
 * @module
 */
import { ClusterService, type MemberStatus, type NodeStatus } from '../server/api.ts';
import type { Caller } from './caller.ts';
import type { RequestOptions } from './request-options.ts';

/** Options of {@link ClusterClient.status}. */
export interface StatusOptions extends RequestOptions {
  /**
   * Ask this member (its client `host:port`), once, without failing over to
   * another. Default: the member the client talks to (the leader when known).
   */
  readonly endpoint?: string;
}

/**
 * The cluster's members and their views. Errors as `client.kv`'s reads
 * (these calls change nothing, so they are retried on other members).
 *
 * Created by `connect`; reach it as `client.cluster`.
 */
export class ClusterClient {
  readonly #caller: Caller;

  /** @internal Use `connect(...).cluster`. */
  constructor(caller: Caller) {
    this.#caller = caller;
  }

  /**
   * One member's view of itself and the cluster: its role, term, commit
   * and applied index, the store's revision, the members, its alarms.
   *
   * @throws {TypeError} when `options.endpoint` is not `host:port`.
   *
   * @example
   * ```ts
   * const status = await client.cluster.status();
   * console.log(status.name, status.role, 'leader:', status.leaderName);
   * const other = await client.cluster.status({ endpoint: '127.0.0.1:2479', timeoutMs: 1000 });
   * ```
   */
  status(options: StatusOptions = {}): Promise<NodeStatus> {
    return this.#caller.call(
      'read',
      'get the status',
      (rpc, callOptions) => rpc.service(ClusterService).status(null, callOptions),
      options,
      options.endpoint === undefined ? {} : { pinned: options.endpoint },
    );
  }

  /**
   * The members (voters and learners) with their addresses, as the cluster
   * has committed them (a linearizable read).
   *
   * @example
   * ```ts
   * for (const member of await client.cluster.members()) {
   *   console.log(member.name, member.role, member.client);
   * }
   * ```
   */
  members(options: RequestOptions = {}): Promise<MemberStatus[]> {
    return this.#caller.call(
      'read',
      'list the members',
      (rpc, callOptions) => rpc.service(ClusterService).memberList(null, callOptions),
      options,
    );
  }
}
