/**
 * `etcdserverpb.Cluster` (MemberList, MemberAdd, MemberRemove,
 * MemberUpdate, MemberPromote) over the shared `cluster` handlers.
 * Membership changes only the leader makes are made on the leader when
 * this member is not it (`forward.ts`), so any member takes any call, as
 * in etcd.
 *
 * How Tessera's members appear as etcd's:
 * - `ID` is Tessera's member id (48 bits of the SHA-256 of the name), `name`
 *   its name once it has started (etcd leaves the name empty until a
 *   member publishes itself, and `etcdctl member list` prints such a
 *   member as `unstarted`; Tessera's members publish their client address
 *   on start, so an empty one means the same);
 * - `peerURLs` is `http://` and its peer address (Tessera members have
 *   one); `clientURLs` are where etcd clients reach it: its etcd address
 *   (`--listen-etcd`), which each member publishes in the member
 *   directory with its other addresses (the answering member gives its
 *   bound one); empty for a member that serves no etcd API.
 *
 * MemberAdd: etcd's request carries no name, and a Tessera member's id is
 * derived from its name, so the new member's name is derived from its
 * peer address ({@link memberNameForPeer}: `127.0.0.1:2390` →
 * `peer-127.0.0.1-2390`); start it with that `--name`. MemberUpdate
 * records the new peer address in the member directory, where every
 * member dials it from; the member itself must listen there (a member
 * started at another address publishes that one again).
 *
 * @module
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { InvalidArgumentError } from '../../base/errors.ts';
import type { Logger } from '../../base/logger.ts';
import { ClusterService, type MemberStatus, validated } from '../../server/api.ts';
import { memberIdOf } from '../../server/member.ts';
import type { TesseraNode } from '../../server/node.ts';
import type { ClientHandlers } from '../../server/serve.ts';
import { encodePublish } from '../../server/state.ts';
import type { CallContext, ServiceClient } from '../../transport/service.ts';
import { unaryCall } from './calls.ts';
import { FORWARD_CALL_OPTIONS, onLeader } from './forward.ts';
import type { HeaderMaker } from './header.ts';
import type { Int64 } from './proto.ts';

/** `etcdserverpb.Member`. */
export interface WireMember {
  readonly ID: Int64;
  readonly name: string;
  readonly peerURLs: readonly string[];
  readonly clientURLs: readonly string[];
  readonly isLearner: boolean;
}

/** `etcdserverpb.MemberAddRequest` as decoded. */
interface WireMemberAddRequest {
  readonly peerURLs: readonly string[];
  readonly isLearner: boolean;
}

/** `MemberRemoveRequest` and `MemberPromoteRequest` as decoded. */
interface WireMemberIdRequest {
  readonly ID: Int64;
}

/** `etcdserverpb.MemberUpdateRequest` as decoded. */
interface WireMemberUpdateRequest {
  readonly ID: Int64;
  readonly peerURLs: readonly string[];
}

/** `etcdserverpb.MemberListRequest` as decoded (`linearizable` since etcd 3.5; 3.4 clients leave it false). */
interface WireMemberListRequest {
  readonly linearizable: boolean;
}

/** Options of {@link clusterService}. */
export interface ClusterServiceOptions {
  readonly header: HeaderMaker;
  readonly logger: Logger;
  /** This member's etcd `host:port` as bound (its `clientURLs` in the answers); asked at each call. */
  readonly etcdAddress: () => string;
}

/** `host:port` as a URL list: none for an address not known yet (a member that has not started). */
export function urlsOf(address: string): string[] {
  return address === '' ? [] : [`http://${address}`];
}

/**
 * The `host:port` of a member URL (`http://127.0.0.1:2380`): Tessera takes
 * `http` or `https` (peer TLS is the member's setting, not the URL's) with
 * an explicit port and no path.
 *
 * @throws {InvalidArgumentError} (etcd: "given member URLs are invalid") otherwise.
 */
export function addressOfUrl(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  const valid =
    parsed !== undefined &&
    (parsed.protocol === 'http:' || parsed.protocol === 'https:') &&
    parsed.port !== '' &&
    (parsed.pathname === '' || parsed.pathname === '/') &&
    parsed.search === '' &&
    parsed.username === '';
  if (!valid || parsed === undefined) {
    throw new InvalidArgumentError(`Bad member URL ${JSON.stringify(url)}: expected http://host:port`, {
      details: { reason: 'MEMBER_BAD_URLS' },
    });
  }
  return parsed.host;
}

/**
 * The name a member added by etcd's MemberAdd gets (its id follows from
 * it): `peer-` and its peer address, with every character a member name
 * cannot hold made `-`.
 *
 * @throws {InvalidArgumentError} (etcd: "given member URLs are invalid") when the address makes a name over 63 characters.
 * @example
 * ```ts
 * memberNameForPeer('127.0.0.1:2390'); // 'peer-127.0.0.1-2390'
 * ```
 */
export function memberNameForPeer(address: string): string {
  const name = `peer-${address.replace(/[^A-Za-z0-9._-]/g, '-')}`;
  if (name.length > 63) {
    throw new InvalidArgumentError(
      `Cannot name a member after peer address ${address}: the name would pass 63 characters`,
      { details: { reason: 'MEMBER_BAD_URLS' } },
    );
  }
  return name;
}

/** The one peer address of a request's `peerURLs` (Tessera members have exactly one). */
function onePeerAddress(urls: readonly string[]): string {
  if (urls.length !== 1) {
    throw new InvalidArgumentError(
      `Cannot use ${urls.length} peer URLs: a Tessera member has exactly one peer address`,
      { details: { reason: 'MEMBER_BAD_URLS' } },
    );
  }
  return addressOfUrl(urls[0] as string);
}

/** `member` as `etcdserverpb.Member`; `self` is the answering member, with its etcd address. */
function wireMemberOf(member: MemberStatus, self: { id: number; etcdAddress: () => string }): WireMember {
  const started = member.client !== '';
  return {
    ID: member.id,
    name: started ? member.name : '',
    peerURLs: urlsOf(member.peer),
    clientURLs: member.id === self.id ? urlsOf(self.etcdAddress()) : urlsOf(member.etcd ?? ''),
    isLearner: member.role === 'learner',
  };
}

/** The member with the decoded uint64 `id`, or a "member not found" error. */
function memberById(members: readonly MemberStatus[], id: Int64): MemberStatus {
  const found = members.find((member) => String(member.id) === String(id));
  if (found === undefined) {
    throw new InvalidArgumentError(`Member ${id} is not in the cluster`, {
      details: { reason: 'MEMBER_NOT_FOUND' },
    });
  }
  return found;
}

/** What the Cluster methods share: the member lists, wired as etcd shows them, and forwarding. */
interface Membership {
  /** The members, as the cluster has them now (a ReadIndex round) or as this member last applied them. */
  members(linearizable: boolean, context: CallContext): Promise<MemberStatus[]>;
  /** The members after a change, as etcd answers them (`removed`: the member a removal took out). */
  membersAfter(context: CallContext, removed?: number): Promise<WireMember[]>;
  /** `member` as etcd shows it, to this member's client. */
  wire(member: MemberStatus): WireMember;
  /** Runs `local`, or `remote` on the leader when only the leader can (see `forward.ts`). */
  leaderOnly<T>(
    local: () => Promise<T>,
    remote: (leader: ServiceClient<typeof ClusterService>) => Promise<T>,
  ): Promise<T>;
}

function membershipOf(node: TesseraNode, handlers: ClientHandlers, etcdAddress: () => string): Membership {
  const { cluster } = handlers;
  const self = { id: node.id, etcdAddress };
  // Sorted by id, voters and learners together, as etcd lists its members.
  const members = async (linearizable: boolean, context: CallContext): Promise<MemberStatus[]> =>
    (linearizable ? await cluster.memberList(null, context) : (await cluster.status(null, context)).members)
      .slice()
      .sort((a, b) => a.id - b.id);
  return {
    members,
    // A member that removed itself has no quorum left to ask: its own view it is.
    membersAfter: async (context, removed = 0) =>
      (await members(removed !== node.id, context)).map((member) => wireMemberOf(member, self)),
    wire: (member) => wireMemberOf(member, self),
    leaderOnly: (local, remote) => onLeader(local, (leader) => remote(leader.service(ClusterService))),
  };
}

const method = (name: string) => `/etcdserverpb.Cluster/${name}`;

/** MemberAdd: the new member is named after its peer address (see the module comment). */
async function addMember(
  membership: Membership,
  cluster: ClientHandlers['cluster'],
  request: WireMemberAddRequest,
  context: CallContext,
) {
  const peer = onePeerAddress(request.peerURLs);
  const name = memberNameForPeer(peer);
  const before = await membership.members(true, context);
  if (before.some((member) => member.peer === peer)) {
    throw new InvalidArgumentError(`Cannot add a member at ${peer}: a member has that peer address`, {
      details: { reason: 'PEER_URL_EXISTS' },
    });
  }
  if (before.some((member) => member.id === memberIdOf(name))) {
    throw new InvalidArgumentError(`Cannot add member ${name}: it is in the cluster`, {
      details: { reason: 'MEMBER_EXISTS' },
    });
  }
  const call = validated(ClusterService.methods.memberAdd, method('MemberAdd'), {
    name,
    peer,
    client: '',
    http: '',
    voter: !request.isLearner,
  });
  const added = await membership.leaderOnly(
    async () => cluster.memberAdd(call, context),
    (leader) => leader.memberAdd(call, FORWARD_CALL_OPTIONS),
  );
  return { member: membership.wire(added), members: await membership.membersAfter(context) };
}

/** MemberUpdate: the member's directory entry, published again with the new peer address. */
async function updateMember(
  node: TesseraNode,
  membership: Membership,
  request: WireMemberUpdateRequest,
  context: CallContext,
) {
  const peer = onePeerAddress(request.peerURLs);
  const current = await membership.members(true, context);
  const member = memberById(current, request.ID);
  if (current.some((other) => other.id !== member.id && other.peer === peer)) {
    throw new InvalidArgumentError(`Cannot move member ${member.name} to ${peer}: another member is there`, {
      details: { reason: 'PEER_URL_EXISTS' },
    });
  }
  // Once applied, every member dials the new address (as etcd's members do after a MemberUpdate).
  await node.propose(
    encodePublish(member.id, { name: member.name, peer, client: member.client, http: member.http }),
  );
  return { members: await membership.membersAfter(context) };
}

/**
 * The `etcdserverpb.Cluster` implementation over `handlers.cluster`, for
 * `Server.addService(etcdService('etcdserverpb.Cluster'), …)`.
 *
 * @example
 * ```ts
 * server.addService(
 *   etcdService('etcdserverpb.Cluster'),
 *   clusterService(node, handlers, { header, logger, etcdAddress: () => '127.0.0.1:2382' }),
 * );
 * ```
 */
export function clusterService(
  node: TesseraNode,
  handlers: ClientHandlers,
  options: ClusterServiceOptions,
): UntypedServiceImplementation {
  const { cluster } = handlers;
  const { header, logger } = options;
  const { methods } = ClusterService;
  const membership = membershipOf(node, handlers, options.etcdAddress);
  return {
    MemberList: unaryCall(method('MemberList'), logger, async (request: WireMemberListRequest, context) => {
      const listed = await membership.members(request.linearizable, context);
      return { header: header(), members: listed.map((member) => membership.wire(member)) };
    }),
    MemberAdd: unaryCall(method('MemberAdd'), logger, async (request: WireMemberAddRequest, context) => ({
      header: header(),
      ...(await addMember(membership, cluster, request, context)),
    })),
    MemberRemove: unaryCall(method('MemberRemove'), logger, async (request: WireMemberIdRequest, context) => {
      const { id } = memberById(await membership.members(true, context), request.ID);
      const call = validated(methods.memberRemove, method('MemberRemove'), { id });
      await membership.leaderOnly(
        async () => cluster.memberRemove(call, context),
        (leader) => leader.memberRemove(call, FORWARD_CALL_OPTIONS),
      );
      return { header: header(), members: await membership.membersAfter(context, id) };
    }),
    MemberPromote: unaryCall(
      method('MemberPromote'),
      logger,
      async (request: WireMemberIdRequest, context) => {
        const member = memberById(await membership.members(true, context), request.ID);
        if (member.role !== 'learner') {
          throw new InvalidArgumentError(`Cannot promote member ${member.name}: it is a voter already`, {
            details: { reason: 'MEMBER_NOT_LEARNER' },
          });
        }
        const call = validated(methods.memberPromote, method('MemberPromote'), { id: member.id });
        await membership.leaderOnly(
          async () => cluster.memberPromote(call, context),
          (leader) => leader.memberPromote(call, FORWARD_CALL_OPTIONS),
        );
        return { header: header(), members: await membership.membersAfter(context) };
      },
    ),
    MemberUpdate: unaryCall(
      method('MemberUpdate'),
      logger,
      async (request: WireMemberUpdateRequest, context) => ({
        header: header(),
        ...(await updateMember(node, membership, request, context)),
      }),
    ),
  };
}
