/**
 * The client against members the test controls: RPC servers serving the
 * real `kv` and `cluster` service definitions (so requests pass the real
 * validators) with handlers that refuse, hang, or drop the connection
 * mid-call on cue. This makes the failure cases exact: which member got
 * the call, how often, and what the caller saw.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { freePort } from '../../test/helpers/cluster.ts';
import { ManualClock, type TimerHandle } from '../base/clock.ts';
import {
  CancelledError,
  ConnectionLostError,
  DeadlineExceededError,
  InvalidArgumentError,
  NoSpaceError,
  NotLeaderError,
  OutcomeUnknownError,
  ProposalDroppedError,
  type TesseraError,
  UnavailableError,
} from '../base/errors.ts';
import { RecordingLogger } from '../base/logger.ts';
import type { KeyValue } from '../kv/types.ts';
import { ClusterService, KvService, type NodeStatus } from '../server/api.ts';
import { RpcServer } from '../transport/rpc-server.ts';
import type { ServiceHandlers } from '../transport/service.ts';
import { type Client, compare, connect, op, text } from './index.ts';

type KvHandlers = ServiceHandlers<typeof KvService>;

interface FakeMember {
  readonly id: number;
  readonly address: string;
  readonly server: RpcServer;
  /** Every KV and cluster method called, in order. */
  readonly calls: string[];
  /** What `cluster.status` answers (members filled in by the test when it needs them). */
  status: NodeStatus;
  /** Stops serving: GOAWAY, then every connection closed at once (calls in flight are cut). */
  crash(): void;
}

const servers: RpcServer[] = [];
const clients: Client[] = [];
after(async () => {
  for (const client of clients) client.close();
  await Promise.all(servers.map((server) => server.close({ graceMs: 0 })));
});

const encoder = new TextEncoder();
const bytes = (value: string) => encoder.encode(value);

function keyValue(key: Uint8Array, value: Uint8Array, revision: number): KeyValue {
  return { key, value, createRevision: revision, modRevision: revision, version: 1, lease: 0 };
}

let nextId = 1;

/** A member with a tiny one-key-at-a-time store; `kv` overrides what the test exercises. */
async function fakeMember(
  options: { role?: NodeStatus['role']; kv?: Partial<KvHandlers> } = {},
): Promise<FakeMember> {
  const id = nextId++;
  const calls: string[] = [];
  const store = new Map<string, KeyValue>();
  let revision = 1;
  const server = new RpcServer({ logger: new RecordingLogger() });
  servers.push(server);
  const kv: KvHandlers = {
    range: ({ request }) => {
      const found = store.get(text(request.key));
      return {
        revision,
        kvs: found === undefined ? [] : [found],
        more: false,
        count: found === undefined ? 0 : 1,
      };
    },
    put: (request) => {
      revision++;
      store.set(text(request.key), keyValue(request.key, request.value ?? new Uint8Array(), revision));
      return { revision };
    },
    deleteRange: () => ({ revision, deleted: 0, prevKvs: [] }),
    txn: () => ({ revision, succeeded: true, responses: [] }),
    compact: () => ({ revision }),
    ...options.kv,
  };
  const recorded = <K extends keyof KvHandlers>(name: K): KvHandlers[K] =>
    ((request: never, context: never) => {
      calls.push(name);
      return (kv[name] as (request: never, context: never) => unknown)(request, context);
    }) as KvHandlers[K];
  server.register(KvService, {
    range: recorded('range'),
    put: recorded('put'),
    deleteRange: recorded('deleteRange'),
    txn: recorded('txn'),
    compact: recorded('compact'),
  });
  const member: FakeMember = {
    id,
    address: '',
    server,
    calls,
    status: {
      id,
      name: `fake${id}`,
      pid: process.pid,
      role: options.role ?? 'follower',
      leaderId: options.role === 'leader' ? id : 0,
      leaderName: null,
      term: 1,
      commit: 1,
      applied: 1,
      revision: 1,
      members: [],
      alarms: [],
    },
    crash: () => void server.close({ graceMs: 0 }),
  };
  server.register(ClusterService, {
    status: () => {
      calls.push('status');
      return member.status;
    },
    memberList: () => {
      calls.push('memberList');
      return member.status.members;
    },
    memberAdd: () => {
      throw new Error('not used');
    },
    memberRemove: () => null,
    memberPromote: () => null,
    transferLeadership: () => null,
  });
  const address = await server.listen('127.0.0.1:0');
  return Object.assign(member, { address });
}

async function connectTo(endpoints: string[], timeoutMs = 5000): Promise<Client> {
  const client = await connect({ endpoints, timeoutMs, logger: new RecordingLogger() });
  clients.push(client);
  return client;
}

/** A call that never answers (until its connection or deadline ends it); `entered` resolves when it runs. */
function hang(): { handler: () => Promise<never>; entered: Promise<void> } {
  let enter: () => void = () => {};
  const entered = new Promise<void>((resolve) => (enter = resolve));
  return {
    entered,
    handler: () => {
      enter();
      return new Promise<never>(() => {});
    },
  };
}

/** A manual clock that tells which timers are set and not yet fired or cleared, by their delay. */
class TimerWatchingClock extends ManualClock {
  readonly #live = new Map<TimerHandle, number>();

  override setTimer(callback: () => void, delayMs: number): TimerHandle {
    const handle: TimerHandle = super.setTimer(() => {
      this.#live.delete(handle);
      callback();
    }, delayMs);
    this.#live.set(handle, delayMs);
    return handle;
  }

  override clearTimer(handle: TimerHandle): void {
    this.#live.delete(handle);
    super.clearTimer(handle);
  }

  liveDelays(): number[] {
    return [...this.#live.values()];
  }
}

const count = (member: FakeMember, method: string) => member.calls.filter((c) => c === method).length;

describe('connect', { timeout: 20_000 }, () => {
  it('rejects bad endpoints and timeouts before connecting', async () => {
    await assert.rejects(connect({ endpoints: [] }), RangeError);
    await assert.rejects(connect({ endpoints: ['no-port'] }), TypeError);
    await assert.rejects(connect({ endpoints: ['127.0.0.1:1'], timeoutMs: -5 }), RangeError);
  });

  it('learns the leader from a follower status and sends calls there', async () => {
    const leader = await fakeMember({ role: 'leader' });
    const follower = await fakeMember();
    follower.status = {
      ...follower.status,
      leaderId: leader.id,
      members: [{ id: leader.id, role: 'voter', name: 'l', peer: '', client: leader.address, http: '' }],
    };
    const client = await connectTo([follower.address]);
    assert.equal(client.activeEndpoint, leader.address);
    await client.kv.put('k', 'v');
    assert.equal(count(leader, 'put'), 1);
    assert.equal(count(follower, 'put'), 0);
  });

  it('asks again who leads when the member it talks to did not know at first', async () => {
    const leader = await fakeMember({ role: 'leader' });
    const follower = await fakeMember();
    const client = await connectTo([follower.address]);
    assert.equal(client.activeEndpoint, follower.address);
    // The leader publishes its address; the next call the follower answers makes the client ask it again.
    follower.status = {
      ...follower.status,
      leaderId: leader.id,
      members: [{ id: leader.id, role: 'voter', name: 'l', peer: '', client: leader.address, http: '' }],
    };
    await client.kv.get('k');
    for (let i = 0; client.activeEndpoint !== leader.address && i < 500; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.equal(client.activeEndpoint, leader.address);
    await client.kv.put('k', 'v');
    assert.deepEqual([count(leader, 'put'), count(follower, 'put')], [1, 0]);
  });

  it('skips a dead endpoint', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const member = await fakeMember({ role: 'leader' });
    const client = await connectTo([dead, member.address]);
    assert.equal(client.activeEndpoint, member.address);
    assert.deepEqual(await client.kv.put('a', '1'), { revision: 2 });
    assert.equal(text((await client.kv.get('a'))?.value ?? new Uint8Array()), '1');
  });

  it('rejects with DeadlineExceededError, the last refusal as cause, when no endpoint answers', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    await assert.rejects(
      connect({ endpoints: [dead], timeoutMs: 300, logger: new RecordingLogger() }),
      (error) => {
        assert.ok(error instanceof DeadlineExceededError);
        assert.ok(error.cause instanceof UnavailableError, String(error.cause));
        return true;
      },
    );
  });
});

describe('Client retries', { timeout: 20_000 }, () => {
  it('follows a NOT_LEADER answer to the leader it names', async () => {
    const leader = await fakeMember({ role: 'leader' });
    const follower = await fakeMember({
      kv: {
        put: () => {
          throw new NotLeaderError('not the leader', {
            details: { leaderHint: 1, leaderClient: leader.address },
          });
        },
      },
    });
    const client = await connectTo([follower.address]);
    assert.equal(client.activeEndpoint, follower.address);
    assert.deepEqual(await client.kv.put('k', 'v'), { revision: 2 });
    assert.deepEqual([count(follower, 'put'), count(leader, 'put')], [1, 1]);
    assert.equal(client.activeEndpoint, leader.address);
  });

  it('retries a write the cluster proves it did not apply (UNAVAILABLE, PROPOSAL_DROPPED)', async () => {
    let refusals = 0;
    const refusing = await fakeMember({
      role: 'leader',
      kv: {
        put: () => {
          refusals++;
          if (refusals === 1) throw new UnavailableError('no leader yet');
          if (refusals === 2) throw new ProposalDroppedError('replaced by a new leader');
          return { revision: 9 };
        },
      },
    });
    const client = await connectTo([refusing.address]);
    assert.deepEqual(await client.kv.put('k', 'v'), { revision: 9 });
    assert.equal(refusals, 3);
  });

  it('rejects with OutcomeUnknownError, without retrying, when the connection dies mid-write', async () => {
    const { handler, entered } = hang();
    const dying = await fakeMember({ role: 'leader', kv: { put: handler } });
    const other = await fakeMember();
    const client = await connectTo([dying.address, other.address]);
    const write = client.kv.put('k', 'v');
    await entered;
    dying.crash();
    await assert.rejects(write, (error) => {
      assert.ok(error instanceof OutcomeUnknownError, String(error));
      assert.equal(error.code, 'OUTCOME_UNKNOWN');
      assert.ok(error.cause instanceof ConnectionLostError, String(error.cause));
      assert.equal(error.details?.['endpoint'], dying.address);
      return true;
    });
    assert.deepEqual([count(dying, 'put'), count(other, 'put')], [1, 0]);
  });

  it('rejects with OutcomeUnknownError when a sent write reaches its deadline', async () => {
    const { handler, entered } = hang();
    const slow = await fakeMember({ role: 'leader', kv: { put: handler } });
    const client = await connectTo([slow.address]);
    const write = client.kv.put('k', 'v', { timeoutMs: 200 });
    await entered;
    await assert.rejects(write, (error) => {
      assert.ok(error instanceof OutcomeUnknownError, String(error));
      assert.ok(error.cause instanceof DeadlineExceededError, String(error.cause));
      return true;
    });
  });

  it('maps what a member answers a write to retry, unknown outcome, or failure', async () => {
    const answers: [TesseraError, (error: unknown) => boolean][] = [
      [new ConnectionLostError('member shut down'), (e) => e instanceof OutcomeUnknownError],
      [new DeadlineExceededError('no outcome in 10 s'), (e) => e instanceof OutcomeUnknownError],
      [new InvalidArgumentError('bad key'), (e) => e instanceof InvalidArgumentError],
      [new NoSpaceError('disk full'), (e) => e instanceof NoSpaceError],
    ];
    for (const [answer, expected] of answers) {
      const member = await fakeMember({
        role: 'leader',
        kv: {
          put: () => {
            throw answer;
          },
        },
      });
      const client = await connectTo([member.address]);
      await assert.rejects(client.kv.put('k', 'v'), expected, answer.code);
      assert.equal(count(member, 'put'), 1, `${answer.code} must not be retried`);
    }
  });

  it('retries a read on another member when the connection dies mid-read', async () => {
    const { handler, entered } = hang();
    const dying = await fakeMember({ role: 'leader', kv: { range: handler } });
    const other = await fakeMember({
      kv: {
        range: ({ request }) => ({
          revision: 5,
          kvs: [keyValue(request.key, bytes('from-other'), 4)],
          more: false,
          count: 1,
        }),
      },
    });
    const client = await connectTo([dying.address, other.address]);
    const read = client.kv.get('k');
    await entered;
    dying.crash();
    const kv = await read;
    assert.equal(text(kv?.value ?? new Uint8Array()), 'from-other');
    assert.equal(client.activeEndpoint, other.address);
  });

  it('treats a transaction that only reads as a read', async () => {
    let txns = 0;
    const member = await fakeMember({
      role: 'leader',
      kv: {
        txn: () => {
          txns++;
          if (txns === 1) throw new ConnectionLostError('cut');
          return { revision: 3, succeeded: true, responses: [] };
        },
      },
    });
    const client = await connectTo([member.address]);
    const response = await client.kv.txn({
      compare: [compare.version('k', 'equal', 0)],
      success: [op.get('k')],
    });
    assert.equal(response.succeeded, true);
    assert.equal(txns, 2);
    txns = 0;
    await assert.rejects(client.kv.txn({ success: [op.put('k', 'v')] }), OutcomeUnknownError);
    assert.equal(txns, 1);
  });

  it('gives up at the deadline with DeadlineExceededError when every member keeps refusing', async () => {
    const member = await fakeMember({
      role: 'leader',
      kv: {
        put: () => {
          throw new UnavailableError('no leader');
        },
      },
    });
    const client = await connectTo([member.address]);
    await assert.rejects(client.kv.put('k', 'v', { timeoutMs: 300 }), (error) => {
      assert.ok(error instanceof DeadlineExceededError, String(error));
      assert.ok(error.cause instanceof UnavailableError);
      return true;
    });
    assert.ok(count(member, 'put') >= 2, `only ${count(member, 'put')} attempts`);
  });
});

describe('Client cancellation and close', { timeout: 20_000 }, () => {
  it('an abort rejects a call in flight with CancelledError and stops it', async () => {
    const { handler, entered } = hang();
    const member = await fakeMember({ role: 'leader', kv: { put: handler } });
    const other = await fakeMember();
    const client = await connectTo([member.address, other.address]);
    const controller = new AbortController();
    const write = client.kv.put('k', 'v', { signal: controller.signal });
    await entered;
    controller.abort(new Error('user gave up'));
    await assert.rejects(write, CancelledError);
    assert.deepEqual([count(member, 'put'), count(other, 'put')], [1, 0]);
  });

  it('an abort during the pause between retry rounds rejects with CancelledError, and no attempt follows', async () => {
    let attempts = 0;
    const member = await fakeMember({
      role: 'leader',
      kv: {
        range: () => {
          attempts++;
          throw new UnavailableError('no leader');
        },
      },
    });
    // Time stands still: the pause after the first refusal ends only by the abort.
    const clock = new TimerWatchingClock();
    const client = await connect({ endpoints: [member.address], clock, logger: new RecordingLogger() });
    clients.push(client);
    const controller = new AbortController();
    const read = client.kv.get('k', { signal: controller.signal, timeoutMs: 60_000 });
    // Once the refusal is in, the call's 60 s deadline timer is gone and the pause's short timer is set.
    const pausing = () => clock.liveDelays().length === 1 && (clock.liveDelays()[0] as number) < 1000;
    for (let i = 0; !pausing() && i < 1000; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(attempts, 1);
    assert.equal(pausing(), true, `timers: ${clock.liveDelays()}`);
    controller.abort();
    await assert.rejects(read, CancelledError);
    assert.deepEqual(clock.liveDelays(), []);
    clock.advance(60_000);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(attempts, 1);
  });

  it('an already aborted signal sends nothing', async () => {
    const member = await fakeMember({ role: 'leader' });
    const client = await connectTo([member.address]);
    await assert.rejects(client.kv.put('k', 'v', { signal: AbortSignal.abort() }), CancelledError);
    assert.equal(count(member, 'put'), 0);
  });

  it('close rejects calls in flight and every later call with CancelledError, and closes connections', async () => {
    const { handler, entered } = hang();
    const member = await fakeMember({ role: 'leader', kv: { put: handler } });
    const client = await connectTo([member.address]);
    const write = client.kv.put('k', 'v');
    await entered;
    assert.equal(member.server.connectionCount, 1);
    client.close();
    assert.equal(client.closed, true);
    await assert.rejects(write, CancelledError);
    await assert.rejects(client.kv.get('k'), (error) => {
      assert.ok(error instanceof CancelledError);
      assert.match(error.message, /client is closed/);
      return true;
    });
    await assert.rejects(client.cluster.status(), CancelledError);
    assert.deepEqual(member.calls, ['status', 'put']);
    for (let i = 0; member.server.connectionCount > 0 && i < 200; i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(member.server.connectionCount, 0);
  });
});
