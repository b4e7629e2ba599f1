/**
 * `v3electionpb.Election` (Campaign, Proclaim, Leader, Observe, Resign)
 * over the shared `election` handlers of the coordination front door
 * (`server/coord-api.ts`): the member runs Tessera's election recipe over
 * the caller's lease, as etcd's v3election service runs its
 * `concurrency.Election`. Keys follow etcd's layout (`NAME/<lease hex>`),
 * so etcd's client-side recipes and these calls see the same candidates.
 *
 * Errors are etcd's: a Proclaim or Resign by a key that no longer leads is
 * "election: not leader", a Leader of an election nobody leads is
 * "election: no leader" (both `UNKNOWN`, as etcd passes its recipe's
 * errors on). Like Lock, a Campaign with lease 0 is refused
 * (`INVALID_ARGUMENT`) where etcd would make a lease nobody keeps alive.
 *
 * @module
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from '../../base/logger.ts';
import type { Leadership } from '../../coord/election.ts';
import { validated } from '../../server/api.ts';
import { type CoordHandlers, ElectionService } from '../../server/coord-api.ts';
import { unaryCall } from './calls.ts';
import type { HeaderMaker } from './header.ts';
import { headerAtLeast } from './header-at-least.ts';
import { wireKeyValueOf } from './kv-service.ts';
import { type Bytes, type Int64, int64Field } from './proto.ts';
import { serverStreamCall } from './server-stream.ts';

/** `v3electionpb.LeaderKey` as decoded (or as sent). */
interface WireLeaderKey {
  readonly name: Bytes;
  readonly key: Bytes;
  readonly rev: Int64;
  readonly lease: Int64;
}

/** `v3electionpb.CampaignRequest` as decoded. */
interface WireCampaignRequest {
  readonly name: Bytes;
  readonly lease: Int64;
  readonly value: Bytes;
}

/** `v3electionpb.ProclaimRequest` as decoded; `leader` is null when the client left it out. */
interface WireProclaimRequest {
  readonly leader: WireLeaderKey | null;
  readonly value: Bytes;
}

/** `v3electionpb.ResignRequest` as decoded. */
interface WireResignRequest {
  readonly leader: WireLeaderKey | null;
}

/** `v3electionpb.LeaderRequest` as decoded (Leader and Observe). */
interface WireLeaderRequest {
  readonly name: Bytes;
}

/** A decoded LeaderKey as the recipes' {@link Leadership} (checked by the handler's validator). */
function leadershipOf(wire: WireLeaderKey | null): unknown {
  if (wire === null) return undefined;
  return {
    name: wire.name,
    key: wire.key,
    revision: int64Field(wire.rev, 'leader.rev'),
    lease: int64Field(wire.lease, 'leader.lease'),
  };
}

/** A {@link Leadership} as `v3electionpb.LeaderKey`. */
function wireLeaderKeyOf(leadership: Leadership): WireLeaderKey {
  return {
    name: leadership.name,
    key: leadership.key,
    rev: leadership.revision,
    lease: leadership.lease,
  };
}

/**
 * The `v3electionpb.Election` implementation over `coord.election`, for
 * `Server.addService(etcdService('v3electionpb.Election'), …)`.
 *
 * @example
 * ```ts
 * server.addService(etcdService('v3electionpb.Election'), electionService(coord, responseHeaders(node), logger));
 * ```
 */
export function electionService(
  coord: CoordHandlers,
  header: HeaderMaker,
  logger: Logger,
): UntypedServiceImplementation {
  const { election } = coord;
  const { methods } = ElectionService;
  const method = (name: string) => `/v3electionpb.Election/${name}`;
  return {
    Campaign: unaryCall(method('Campaign'), logger, async (request: WireCampaignRequest, context) => {
      const call = validated(methods.campaign, method('Campaign'), {
        name: request.name,
        lease: int64Field(request.lease, 'lease'),
        value: request.value,
      });
      const leadership = await election.campaign(call, context);
      return { header: headerAtLeast(header, leadership.revision), leader: wireLeaderKeyOf(leadership) };
    }),
    Proclaim: unaryCall(method('Proclaim'), logger, async (request: WireProclaimRequest, context) => {
      const call = validated(methods.proclaim, method('Proclaim'), {
        leader: leadershipOf(request.leader),
        value: request.value,
      });
      await election.proclaim(call, context);
      return { header: header() };
    }),
    Leader: unaryCall(method('Leader'), logger, async (request: WireLeaderRequest, context) => {
      const call = validated(methods.leader, method('Leader'), { name: request.name });
      const leader = await election.leader(call, context);
      return { header: headerAtLeast(header, leader.modRevision), kv: wireKeyValueOf(leader) };
    }),
    Observe: serverStreamCall(
      method('Observe'),
      logger,
      async function* (request: WireLeaderRequest, context) {
        const call = validated(methods.observe, method('Observe'), { name: request.name });
        for await (const leader of election.observe(call, context)) {
          yield { header: headerAtLeast(header, leader.modRevision), kv: wireKeyValueOf(leader) };
        }
      },
    ),
    Resign: unaryCall(method('Resign'), logger, async (request: WireResignRequest, context) => {
      const call = validated(methods.resign, method('Resign'), { leader: leadershipOf(request.leader) });
      await election.resign(call, context);
      return { header: header() };
    }),
  };
}
