/**
 * Locks and elections served by every member (etcd's v3lock and
 * v3election services), for programs that have no Tessera client: they
 * grant a lease and keep it alive themselves, and the member runs the
 * `tessera/coord` recipes for them over that lease.
 *
 * The member reaches the cluster through a client of its own, connected to
 * its own client port (etcd's v3lock does the same with an in-process
 * client): the recipes run unchanged, with their leader failover and
 * retries. A waiting `lock` or `campaign` holds its call open until granted,
 * until the caller's deadline passes, or until the caller goes away (the
 * key is withdrawn then).
 *
 * @module
 */
import { InvalidArgumentError } from '../base/errors.ts';
import type { Client } from '../client/client.ts';
import { Election, type Leader, type Leadership, proclaimAs, resignAs } from '../coord/election.ts';
import { Mutex } from '../coord/mutex.ts';
import { Session } from '../coord/session.ts';
import { KEY_BYTES_MAX } from '../kv/limits.ts';
import type { DeleteRangeResponse } from '../kv/types.ts';
import {
  type CallContext,
  defineService,
  type ServiceHandlers,
  serverStream,
  unary,
} from '../transport/service.ts';
import { callFields } from './api.ts';

/** Longest lock or election name: its keys (`name/<lease hex>`) must fit {@link KEY_BYTES_MAX}. */
export const COORD_NAME_BYTES_MAX = KEY_BYTES_MAX - 32;

/** `lock.lock`: take the lock `name` for the caller's lease. */
export interface LockCall {
  readonly name: Uint8Array;
  readonly lease: number;
}

/** The answer to `lock.lock`: the holder's key (pass it to `unlock`) and the fencing token. */
export interface LockAnswer {
  readonly key: Uint8Array;
  readonly token: number;
}

/** `election.campaign`: stand in `name` for the caller's lease with `value`. */
export interface CampaignCall {
  readonly name: Uint8Array;
  readonly lease: number;
  readonly value: Uint8Array;
}

function bytesField(
  fields: Record<string, unknown>,
  field: string,
  bytesMax: number,
  empty: boolean,
): Uint8Array {
  const value = fields[field];
  if (!(value instanceof Uint8Array)) throw new InvalidArgumentError(`${field} must be bytes`);
  if (!empty && value.length === 0) throw new InvalidArgumentError(`${field} must not be empty`);
  if (value.length > bytesMax) {
    throw new InvalidArgumentError(`${field} is ${value.length} bytes, over the limit of ${bytesMax}`);
  }
  return value;
}

function leaseField(fields: Record<string, unknown>, field = 'lease'): number {
  const value = fields[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${field} must be a lease id (an integer >= 1)`);
  }
  return value;
}

function nameField(fields: Record<string, unknown>): Uint8Array {
  return bytesField(fields, 'name', COORD_NAME_BYTES_MAX, false);
}

function leadershipField(call: unknown): Leadership {
  const fields = callFields(call, ['name', 'key', 'revision', 'lease']);
  const revision = fields['revision'];
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 1) {
    throw new InvalidArgumentError('leader.revision must be an integer >= 1');
  }
  return {
    name: nameField(fields),
    key: bytesField(fields, 'key', KEY_BYTES_MAX, false),
    revision,
    lease: leaseField(fields),
  };
}

/** Locks (etcd's v3lock `Lock`/`Unlock`); `lock` answers once the lock is held. */
export const LockService = defineService('lock', {
  lock: unary<LockCall, LockAnswer>({
    validate: (call) => {
      const fields = callFields(call, ['name', 'lease']);
      return { name: nameField(fields), lease: leaseField(fields) };
    },
  }),
  unlock: unary<{ key: Uint8Array }, { revision: number }>({
    validate: (call) => ({ key: bytesField(callFields(call, ['key']), 'key', KEY_BYTES_MAX, false) }),
  }),
});

/** Elections (etcd's v3election); `campaign` answers once the caller leads. */
export const ElectionService = defineService('election', {
  campaign: unary<CampaignCall, Leadership>({
    validate: (call) => {
      const fields = callFields(call, ['name', 'lease', 'value']);
      return {
        name: nameField(fields),
        lease: leaseField(fields),
        value: bytesField(fields, 'value', KEY_BYTES_MAX, true),
      };
    },
  }),
  proclaim: unary<{ leader: Leadership; value: Uint8Array }, null>({
    validate: (call) => {
      const fields = callFields(call, ['leader', 'value']);
      return {
        leader: leadershipField(fields['leader']),
        value: bytesField(fields, 'value', KEY_BYTES_MAX, true),
      };
    },
  }),
  resign: unary<{ leader: Leadership }, null>({
    validate: (call) => ({ leader: leadershipField(callFields(call, ['leader'])['leader']) }),
  }),
  leader: unary<{ name: Uint8Array }, Leader>({
    validate: (call) => ({ name: nameField(callFields(call, ['name'])) }),
  }),
  observe: serverStream<{ name: Uint8Array }, Leader>({
    validate: (call) => ({ name: nameField(callFields(call, ['name'])) }),
  }),
});

/** The handlers of {@link LockService} and {@link ElectionService}. */
export interface CoordHandlers {
  readonly lock: ServiceHandlers<typeof LockService>;
  readonly election: ServiceHandlers<typeof ElectionService>;
}

/** A call's deadline and signal as the recipes take them. */
function waitOptions(context: CallContext): { signal: AbortSignal; timeoutMs?: number } {
  return context.timeRemainingMs === undefined
    ? { signal: context.signal }
    : { signal: context.signal, timeoutMs: context.timeRemainingMs };
}

/**
 * The handlers over a client to the cluster (`client()` is called per call;
 * the member makes it once, lazily). A session made over the caller's lease
 * renews it while the call waits, and is orphaned after: the lease stays
 * the caller's to keep alive or revoke.
 */
export function coordHandlers(client: () => Promise<Client>): CoordHandlers {
  const overLease = async <T>(
    lease: number,
    context: CallContext,
    run: (session: Session) => Promise<T>,
  ): Promise<T> => {
    const session = await Session.create(await client(), { lease, signal: context.signal });
    try {
      return await run(session);
    } finally {
      session.orphan();
    }
  };
  const lock: ServiceHandlers<typeof LockService> = {
    lock: ({ name, lease }, context) =>
      overLease(lease, context, async (session) => {
        const grant = await new Mutex(session, name).lock(waitOptions(context));
        return { key: grant.key, token: grant.token };
      }),
    unlock: async ({ key }, context) => {
      const response: DeleteRangeResponse = await (await client()).kv.delete(key, waitOptions(context));
      return { revision: response.revision };
    },
  };
  const election: ServiceHandlers<typeof ElectionService> = {
    campaign: ({ name, lease, value }, context) =>
      overLease(lease, context, (session) =>
        new Election(session, name).campaign(value, waitOptions(context)),
      ),
    proclaim: async ({ leader, value }, context) => {
      await proclaimAs(await client(), leader, value, waitOptions(context));
      return null;
    },
    resign: async ({ leader }, context) => {
      await resignAs(await client(), leader, waitOptions(context));
      return null;
    },
    leader: async ({ name }, context) => Election.leader(await client(), name, waitOptions(context)),
    observe: async function* ({ name }, context) {
      yield* Election.observe(await client(), name, { signal: context.signal });
    },
  };
  return { lock, election };
}
