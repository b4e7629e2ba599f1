/**
 * The services a member serves: `kv` and `cluster` to clients on its client
 * port, `raftPeer` to other members on its peer port. Typed with the RPC
 * layer's `defineService`; requests are validated before any handler runs.
 *
 * @module
 */
import { InternalError, InvalidArgumentError, TesseraError } from '../base/errors.ts';
import { checkedCommand } from '../kv/kv-command.ts';
import { LEASE_TTL_SECONDS_MAX } from '../kv/limits.ts';
import type {
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  LeaseGrantResponse,
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
  WatchRequest,
  WatchResponse,
} from '../kv/types.ts';
import { checkWatchRequest } from '../kv/watcher.ts';
import type { Message, NodeId } from '../raft/types.ts';
import { defineService, serverStream, unary, type Validator } from '../transport/service.ts';
import { checkMemberName, type MemberInfo } from './member.ts';

const encoder = new TextEncoder();

function stringField(request: unknown, field: string, bytesMax: number): string {
  const value = (request as Record<string, unknown> | null)?.[field];
  if (typeof value !== 'string') throw new InvalidArgumentError(`${field} must be a string`);
  const bytes = encoder.encode(value).length;
  if (bytes > bytesMax)
    throw new InvalidArgumentError(`${field} is ${bytes} bytes, over the limit of ${bytesMax}`);
  return value;
}

function memberIdField(request: unknown): NodeId {
  const id = (request as { id?: unknown } | null)?.id;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) {
    throw new InvalidArgumentError('id must be a positive integer member id');
  }
  return id;
}

/**
 * A range read; `serializable` reads this member's state without
 * confirming leadership (may be stale).
 */
export interface RangeCall {
  readonly request: RangeRequest;
  readonly serializable?: boolean;
  /** Set by a member that passed the read on (its disk failed): not passed on again. */
  readonly forwarded?: boolean;
}

function flag(request: unknown, field: string): boolean {
  const value = (request as Record<string, unknown> | null)?.[field];
  if (value !== undefined && typeof value !== 'boolean')
    throw new InvalidArgumentError(`${field} must be a boolean`);
  return value === true;
}

/** The fields of a call object, refusing any not in `allowed` (a misspelt field is a mistake, not a default). */
export function callFields(call: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (call === null || typeof call !== 'object' || Array.isArray(call))
    throw new InvalidArgumentError('The call must be an object');
  const fields = call as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!allowed.includes(name)) throw new InvalidArgumentError(`Unknown field ${JSON.stringify(name)}`);
  }
  return fields;
}

/**
 * A call checked by its method's validator, for a front door other than
 * the native RPC (which runs the validator itself): a typed refusal keeps
 * its code (`TOO_LARGE`, `LIMIT_EXCEEDED`...), anything else is
 * `INVALID_ARGUMENT`, as on the native RPC. `path` names the call in the
 * message.
 *
 * @throws {InternalError} when the method has no validator.
 */
export function validated<T>(
  method: { readonly validate: Validator<T> | undefined },
  path: string,
  call: unknown,
): T {
  const validate = method.validate;
  if (validate === undefined) throw new InternalError(`Cannot call ${path}: its method has no validator`);
  try {
    return validate(call);
  } catch (error) {
    if (error instanceof TesseraError) throw error;
    throw new InvalidArgumentError(`Cannot call ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** A request of `type`, shape-checked as the log would (see `kv-command.ts`). */
function kvRequest<T>(type: Parameters<typeof checkedCommand>[0]): (request: unknown) => T {
  return (request) => checkedCommand(type, request).request as T;
}

/** A member as `member list` and status show it. */
export interface MemberStatus extends MemberInfo {
  readonly id: NodeId;
  readonly role: 'voter' | 'learner';
}

/** One member's view of itself and the cluster. */
export interface NodeStatus {
  readonly id: NodeId;
  readonly name: string;
  readonly pid: number;
  readonly role: 'leader' | 'follower' | 'candidate' | 'preCandidate';
  readonly leaderId: NodeId;
  readonly leaderName: string | null;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  /** The KV store's revision as of `applied`. */
  readonly revision: number;
  readonly members: MemberStatus[];
  readonly alarms: string[];
}

/** `member add`: a new member's name and addresses; added as a learner unless `voter`. */
export interface MemberAddRequest extends MemberInfo {
  readonly voter?: boolean;
}

/**
 * The KV store (etcd v3's KV service): keys and values are bytes. Every
 * request is shape-checked before it reaches the log; the store checks the
 * rest (limits, revisions) when it applies it, and a refused request
 * changes nothing.
 */
export const KvService = defineService('kv', {
  range: unary<RangeCall, RangeResponse>({
    validate: (call) => {
      const fields = callFields(call, ['request', 'serializable', 'forwarded']);
      return {
        request: kvRequest<RangeRequest>('range')(fields['request']),
        serializable: flag(call, 'serializable'),
        forwarded: flag(call, 'forwarded'),
      };
    },
  }),
  put: unary<PutRequest, PutResponse>({ validate: kvRequest('put') }),
  deleteRange: unary<DeleteRangeRequest, DeleteRangeResponse>({ validate: kvRequest('deleteRange') }),
  txn: unary<TxnRequest, TxnResponse>({ validate: kvRequest('txn') }),
  compact: unary<CompactionRequest, CompactionResponse>({ validate: kvRequest('compact') }),
});

/** `grant`: a lease of `ttl` seconds; `id` 0 (or absent) lets the member pick it. */
export interface LeaseGrantCall {
  readonly ttl: number;
  readonly id?: number;
}

/** `timeToLive`: a lease's live TTL, and its keys when asked. */
export interface LeaseTimeToLiveCall {
  readonly id: number;
  readonly keys?: boolean;
}

/** What a lease has left (etcd `LeaseTimeToLiveResponse`). */
export interface LeaseTimeToLiveResponse {
  readonly id: number;
  /** Seconds left on the leader's clock, rounded up; -1 when the lease does not exist. */
  readonly ttl: number;
  /** The TTL granted, in seconds (0 when the lease does not exist). */
  readonly grantedTtl: number;
  /** The keys attached, in byte order (empty unless asked for). */
  readonly keys: Uint8Array[];
}

function leaseId(value: unknown, allowZero: boolean): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new InvalidArgumentError(
      `id must be an integer >= ${allowZero ? 0 : 1}${allowZero ? ' (0: the member picks one)' : ''}`,
    );
  }
  return value;
}

/**
 * Leases (etcd v3's Lease service). Expiry is decided by the leader and
 * replicated; a keep-alive is one call per renewal (the client repeats it,
 * a third of the TTL apart), answered once the renewal is in the log.
 */
export const LeaseService = defineService('lease', {
  grant: unary<LeaseGrantCall, LeaseGrantResponse>({
    validate: (call) => {
      const fields = callFields(call, ['ttl', 'id']);
      const ttl = fields['ttl'];
      if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl < 0 || ttl > LEASE_TTL_SECONDS_MAX) {
        throw new InvalidArgumentError(
          `ttl must be an integer number of seconds in [0, ${LEASE_TTL_SECONDS_MAX}]`,
          // etcd answers a TTL past its maximum (the same 9e9 s) with its own error.
          typeof ttl === 'number' && ttl > LEASE_TTL_SECONDS_MAX
            ? { details: { reason: 'LEASE_TTL_TOO_LARGE' } }
            : {},
        );
      }
      return { ttl, id: fields['id'] === undefined ? 0 : leaseId(fields['id'], true) };
    },
  }),
  revoke: unary<LeaseRevokeRequest, LeaseRevokeResponse>({
    validate: (call) => ({ id: leaseId(callFields(call, ['id'])['id'], false) }),
  }),
  keepAlive: unary<LeaseKeepAliveRequest, LeaseKeepAliveResponse>({
    validate: (call) => ({ id: leaseId(callFields(call, ['id'])['id'], false) }),
  }),
  timeToLive: unary<LeaseTimeToLiveCall, LeaseTimeToLiveResponse>({
    validate: (call) => {
      const fields = callFields(call, ['id', 'keys']);
      return { id: leaseId(fields['id'], false), keys: flag(fields, 'keys') };
    },
  }),
  leases: unary<null, { leases: number[] }>(),
});

/** `watch`: a watch request, and whether to send progress notifications while idle. */
export interface WatchCall extends WatchRequest {
  readonly progressNotify?: boolean;
}

/** Most watch streams one client connection may hold open on a member. */
export const WATCHES_PER_CONNECTION_MAX = 1024;

/**
 * Watches (etcd v3's Watch service), one stream per watcher, served by the
 * member asked from its own applied state. The first item has no events
 * and says the watcher exists (etcd's `created`); then whole revisions in
 * order (a revision larger than one item comes in pieces, `fragment` on
 * all but the last); the last item of a watcher that ended carries
 * `cancelled` (compacted, or too slow: watch again from `resumeRevision`).
 * The stream fails `UNAVAILABLE` when the member installs a snapshot:
 * watch again from the revision after the last one seen whole.
 */
export const WatchService = defineService('watch', {
  watch: serverStream<WatchCall, WatchResponse>({
    validate: (call) => {
      const fields = callFields(call, [
        'key',
        'rangeEnd',
        'startRevision',
        'prevKv',
        'filters',
        'progressNotify',
      ]);
      const request = {
        key: fields['key'],
        ...(fields['rangeEnd'] === undefined ? {} : { rangeEnd: fields['rangeEnd'] }),
        ...(fields['startRevision'] === undefined ? {} : { startRevision: fields['startRevision'] }),
        ...(fields['prevKv'] === undefined ? {} : { prevKv: fields['prevKv'] }),
        ...(fields['filters'] === undefined ? {} : { filters: fields['filters'] }),
      } as WatchRequest;
      checkWatchRequest(request);
      return { ...request, progressNotify: flag(fields, 'progressNotify') };
    },
  }),
});

export const ClusterService = defineService('cluster', {
  status: unary<null, NodeStatus>(),
  memberList: unary<null, MemberStatus[]>(),
  memberAdd: unary<MemberAddRequest, MemberStatus>({
    validate: (request) => {
      // A voter flag that is not a boolean must not quietly add a learner.
      const fields = callFields(request, ['name', 'peer', 'client', 'http', 'voter']);
      return {
        name: checkMemberName(stringField(fields, 'name', 63)),
        peer: stringField(fields, 'peer', 255),
        client: stringField(fields, 'client', 255),
        http: stringField(fields, 'http', 255),
        voter: flag(fields, 'voter'),
      };
    },
  }),
  memberRemove: unary<{ id: NodeId }, null>({
    validate: (request) => ({ id: memberIdField(callFields(request, ['id'])) }),
  }),
  memberPromote: unary<{ id: NodeId }, null>({
    validate: (request) => ({ id: memberIdField(callFields(request, ['id'])) }),
  }),
  transferLeadership: unary<{ id: NodeId }, null>({
    validate: (request) => ({ id: memberIdField(callFields(request, ['id'])) }),
  }),
});

/** A proposal a follower forwards to the leader: the entry's data, answered with its result. */
export interface ForwardedProposal {
  readonly data: Uint8Array;
}

/** A KV command's outcome as the proposer gets it: the response, or the typed error it met. */
export type KvOutcome =
  | { readonly response: unknown; readonly error?: undefined }
  | { readonly error: { code: string; message: string; details: Record<string, unknown> | undefined } };

/** A forwarded proposal's outcome: its entry index and the KV outcome. */
export interface ProposeAnswer {
  readonly index: number;
  readonly output: KvOutcome | null;
}

/** What a link's `attach` stream carries: the other member's messages, and the proposals it forwards. */
export interface PeerItem {
  readonly messages: Message[];
  readonly proposes: readonly { readonly requestId: number; readonly data: Uint8Array }[];
}

/** The answer to a proposal forwarded as an `attach` item: its outcome or its error. */
export interface ProposeResult extends ProposeAnswer {
  readonly requestId: number;
  readonly error: { code: string; message: string; details: Record<string, unknown> | undefined } | null;
}

/**
 * Between members, one connection per pair (see `peer-transport.ts`): the
 * member that dialed sends with `send` and `propose` and receives on its
 * `attach` stream; the other answers `attach` items' proposals with `proposeResults`.
 */
export const PeerService = defineService('raftPeer', {
  /** A batch of Raft messages from one member, with its peer address (so a joining member can answer the leader before it knows the membership). */
  send: unary<{ from: NodeId; address: string; messages: Message[] }, null>(),
  /** The dialing member's receiving end: the other member's batches and forwarded proposals, as items. */
  attach: serverStream<{ from: NodeId; address: string }, PeerItem>({
    validate: (request) => ({
      from: memberIdField({ id: (request as { from?: unknown } | null)?.from }),
      address: stringField(request, 'address', 255),
    }),
  }),
  /** A proposal forwarded by a follower; answered once applied. */
  propose: unary<ForwardedProposal, ProposeAnswer>(),
  /** The outcomes of proposals forwarded as `attach` items, those known in one turn of the answering member. */
  proposeResults: unary<{ from: NodeId; results: ProposeResult[] }, null>(),
});
