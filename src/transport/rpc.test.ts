import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../base/clock.ts';
import {
  CancelledError,
  ConnectionLostError,
  DeadlineExceededError,
  InternalError,
  InvalidArgumentError,
  LimitExceededError,
  NotLeaderError,
  RemoteError,
  TesseraError,
  TooLargeError,
  UnavailableError,
  UnknownMethodError,
} from '../base/errors.ts';
import { RecordingLogger } from '../base/logger.ts';
import { MemoryTransport } from './memory-transport.ts';
import type { Transport } from './message-connection.ts';
import { RpcClient } from './rpc-client.ts';
import { RpcServer } from './rpc-server.ts';
import { defineService, type ServiceHandlers, serverStream, unary } from './service.ts';
import { TcpTransport } from './tcp-transport.ts';

const Test = defineService('test', {
  echo: unary<{ text: string }, { text: string }>(),
  delayedEcho: unary<{ text: string; turns: number }, string>(),
  fail: unary<{ kind: 'tessera' | 'plain' | 'custom' | 'notLeader' }, never>(),
  waitForAbort: unary<null, never>(),
  checked: unary<{ n: number }, number>({
    validate: (request) => {
      const n = (request as { n?: unknown } | null)?.n;
      if (typeof n !== 'number') throw new TypeError('n must be a number');
      return { n };
    },
  }),
  count: serverStream<{ n: number; failAt?: number }, number>(),
  forever: serverStream<null, number>(),
});

class QuotaError extends TesseraError {
  constructor(message: string) {
    super('LIMIT_EXCEEDED', message, { details: { quota: 7 } });
  }
}

/** Handlers that answer trivially, with `overrides` for what a test exercises. */
function stubHandlers(overrides: Partial<ServiceHandlers<typeof Test>>): ServiceHandlers<typeof Test> {
  const unused = (): never => {
    throw new Error('not used by this test');
  };
  return {
    echo: (request) => request,
    delayedEcho: unused,
    fail: unused,
    waitForAbort: unused,
    checked: unused,
    count: unused,
    forever: unused,
    ...overrides,
  };
}

interface Harness {
  server: RpcServer;
  client: RpcClient;
  aborts: string[];
  produced: { count: number; finished: boolean };
  signalAborted: Promise<string>;
  /** Resolves when a delayedEcho handler starts. */
  delayedEchoStarted: Promise<void>;
  close(): Promise<void>;
}

async function harness(transport: Transport, clock?: ManualClock): Promise<Harness> {
  const aborts: string[] = [];
  const produced = { count: 0, finished: false };
  let reportAbort: (reason: string) => void = () => {};
  const signalAborted = new Promise<string>((resolve) => (reportAbort = resolve));
  let reportStarted: () => void = () => {};
  const delayedEchoStarted = new Promise<void>((resolve) => (reportStarted = resolve));
  const server = new RpcServer({ transport, logger: new RecordingLogger(), ...(clock ? { clock } : {}) });
  server.register(Test, {
    echo: ({ text }) => ({ text }),
    async delayedEcho({ text, turns }) {
      reportStarted();
      for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
      return text;
    },
    fail({ kind }) {
      if (kind === 'tessera') throw new QuotaError('quota used up');
      if (kind === 'notLeader')
        throw new NotLeaderError('Cannot propose: not the leader', { details: { leaderHint: 3 } });
      if (kind === 'custom') throw Object.assign(new Error('nope'), { code: 'SHARD_MOVED' });
      throw new Error('boom');
    },
    waitForAbort(_request, context) {
      return new Promise((_resolve, reject) => {
        context.signal.addEventListener('abort', () => {
          const reason = context.signal.reason as TesseraError;
          aborts.push(reason.code);
          reportAbort(reason.code);
          reject(reason);
        });
      });
    },
    checked: ({ n }) => n * 2,
    async *count({ n, failAt }) {
      for (let i = 0; i < n; i++) {
        if (i === failAt) throw new InvalidArgumentError(`failed at ${i}`);
        yield i;
      }
    },
    async *forever() {
      try {
        for (let i = 0; ; i++) {
          produced.count++;
          yield i;
        }
      } finally {
        produced.finished = true;
      }
    },
  });
  const address = await server.listen(transport instanceof MemoryTransport ? 'memory:0' : '127.0.0.1:0');
  const client = new RpcClient({
    address,
    transport,
    logger: new RecordingLogger(),
    streamWindow: 8,
    ...(clock ? { clock } : {}),
  });
  return {
    server,
    client,
    aborts,
    produced,
    signalAborted,
    delayedEchoStarted,
    async close() {
      client.close();
      await server.close({ graceMs: 0 });
    },
  };
}

const transports: [string, () => Transport][] = [
  ['memory', () => new MemoryTransport()],
  ['tcp', () => new TcpTransport({ logger: new RecordingLogger() })],
];

for (const [transportName, makeTransport] of transports) {
  describe(`RPC over ${transportName}`, () => {
    it('unary call returns the handler result', async () => {
      const h = await harness(makeTransport());
      try {
        assert.deepEqual(await h.client.service(Test).echo({ text: 'hello' }), { text: 'hello' });
      } finally {
        await h.close();
      }
    });

    it('multiplexes many calls on one connection, answers matched to callers whatever their order', async () => {
      const h = await harness(makeTransport());
      try {
        const stub = h.client.service(Test);
        // Later calls finish first: turns count down.
        const results = await Promise.all(
          Array.from({ length: 200 }, (_, i) => stub.delayedEcho({ text: `call-${i}`, turns: 200 - i })),
        );
        assert.deepEqual(
          results,
          Array.from({ length: 200 }, (_, i) => `call-${i}`),
        );
        assert.equal(h.server.connectionCount, 1);
      } finally {
        await h.close();
      }
    });

    it('rebuilds remote errors as instances of their registered class, with code and details', async () => {
      const h = await harness(makeTransport());
      try {
        const stub = h.client.service(Test);
        await assert.rejects(stub.fail({ kind: 'tessera' }), (error: unknown) => {
          assert.ok(error instanceof LimitExceededError);
          assert.equal(error.message, 'quota used up');
          assert.deepEqual(error.details, { quota: 7 });
          return true;
        });
        await assert.rejects(stub.fail({ kind: 'plain' }), (error: unknown) => {
          assert.ok(error instanceof InternalError);
          assert.equal(error.message, 'boom');
          return true;
        });
        await assert.rejects(stub.fail({ kind: 'custom' }), (error: unknown) => {
          assert.ok(error instanceof RemoteError);
          assert.equal(error.code, 'SHARD_MOVED');
          return true;
        });
        await assert.rejects(stub.fail({ kind: 'notLeader' }), (error: unknown) => {
          assert.ok(error instanceof NotLeaderError);
          assert.equal(error.leaderHint, 3);
          return true;
        });
        await assert.rejects(h.client.unary('test.nothing', {}), UnknownMethodError);
      } finally {
        await h.close();
      }
    });

    it('validate refuses bad requests with INVALID_ARGUMENT before the handler runs', async () => {
      const h = await harness(makeTransport());
      try {
        const stub = h.client.service(Test);
        assert.equal(await stub.checked({ n: 21 }), 42);
        await assert.rejects(h.client.unary('test.checked', { n: 'x' }), (error: unknown) => {
          assert.ok(error instanceof InvalidArgumentError);
          assert.match(error.message, /n must be a number/);
          return true;
        });
      } finally {
        await h.close();
      }
    });

    it('AbortSignal cancels the call on the client and aborts the handler signal on the server', async () => {
      const h = await harness(makeTransport());
      try {
        const controller = new AbortController();
        const call = h.client.service(Test).waitForAbort(null, { signal: controller.signal });
        await new Promise((resolve) => setTimeout(resolve, 10));
        controller.abort(new Error('user gave up'));
        await assert.rejects(call, CancelledError);
        assert.equal(await h.signalAborted, 'CANCELLED');
        assert.equal(h.client.callsInFlight, 0);
      } finally {
        await h.close();
      }
    });

    it('streams items in order, then ends', async () => {
      const h = await harness(makeTransport());
      try {
        const items: number[] = [];
        for await (const item of h.client.service(Test).count({ n: 100 })) items.push(item);
        assert.deepEqual(
          items,
          Array.from({ length: 100 }, (_, i) => i),
        );
      } finally {
        await h.close();
      }
    });

    it('a stream that fails delivers its items, then the typed error', async () => {
      const h = await harness(makeTransport());
      try {
        const items: number[] = [];
        await assert.rejects(async () => {
          for await (const item of h.client.service(Test).count({ n: 10, failAt: 5 })) items.push(item);
        }, InvalidArgumentError);
        assert.deepEqual(items, [0, 1, 2, 3, 4]);
      } finally {
        await h.close();
      }
    });

    it('stream backpressure: the server produces at most a window ahead of the consumer, and stops on break', async () => {
      const h = await harness(makeTransport());
      try {
        let consumed = 0;
        for await (const _item of h.client.service(Test).forever(null)) {
          consumed++;
          // Give the server every chance to run ahead.
          for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
          // Window is 8; the generator may have one more item in hand.
          assert.ok(
            h.produced.count <= consumed + 8 + 1,
            `produced ${h.produced.count} with ${consumed} consumed`,
          );
          if (consumed === 50) break;
        }
        for (let i = 0; i < 20 && !h.produced.finished; i++)
          await new Promise((resolve) => setTimeout(resolve, 5));
        assert.equal(h.produced.finished, true, 'breaking out of for-await must end the server generator');
      } finally {
        await h.close();
      }
    });

    it('a request over messageBytesMax fails with TOO_LARGE and the connection stays usable', async () => {
      const h = await harness(makeTransport());
      try {
        const stub = h.client.service(Test);
        await stub.echo({ text: 'warm' });
        await assert.rejects(stub.echo({ text: 'x'.repeat(5 * 1024 * 1024) }), TooLargeError);
        assert.deepEqual(await stub.echo({ text: 'still fine' }), { text: 'still fine' });
      } finally {
        await h.close();
      }
    });
  });
}

describe('RPC deadlines (manual clock)', () => {
  it('timeoutMs fails the call with DEADLINE_EXCEEDED and aborts the server handler', async () => {
    const clock = new ManualClock();
    const h = await harness(new MemoryTransport(), clock);
    try {
      const call = h.client.service(Test).waitForAbort(null, { timeoutMs: 100 });
      await new Promise((resolve) => setImmediate(resolve));
      clock.advance(99);
      assert.equal(h.aborts.length, 0, 'nothing may fire before the deadline');
      clock.advance(1);
      await assert.rejects(call, DeadlineExceededError);
      const serverSaw = await h.signalAborted;
      assert.ok(['DEADLINE_EXCEEDED', 'CANCELLED'].includes(serverSaw), `server saw ${serverSaw}`);
    } finally {
      await h.close();
    }
  });

  it('the server enforces the propagated deadline on its own', async () => {
    const clock = new ManualClock();
    const transport = new MemoryTransport();
    const h = await harness(transport, clock);
    // A second client on a clock that never moves: only the server's timer can end this call.
    const frozen = new RpcClient({
      address: h.server.address as string,
      transport,
      clock: new ManualClock(),
    });
    try {
      const call = frozen.unary('test.waitForAbort', null, { timeoutMs: 50 });
      await new Promise((resolve) => setImmediate(resolve));
      clock.advance(50);
      assert.equal(await h.signalAborted, 'DEADLINE_EXCEEDED');
      await assert.rejects(call, DeadlineExceededError);
    } finally {
      frozen.close();
      await h.close();
    }
  });
});

describe('RpcServer limits', () => {
  it('refuses calls past callsInFlightPerConnectionMax with LIMIT_EXCEEDED', async () => {
    const transport = new MemoryTransport();
    const server = new RpcServer({ transport, callsInFlightPerConnectionMax: 2 });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    server.register(
      Test,
      stubHandlers({
        echo: async (request) => {
          await gate;
          return request;
        },
      }),
    );
    const client = new RpcClient({ address: await server.listen('memory:0'), transport });
    try {
      const stub = client.service(Test);
      const first = stub.echo({ text: '1' });
      const second = stub.echo({ text: '2' });
      await assert.rejects(stub.echo({ text: '3' }), LimitExceededError);
      release();
      assert.deepEqual(await Promise.all([first, second]), [{ text: '1' }, { text: '2' }]);
    } finally {
      client.close();
      await server.close({ graceMs: 0 });
    }
  });
});

describe('RpcClient connection handling', () => {
  it('fails fast with UNAVAILABLE when nothing listens, and waits with waitForReady until a server appears', async () => {
    const transport = new MemoryTransport();
    const client = new RpcClient({ address: 'memory:77', transport, backoff: { initialMs: 1, maxMs: 5 } });
    try {
      await assert.rejects(client.unary('test.echo', { text: 'x' }), UnavailableError);
      const waiting = client.unary('test.echo', { text: 'late' }, { waitForReady: true });
      const server = new RpcServer({ transport });
      server.register(Test, stubHandlers({ echo: (request) => request }));
      await server.listen('memory:77');
      assert.deepEqual(await waiting, { text: 'late' });
      assert.equal(client.state, 'ready');
      await server.close({ graceMs: 0 });
    } finally {
      client.close();
    }
  });

  it('in-flight calls fail with CONNECTION_LOST when the server goes; the client reconnects to a new server', async () => {
    const transport = new TcpTransport({ logger: new RecordingLogger() });
    const first = await harness(transport);
    const address = first.server.address as string;
    const client = new RpcClient({
      address,
      logger: new RecordingLogger(),
      backoff: { initialMs: 5, maxMs: 20 },
    });
    try {
      const stub = client.service(Test);
      assert.deepEqual(await stub.echo({ text: 'a' }), { text: 'a' });
      const pending = stub.waitForAbort(null);
      await new Promise((resolve) => setTimeout(resolve, 10));
      await first.close();
      await assert.rejects(pending, ConnectionLostError);
      assert.equal(await first.signalAborted, 'CONNECTION_LOST', 'the server handler sees the connection go');
      // Same port, new server: a waitForReady call rides the client's own reconnect.
      const second = new RpcServer({ logger: new RecordingLogger() });
      second.register(Test, stubHandlers({ echo: ({ text }) => ({ text: `second:${text}` }) }));
      await second.listen(address);
      assert.deepEqual(await stub.echo({ text: 'b' }, { waitForReady: true, timeoutMs: 5000 }), {
        text: 'second:b',
      });
      client.close();
      await second.close({ graceMs: 0 });
    } finally {
      client.close();
    }
  });

  it('close() fails pending calls with CANCELLED and later calls with UNAVAILABLE', async () => {
    const h = await harness(new MemoryTransport());
    const pending = h.client.service(Test).waitForAbort(null);
    await new Promise((resolve) => setImmediate(resolve));
    h.client.close();
    await assert.rejects(pending, CancelledError);
    await assert.rejects(h.client.service(Test).echo({ text: 'x' }), UnavailableError);
    await h.server.close({ graceMs: 0 });
  });
});

describe('RpcServer.close', () => {
  it('lets running calls finish within the grace period', async () => {
    const h = await harness(new TcpTransport({ logger: new RecordingLogger() }));
    try {
      const call = h.client.service(Test).delayedEcho({ text: 'done', turns: 20 });
      await h.delayedEchoStarted;
      await h.server.close({ graceMs: 5000 });
      assert.equal(await call, 'done');
      for (let i = 0; i < 100 && h.server.connectionCount > 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 2));
      assert.equal(h.server.connectionCount, 0, 'close() closes every connection once calls finish');
    } finally {
      h.client.close();
    }
  });
});

describe('GOAWAY', () => {
  /** A raw client connection to `address`, recording what the server sends. */
  async function rawClient(transport: MemoryTransport, address: string) {
    const received: unknown[] = [];
    const connection = await transport.dial(address);
    connection.start({ message: (message) => received.push(message), close: () => {} });
    return { connection, received };
  }

  it('the server names the last call it accepted, runs it, and never runs a later one', async () => {
    const transport = new MemoryTransport();
    const ran: string[] = [];
    const server = new RpcServer({ transport });
    server.register(
      Test,
      stubHandlers({
        echo: (request) => {
          ran.push(request.text);
          return request;
        },
      }),
    );
    const address = await server.listen('memory:0');
    const { connection, received } = await rawClient(transport, address);
    connection.send([0, 1, 'test.echo', { text: 'accepted' }, 0, 0]);
    await new Promise((resolve) => setImmediate(resolve));
    const closing = server.close({ graceMs: 1000 });
    await new Promise((resolve) => setImmediate(resolve));
    connection.send([0, 2, 'test.echo', { text: 'too late' }, 0, 0]);
    await closing;
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(ran, ['accepted']);
    assert.deepEqual(received, [
      [1, 1, { text: 'accepted' }],
      [7, 1],
    ]);
  });

  it('the client fails calls above lastId with UNAVAILABLE (safe to retry) and moves to a new connection', async () => {
    const transport = new MemoryTransport();
    let connections = 0;
    // A fake server: the first connection answers every request with GOAWAY 0; later ones echo.
    await transport.listen('memory:9', (connection) => {
      const first = connections++ === 0;
      connection.start({
        message: (message) => {
          const [, id, , payload] = message as [number, number, string, unknown];
          connection.send(first ? [7, 0] : [1, id, payload]);
        },
        close: () => {},
      });
    });
    const client = new RpcClient({ address: 'memory:9', transport });
    try {
      await assert.rejects(client.unary('test.echo', 'a'), (error: unknown) => {
        assert.ok(error instanceof UnavailableError);
        assert.match(error.message, /did not run it; safe to retry/);
        return true;
      });
      assert.equal(await client.unary('test.echo', 'b', { waitForReady: true }), 'b');
      assert.equal(connections, 2);
    } finally {
      client.close();
    }
  });
});
