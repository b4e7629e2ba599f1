/**
 * `v3lockpb.Lock` (Lock, Unlock) over the shared `lock` handlers of the
 * coordination front door (`server/coord-api.ts`): the member runs
 * Tessera's mutex recipe over the caller's lease, as etcd's v3lock service
 * runs its `concurrency.Mutex`. The key a Lock answers with is the
 * holder's key (`NAME/<lease hex>`, etcd's layout), to pass to Unlock; it
 * goes when the caller's lease does.
 *
 * One difference: etcd's Lock with lease 0 makes a lease of its own that
 * nobody keeps alive (the lock then ends after its TTL); Tessera refuses a
 * lease of 0 with `INVALID_ARGUMENT`, since such a lock could not be kept.
 *
 * @module
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from '../../base/logger.ts';
import { validated } from '../../server/api.ts';
import { type CoordHandlers, LockService } from '../../server/coord-api.ts';
import { unaryCall } from './calls.ts';
import type { HeaderMaker } from './header.ts';
import { headerAtLeast } from './header-at-least.ts';
import { type Bytes, type Int64, int64Field } from './proto.ts';

/** `v3lockpb.LockRequest` as decoded. */
interface WireLockRequest {
  readonly name: Bytes;
  readonly lease: Int64;
}

/** `v3lockpb.UnlockRequest` as decoded. */
interface WireUnlockRequest {
  readonly key: Bytes;
}

/**
 * The `v3lockpb.Lock` implementation over `coord.lock`, for
 * `Server.addService(etcdService('v3lockpb.Lock'), …)`.
 *
 * @example
 * ```ts
 * server.addService(etcdService('v3lockpb.Lock'), lockService(coord, responseHeaders(node), logger));
 * ```
 */
export function lockService(
  coord: CoordHandlers,
  header: HeaderMaker,
  logger: Logger,
): UntypedServiceImplementation {
  const { methods } = LockService;
  const method = (name: string) => `/v3lockpb.Lock/${name}`;
  return {
    Lock: unaryCall(method('Lock'), logger, async (request: WireLockRequest, context) => {
      const call = validated(methods.lock, method('Lock'), {
        name: request.name,
        lease: int64Field(request.lease, 'lease'),
      });
      const { key, token } = await coord.lock.lock(call, context);
      // The token is the key's create revision.
      return { header: headerAtLeast(header, token), key };
    }),
    Unlock: unaryCall(method('Unlock'), logger, async (request: WireUnlockRequest, context) => {
      const call = validated(methods.unlock, method('Unlock'), { key: request.key });
      const { revision } = await coord.lock.unlock(call, context);
      return { header: header(revision) };
    }),
  };
}
