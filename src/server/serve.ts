/**
 * A member's listeners: the peer port (Raft messages and forwarded
 * proposals), the client port (`kv`, `lease`, `watch` and `cluster`
 * services), the HTTP port (the HTTP/JSON API of `http-api.ts`, with
 * `/healthz`, `/v1/status` and `/metrics`) and, when configured, the etcd
 * port (etcd's v3 gRPC API, `src/api/etcd/`), all bound where the
 * configuration says (127.0.0.1 by default). Every client front door
 * serves the same handlers ({@link clientHandlers}).
 *
 * @module
 */

import Fastify from 'fastify';
import { type EtcdServer, startEtcdServer } from '../api/etcd/server.ts';
import { LimitExceededError, NotLeaderError, UnavailableError } from '../base/errors.ts';
import type { Logger } from '../base/logger.ts';
import { type Client, connect } from '../client/client.ts';
import type { KvCommand } from '../kv/kv-command.ts';
import type { RangeRequest, RangeResponse } from '../kv/types.ts';
import { ConfChangeType } from '../raft/conf-change.ts';
import type { NodeId } from '../raft/types.ts';
import { RpcServer } from '../transport/rpc-server.ts';
import type { ServiceHandlers } from '../transport/service.ts';
import {
  ClusterService,
  KvService,
  LeaseService,
  PeerService,
  WATCHES_PER_CONNECTION_MAX,
  WatchService,
} from './api.ts';
import { coordHandlers, ElectionService, LockService } from './coord-api.ts';
import { CLIENT_TIMEOUT_MS, withEndpoint } from './endpoints.ts';
import { registerHttpApi } from './http-api.ts';
import { TesseraNode } from './node.ts';

/** Where a member listens. */
export interface ListenAddresses {
  readonly peer: string;
  readonly client: string;
  readonly http: string;
  /** etcd's v3 gRPC API; none when absent. */
  readonly etcd?: string;
}

/** The running listeners of a member. */
export interface Listeners {
  /** The bound addresses (real ports when 0 was asked for). */
  readonly addresses: ListenAddresses;
  close(): Promise<void>;
}

/** Binds the peer port (with mutual TLS when `tls` is given: peers must present a certificate the CA signed). */
export async function listenPeer(
  address: string,
  logger: Logger,
  tls?: { cert: Buffer; key: Buffer; ca: Buffer },
): Promise<{ server: RpcServer; address: string }> {
  const server = new RpcServer({
    logger,
    ...(tls === undefined ? {} : { tls: { ...tls, requestCert: true, rejectUnauthorized: true } }),
  });
  return { server, address: await server.listen(address) };
}

/** Serves `node` on its ports. `peerServer` is already listening (see {@link listenPeer}). */
export async function serveNode(
  node: TesseraNode,
  peerServer: RpcServer,
  peerAddress: string,
  listen: Omit<ListenAddresses, 'peer'>,
  logger: Logger,
): Promise<Listeners> {
  peerServer.register(PeerService, {
    send: ({ from, address, messages }) => {
      node.stepMessages(from, address, messages);
      return null;
    },
    attach: ({ from, address }, context) => node.acceptPeer(from, address, context.signal),
    propose: ({ data }) => node.answerForwarded(data),
    proposeResults: ({ from, results }) => {
      for (const result of results) node.forwardedResult(from, result);
      return null;
    },
  });

  const handlers = clientHandlers(node);
  const client = new RpcServer({ logger });
  client.register(KvService, handlers.kv);
  client.register(LeaseService, handlers.lease);
  client.register(WatchService, handlers.watch);
  client.register(ClusterService, handlers.cluster);
  const clientAddress = await client.listen(listen.client);
  // Locks and elections run the coord recipes through a client of this member's own, made at first use.
  let coordClient: Promise<Client> | undefined;
  const ownClient = (): Promise<Client> => {
    coordClient ??= connect({ endpoints: [clientAddress], logger }).catch((error: unknown) => {
      coordClient = undefined;
      throw error;
    });
    return coordClient;
  };
  const coord = coordHandlers(ownClient);
  client.register(LockService, coord.lock);
  client.register(ElectionService, coord.election);

  const http = Fastify({ logger: false, forceCloseConnections: 'idle' }); // a graceful stop: idle keep-alive sockets go, requests in flight finish
  registerHttpApi(http, node, { handlers, logger, coord });
  const [httpHost, httpPort] = splitHostPort(listen.http);
  await http.listen({ host: httpHost, port: httpPort });
  const bound = http.server.address();
  const httpAddress = typeof bound === 'object' && bound !== null ? `${httpHost}:${bound.port}` : listen.http;
  const etcd: EtcdServer | undefined =
    listen.etcd === undefined
      ? undefined
      : await startEtcdServer(node, handlers, { address: listen.etcd, logger, coord });

  return {
    addresses: {
      peer: peerAddress,
      client: clientAddress,
      http: httpAddress,
      ...(etcd === undefined ? {} : { etcd: etcd.address }),
    },
    async close() {
      await etcd?.close();
      await http.close();
      (await coordClient?.catch(() => undefined))?.close();
      await client.close({ graceMs: 1000 });
      await peerServer.close({ graceMs: 200 });
    },
  };
}

/** Options of {@link clientHandlers}. */
export interface ClientHandlersOptions {
  /**
   * Most watch streams one client may hold open at once, default
   * {@link WATCHES_PER_CONNECTION_MAX}. The native RPC counts per
   * connection (`ip:port`); the HTTP API per client IP address, since each
   * HTTP watch holds a connection of its own.
   */
  readonly watchesPerConnectionMax?: number;
}

/** The handlers of the services clients call, shared by every front door (native RPC, HTTP/JSON, etcd gRPC). */
export interface ClientHandlers {
  readonly kv: ServiceHandlers<typeof KvService>;
  readonly lease: ServiceHandlers<typeof LeaseService>;
  readonly watch: ServiceHandlers<typeof WatchService>;
  readonly cluster: ServiceHandlers<typeof ClusterService>;
}

/**
 * The `kv`, `lease`, `watch` and `cluster` handlers over `node`, for a front
 * door to serve once its requests are decoded and validated (each method's
 * `validate` in `api.ts`). Lease and membership calls that only the leader
 * can answer rewrite `NOT_LEADER` to carry the leader's client and HTTP
 * addresses; a linearizable range on a member with alarms is asked of the
 * other members; watches are counted per `context.remoteAddress`.
 *
 * @throws {RangeError} when `watchesPerConnectionMax` is not a positive integer.
 * @example
 * ```ts
 * const handlers = clientHandlers(node);
 * rpcServer.register(KvService, handlers.kv);
 * registerHttpApi(fastify, node, { handlers });
 * ```
 */
export function clientHandlers(node: TesseraNode, options: ClientHandlersOptions = {}): ClientHandlers {
  const watchesMax = options.watchesPerConnectionMax ?? WATCHES_PER_CONNECTION_MAX;
  if (!Number.isSafeInteger(watchesMax) || watchesMax < 1) {
    throw new RangeError(`watchesPerConnectionMax must be a positive integer, got ${watchesMax}`);
  }
  const leaderOnly = <T>(action: () => Promise<T>): Promise<T> =>
    action().catch((error: unknown) => {
      if (error instanceof NotLeaderError) {
        const leader = node.status().members.find((member) => member.id === error.leaderHint);
        throw new NotLeaderError(error.message, {
          details: {
            leaderHint: error.leaderHint,
            leaderClient: leader?.client ?? '',
            leaderHttp: leader?.http ?? '',
          },
        });
      }
      throw error;
    });
  const write = async <T>(command: KvCommand): Promise<T> => (await node.write(command)).response as T;
  const kv: ServiceHandlers<typeof KvService> = {
    range: async ({ request, serializable, forwarded }) => {
      if (serializable !== true && forwarded !== true && node.alarms.size > 0)
        return forwardRange(node, request);
      return (await node.range(request, serializable === true)).response;
    },
    put: (request) => write({ type: 'put', request }),
    deleteRange: (request) => write({ type: 'deleteRange', request }),
    txn: (request) => write({ type: 'txn', request }),
    compact: (request) => write({ type: 'compact', request }),
  };
  const lease: ServiceHandlers<typeof LeaseService> = {
    grant: ({ ttl, id }) => leaderOnly(() => node.leaseGrant(ttl, id)),
    revoke: ({ id }) => leaderOnly(() => node.leaseRevoke(id)),
    keepAlive: ({ id }) => leaderOnly(() => node.leaseKeepAlive(id)),
    timeToLive: ({ id, keys }) => leaderOnly(() => node.leaseTimeToLive(id, keys === true)),
    leases: async () => ({ leases: await node.leaseList() }),
  };
  const watchesByConnection = new Map<string, number>();
  const watch: ServiceHandlers<typeof WatchService> = {
    watch: async function* ({ progressNotify, ...request }, context) {
      const open = watchesByConnection.get(context.remoteAddress) ?? 0;
      if (open >= watchesMax) {
        throw new LimitExceededError(
          `Cannot watch: ${context.remoteAddress} holds ${open} watches, the most allowed (WATCHES_PER_CONNECTION_MAX)`,
          { details: { limit: watchesMax } },
        );
      }
      watchesByConnection.set(context.remoteAddress, open + 1);
      try {
        yield* node.watch(request, progressNotify === true, context.signal);
      } finally {
        const left = (watchesByConnection.get(context.remoteAddress) ?? 1) - 1;
        if (left === 0) watchesByConnection.delete(context.remoteAddress);
        else watchesByConnection.set(context.remoteAddress, left);
      }
    },
  };
  const memberStatus = (id: NodeId) => {
    const member = node.status().members.find((m) => m.id === id);
    if (member === undefined) throw new RangeError(`Member ${id} is not in the cluster`);
    return member;
  };
  const cluster: ServiceHandlers<typeof ClusterService> = {
    status: () => node.status(),
    memberList: async () => {
      await node.linearizableBarrier('member list');
      return node.status().members;
    },
    memberAdd: (request) =>
      leaderOnly(async () => {
        const change = TesseraNode.addChange(request, request.voter === true);
        await node.changeMembership(change);
        return memberStatus(change.nodeId);
      }),
    memberRemove: ({ id }) =>
      leaderOnly(async () => {
        await node.changeMembership({ type: ConfChangeType.remove, nodeId: id, context: new Uint8Array() });
        return null;
      }),
    memberPromote: ({ id }) =>
      leaderOnly(async () => {
        await node.promoteLearner(id);
        return null;
      }),
    transferLeadership: ({ id }) =>
      leaderOnly(async () => {
        node.transferLeadership(id);
        return null;
      }),
  };
  return { kv, lease, watch, cluster };
}

/** Splits `host:port`. */
export function splitHostPort(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  const port = Number(address.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Bad address ${JSON.stringify(address)}: expected host:port with a port in 0-65535`);
  }
  return [address.slice(0, at), port];
}

const FORWARD_CALL_OPTIONS = { timeoutMs: CLIENT_TIMEOUT_MS, waitForReady: true };

/**
 * A linearizable read on a member whose disk failed (an alarm stopped its
 * Raft loop, so it cannot run a ReadIndex round): asked of the other
 * members in turn, each of which confirms it with the cluster. Marked
 * forwarded, so it is not passed on again.
 */
async function forwardRange(node: TesseraNode, request: RangeRequest): Promise<RangeResponse> {
  const others = node
    .status()
    .members.filter((member) => member.id !== node.id && member.client !== '')
    .map((member) => member.client);
  if (others.length === 0) {
    throw new UnavailableError(
      `Cannot read: member ${node.info.name} has alarms ${[...node.alarms].join(', ')} and no other member to ask`,
    );
  }
  return withEndpoint(others, (client) =>
    client.service(KvService).range({ request, serializable: false, forwarded: true }, FORWARD_CALL_OPTIONS),
  );
}
