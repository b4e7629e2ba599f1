/**
 * The etcd v3 front door: a gRPC server (`@grpc/grpc-js`) speaking etcd's
 * wire protocol (`proto/`), so that `etcdctl` and etcd's client libraries
 * work against a Tessera member unchanged. One file per etcd service, each
 * a thin adapter onto the handlers every front door shares
 * (`clientHandlers` in `server/serve.ts`); this file binds them.
 *
 * Served: `etcdserverpb.KV`, `Lease`, `Watch`, `Cluster`, `Maintenance`,
 * `Auth` (off: "authentication is not enabled"), and, given the coord
 * handlers, `v3lockpb.Lock` and `v3electionpb.Election`.
 *
 * @module
 */
import { Server, ServerCredentials, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from '../../base/logger.ts';
import { COMMAND_BYTES_MAX } from '../../kv/kv-command.ts';
import type { CoordHandlers } from '../../server/coord-api.ts';
import type { TesseraNode } from '../../server/node.ts';
import type { ClientHandlers } from '../../server/serve.ts';
import { authService } from './auth-service.ts';
import { withBufferedStreamWrites } from './calls.ts';
import { clusterService } from './cluster-service.ts';
import { electionService } from './election-service.ts';
import { responseHeaders } from './header.ts';
import { kvService } from './kv-service.ts';
import { leaseService } from './lease-service.ts';
import { lockService } from './lock-service.ts';
import { maintenanceService } from './maintenance-service.ts';
import { type EtcdServiceName, etcdService } from './proto.ts';
import { watchService } from './watch-service.ts';
import { encodingWatchEventsOnce } from './watch-wire.ts';

/**
 * Largest request message: the largest KV command the log takes
 * (`COMMAND_BYTES_MAX`: 1.5 MiB of keys and values plus 512 KiB), as etcd
 * takes `--max-request-bytes` plus 512 KiB of gRPC overhead. A larger
 * message is refused by gRPC (`RESOURCE_EXHAUSTED`) before it is decoded.
 */
export const ETCD_REQUEST_MESSAGE_BYTES_MAX = COMMAND_BYTES_MAX;

/** How long {@link EtcdServer.close} lets calls in flight finish before cutting them off. */
export const ETCD_CLOSE_GRACE_MS = 1000;

/** Options of {@link startEtcdServer}. */
export interface EtcdServerOptions {
  /** `host:port` to listen on; port 0 picks a free one. */
  readonly address: string;
  /** Where failed calls that are not the caller's fault are logged. */
  readonly logger: Logger;
  /** The lock and election handlers: without them, Lock and Election answer `UNIMPLEMENTED`. */
  readonly coord?: CoordHandlers;
}

/** A running etcd front door. */
export interface EtcdServer {
  /** The bound `host:port` (the real port when 0 was asked for). */
  readonly address: string;
  /** Stops taking calls, lets those in flight finish for {@link ETCD_CLOSE_GRACE_MS}, then ends the rest. */
  close(): Promise<void>;
}

/**
 * Serves etcd's v3 gRPC API for `node` on `options.address`, over
 * `handlers` (the ones the native RPC and HTTP front doors serve).
 *
 * @throws {Error} when the address cannot be bound.
 * @example
 * ```ts
 * const etcd = await startEtcdServer(node, clientHandlers(node), { address: '127.0.0.1:2382', logger });
 * // ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:2382 put greeting hello
 * await etcd.close();
 * ```
 */
export async function startEtcdServer(
  node: TesseraNode,
  handlers: ClientHandlers,
  options: EtcdServerOptions,
): Promise<EtcdServer> {
  const server = new Server({
    'grpc.max_receive_message_length': ETCD_REQUEST_MESSAGE_BYTES_MAX,
    // channelz (gRPC's call statistics service) is not served here, and grpc-js keeps its counts on
    // every call: a tracker of five closures per call and a clock read per message. Off (as etcd's
    // grpc-go has it unless the service is registered): a member's CPU per serializable get from 256
    // etcd3 clients went from 57.5-63.5 us to 51.6-54.9 (two A/B pairs, three rounds each).
    'grpc.enable_channelz': 0,
  });
  const serve = (name: EtcdServiceName, implementation: UntypedServiceImplementation): void => {
    const definition =
      name === 'etcdserverpb.Watch' ? encodingWatchEventsOnce(etcdService(name)) : etcdService(name);
    server.addService(definition, withBufferedStreamWrites(definition, implementation));
  };
  const header = responseHeaders(node);
  const { logger } = options;
  serve('etcdserverpb.KV', kvService(handlers, header, logger));
  serve('etcdserverpb.Lease', leaseService(handlers, header, logger));
  serve('etcdserverpb.Watch', watchService(handlers, header, logger));
  let address = options.address;
  serve(
    'etcdserverpb.Cluster',
    clusterService(node, handlers, { header, logger, etcdAddress: () => address }),
  );
  serve('etcdserverpb.Maintenance', maintenanceService(node, handlers, { header, logger }));
  serve('etcdserverpb.Auth', authService(header, logger));
  if (options.coord !== undefined) {
    serve('v3lockpb.Lock', lockService(options.coord, header, logger));
    serve('v3electionpb.Election', electionService(options.coord, header, logger));
  }
  const host = options.address.slice(0, options.address.lastIndexOf(':'));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.address, ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    );
  });
  address = `${host}:${port}`;
  return {
    address,
    close: () => closeGracefully(server),
  };
}

/** `tryShutdown`, and `forceShutdown` once the grace period is over (open keep-alive streams never end by themselves). */
function closeGracefully(server: Server): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, ETCD_CLOSE_GRACE_MS);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
