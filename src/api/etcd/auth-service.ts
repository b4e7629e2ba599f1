/**
 * `etcdserverpb.Auth`, answered as an etcd member whose authentication is
 * off answers it: Tessera has no users, roles or tokens yet (the security
 * work will add them), so its etcd front door takes every call without
 * credentials, which is exactly etcd with auth disabled.
 *
 * - AuthStatus: `enabled: false`, `authRevision: 0`.
 * - AuthDisable: succeeds and changes nothing (auth is already off; etcd
 *   answers the same).
 * - Every other method (Authenticate, AuthEnable, the user and role
 *   calls): `FAILED_PRECONDITION` "etcdserver: authentication is not
 *   enabled". etcd itself answers that for Authenticate; it would keep
 *   users and roles while auth is off, which Tessera has nowhere to keep,
 *   so those are refused the same way rather than pretend to store them.
 *
 * @module
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { InvalidArgumentError } from '../../base/errors.ts';
import type { Logger } from '../../base/logger.ts';
import { unaryCall } from './calls.ts';
import type { HeaderMaker } from './header.ts';

/** The Auth methods answered "authentication is not enabled" (all but AuthStatus and AuthDisable). */
export const AUTH_REFUSED_METHODS: readonly string[] = [
  'AuthEnable',
  'Authenticate',
  'UserAdd',
  'UserGet',
  'UserList',
  'UserDelete',
  'UserChangePassword',
  'UserGrantRole',
  'UserRevokeRole',
  'RoleAdd',
  'RoleGet',
  'RoleList',
  'RoleDelete',
  'RoleGrantPermission',
  'RoleRevokePermission',
];

/**
 * The `etcdserverpb.Auth` implementation, for
 * `Server.addService(etcdService('etcdserverpb.Auth'), …)`.
 *
 * @example
 * ```ts
 * server.addService(etcdService('etcdserverpb.Auth'), authService(responseHeaders(node), logger));
 * // etcdctl auth enable → Error: etcdserver: authentication is not enabled
 * ```
 */
export function authService(header: HeaderMaker, logger: Logger): UntypedServiceImplementation {
  const method = (name: string) => `/etcdserverpb.Auth/${name}`;
  const implementation: UntypedServiceImplementation = {
    AuthStatus: unaryCall(method('AuthStatus'), logger, async () => ({
      header: header(),
      enabled: false,
      authRevision: 0,
    })),
    AuthDisable: unaryCall(method('AuthDisable'), logger, async () => ({ header: header() })),
  };
  for (const name of AUTH_REFUSED_METHODS) {
    implementation[name] = unaryCall(method(name), logger, async () => {
      throw new InvalidArgumentError(
        `Cannot ${name}: Tessera has no authentication yet; every call is taken without credentials`,
        { details: { reason: 'AUTH_NOT_ENABLED' } },
      );
    });
  }
  return implementation;
}
