/**
 * `etcdserverpb.Maintenance` (Status, Alarm, Hash, HashKV, Snapshot,
 * MoveLeader, Defragment) over the member and the shared `cluster`
 * handlers. What each answers for Tessera:
 *
 * - Status: `version` {@link ETCD_VERSION_REPORTED} (the etcd API served,
 *   with `+tessera`); `dbSize` the LMDB file's size (its high-water mark;
 *   `dbSizeInUse` is the same number, since LMDB does not count its free
 *   pages cheaply); `raftIndex` the commit index, `raftAppliedIndex` the
 *   applied one; `errors` this member's alarms.
 * - Alarm GET: every member's alarms (each asked over the native RPC,
 *   {@link ALARM_PEER_TIMEOUT_MS} at most; a member that does not answer
 *   shows none), `NOSPACE` for a full disk and `CORRUPT` for every other
 *   failure that stopped a member's Raft loop (a disk error, a bug). A
 *   member raises its alarms itself and clears them when restarted with a
 *   working disk, so ACTIVATE is refused (`UNIMPLEMENTED`) and DEACTIVATE
 *   of an alarm that is raised is refused too; DEACTIVATE of one that is
 *   not raised succeeds with no alarms, as etcd answers it.
 * - Hash and HashKV: see `kv-hash.ts` (Hash hashes the current revision).
 * - Snapshot: see `snapshot-stream.ts`.
 * - MoveLeader: any member takes it (a follower passes it to the leader,
 *   where etcd answers "not leader"); it answers once this member sees the
 *   new leader, as etcd's waits for it.
 * - Defragment: succeeds and does nothing, truthfully: etcd's bbolt keeps
 *   freed pages until a defragmentation rewrites the file, while LMDB puts
 *   freed pages on its free list and reuses them in place as it writes, so
 *   space freed by compaction is reused without one. (Neither shrinks the
 *   file by reusing; Tessera has no online file shrink.)
 *
 * @module
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { InvalidArgumentError, UnavailableError, UnknownMethodError } from '../../base/errors.ts';
import type { Logger } from '../../base/logger.ts';
import { ClusterService, type NodeStatus, validated } from '../../server/api.ts';
import type { TesseraNode } from '../../server/node.ts';
import type { ClientHandlers } from '../../server/serve.ts';
import { RpcClient } from '../../transport/rpc-client.ts';
import type { CallContext } from '../../transport/service.ts';
import { unaryCall } from './calls.ts';
import type { HeaderMaker } from './header.ts';
import { hashKvAt } from './kv-hash.ts';
import { type Int64, int64Field } from './proto.ts';
import { serverStreamCall } from './server-stream.ts';
import { snapshotStreamer } from './snapshot-stream.ts';

/** The version Status reports: the etcd API served (etcd 3.5's), marked as Tessera's in semver build metadata. */
export const ETCD_VERSION_REPORTED = '3.5.0+tessera';

/** How long Alarm GET waits for each other member's alarms. */
export const ALARM_PEER_TIMEOUT_MS = 1000;

/** How long MoveLeader waits at most for the new leader (the client's deadline may cut it shorter). */
export const MOVE_LEADER_WAIT_MS_MAX = 10_000;

/** How often MoveLeader looks whether the new leader is in. */
const MOVE_LEADER_POLL_MS = 20;

/** `etcdserverpb.AlarmRequest` as decoded. */
interface WireAlarmRequest {
  readonly action: string;
  readonly memberID: Int64;
  readonly alarm: string;
}

/** `etcdserverpb.AlarmMember`. */
interface WireAlarmMember {
  readonly memberID: Int64;
  readonly alarm: 'NOSPACE' | 'CORRUPT';
}

/** Options of {@link maintenanceService}. */
export interface MaintenanceServiceOptions {
  readonly header: HeaderMaker;
  readonly logger: Logger;
}

/** A Tessera alarm as etcd's: a full disk is `NOSPACE`, any other stop of the Raft loop `CORRUPT`. */
export function etcdAlarmOf(alarm: string): 'NOSPACE' | 'CORRUPT' {
  return alarm === 'NOSPACE' ? 'NOSPACE' : 'CORRUPT';
}

/** The other members' alarms, each asked with a short deadline; a member that does not answer shows none. */
async function alarmsOfOthers(status: NodeStatus, logger: Logger): Promise<WireAlarmMember[]> {
  const others = status.members.filter((member) => member.id !== status.id && member.client !== '');
  const answers = await Promise.all(
    others.map(async (member) => {
      const client = new RpcClient({ address: member.client });
      try {
        const { id, alarms } = await client
          .service(ClusterService)
          .status(null, { timeoutMs: ALARM_PEER_TIMEOUT_MS });
        return alarms.map((alarm) => ({ memberID: id, alarm: etcdAlarmOf(alarm) }));
      } catch (error) {
        logger.debug({ err: error, member: member.name }, 'a member did not tell its alarms');
        return [];
      } finally {
        client.close();
      }
    }),
  );
  return answers.flat();
}

/** Resolves once `node` follows `target`; rejects with etcd's timeout when that takes past `waitMs`. */
async function leaderBecomes(node: TesseraNode, target: number, waitMs: number, signal: AbortSignal) {
  const deadline = performance.now() + waitMs;
  while (node.status().leaderId !== target) {
    signal.throwIfAborted();
    if (performance.now() >= deadline) {
      throw new UnavailableError('etcdserver: request timed out, leader transfer took too long');
    }
    await new Promise((resolve) => setTimeout(resolve, MOVE_LEADER_POLL_MS));
  }
}

const method = (name: string) => `/etcdserverpb.Maintenance/${name}`;

/** Status as etcd answers it, from this member's status (see the module comment). */
function statusResponseOf(status: NodeStatus, dbSize: number) {
  const self = status.members.find((member) => member.id === status.id);
  return {
    version: ETCD_VERSION_REPORTED,
    dbSize,
    leader: status.leaderId,
    raftIndex: status.commit,
    raftTerm: status.term,
    raftAppliedIndex: status.applied,
    errors: status.alarms.map((alarm) => `memberID:${status.id} alarm:${etcdAlarmOf(alarm)}`),
    dbSizeInUse: dbSize,
    isLearner: self?.role === 'learner',
  };
}

/** Alarm: GET lists `alarms()`; a member raises and clears its own, so requests to change them are refused. */
async function answerAlarm(
  request: WireAlarmRequest,
  alarms: () => Promise<WireAlarmMember[]>,
): Promise<WireAlarmMember[]> {
  if (request.action === 'ACTIVATE') {
    throw new UnknownMethodError(
      `Cannot activate alarm ${request.alarm}: Tessera members raise their alarms themselves, when their disk fails`,
    );
  }
  const wanted = (await alarms()).filter(
    (alarm) => request.alarm === 'NONE' || alarm.alarm === request.alarm,
  );
  if (request.action === 'GET') return wanted;
  const raised = wanted.find((alarm) => String(alarm.memberID) === String(request.memberID));
  if (raised !== undefined) {
    throw new UnknownMethodError(
      `Cannot disarm alarm ${raised.alarm} of member ${request.memberID}: it clears when the member restarts with a working disk`,
    );
  }
  // etcd answers the disarming of an alarm that is not raised with no alarms.
  return [];
}

/** MoveLeader: hands the leadership to a voter and waits until this member follows it. */
async function moveLeader(
  node: TesseraNode,
  cluster: ClientHandlers['cluster'],
  targetId: Int64,
  context: CallContext,
): Promise<void> {
  const status = await cluster.status(null, context);
  const target = status.members.find((member) => String(member.id) === String(targetId));
  if (target === undefined || target.role !== 'voter') {
    throw new InvalidArgumentError(`Cannot move the leadership to ${targetId}: it is not a voter`, {
      details: { reason: 'BAD_LEADER_TRANSFEREE' },
    });
  }
  const call = validated(ClusterService.methods.transferLeadership, method('MoveLeader'), { id: target.id });
  // On a follower, Raft passes the request on to the leader (thesis §3.10).
  await cluster.transferLeadership(call, context);
  const waitMs = Math.min(context.timeRemainingMs ?? MOVE_LEADER_WAIT_MS_MAX, MOVE_LEADER_WAIT_MS_MAX);
  await leaderBecomes(node, target.id, waitMs, context.signal);
}

/**
 * The `etcdserverpb.Maintenance` implementation for `node`, for
 * `Server.addService(etcdService('etcdserverpb.Maintenance'), …)`.
 *
 * @example
 * ```ts
 * server.addService(
 *   etcdService('etcdserverpb.Maintenance'),
 *   maintenanceService(node, handlers, { header: responseHeaders(node), logger }),
 * );
 * ```
 */
export function maintenanceService(
  node: TesseraNode,
  handlers: ClientHandlers,
  options: MaintenanceServiceOptions,
): UntypedServiceImplementation {
  const { cluster, kv } = handlers;
  const { header, logger } = options;
  const snapshots = snapshotStreamer(node);
  const hashAt = async (revision: number, context: CallContext) => {
    const at = revision > 0 ? revision : node.status().revision;
    const hash = await hashKvAt(async (request) => kv.range({ request, serializable: true }, context), at);
    return { hash, revision: at };
  };
  const alarmsNow = async (context: CallContext): Promise<WireAlarmMember[]> => {
    const status = await cluster.status(null, context);
    const own = status.alarms.map((alarm) => ({ memberID: status.id, alarm: etcdAlarmOf(alarm) }));
    return [...own, ...(await alarmsOfOthers(status, logger))];
  };

  return {
    Status: unaryCall(method('Status'), logger, async (_request: unknown, context) => {
      const status = await cluster.status(null, context);
      return { header: header(status.revision), ...statusResponseOf(status, node.stateBytes) };
    }),
    Alarm: unaryCall(method('Alarm'), logger, async (request: WireAlarmRequest, context) => ({
      header: header(),
      alarms: await answerAlarm(request, () => alarmsNow(context)),
    })),
    Hash: unaryCall(method('Hash'), logger, async (_request: unknown, context) => {
      const { hash, revision } = await hashAt(0, context);
      return { header: header(revision), hash };
    }),
    HashKV: unaryCall(method('HashKV'), logger, async (request: { revision: Int64 }, context) => {
      const { hash, revision } = await hashAt(int64Field(request.revision, 'revision'), context);
      // etcd's store starts at compact revision -1: never compacted.
      const compacted = node.compactRevision;
      return { header: header(revision), hash, compact_revision: compacted > 0 ? compacted : -1 };
    }),
    Snapshot: serverStreamCall(method('Snapshot'), logger, async function* (_request: unknown, context) {
      for await (const chunk of snapshots(context.signal)) {
        yield { header: header(chunk.revision), remaining_bytes: chunk.remainingBytes, blob: chunk.blob };
      }
    }),
    MoveLeader: unaryCall(method('MoveLeader'), logger, async (request: { targetID: Int64 }, context) => {
      await moveLeader(node, cluster, request.targetID, context);
      return { header: header() };
    }),
    // LMDB needs no defragmentation (see the module comment): nothing to do, and nothing is pretended.
    Defragment: unaryCall(method('Defragment'), logger, async () => ({ header: header() })),
  };
}
