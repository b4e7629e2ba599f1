import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { UnavailableError } from '../base/errors.ts';
import { RecordingLogger } from '../base/logger.ts';
import { encodeFrames } from '../codec/frame.ts';
import { encode } from '../codec/msgpack.ts';
import { parseAddress } from './message-connection.ts';
import { RpcClient } from './rpc-client.ts';
import { RpcServer } from './rpc-server.ts';
import { defineService, unary } from './service.ts';
import { TcpTransport } from './tcp-transport.ts';

const Echo = defineService('echo', { echo: unary<string, string>() });
const fixtures = new URL('../../test/fixtures/tls/', import.meta.url);
const tlsFiles = {
  ca: readFileSync(new URL('ca.pem', fixtures)),
  cert: readFileSync(new URL('server.pem', fixtures)),
  key: readFileSync(new URL('server-key.pem', fixtures)),
};

async function echoServer(
  logger: RecordingLogger,
  tls?: boolean,
): Promise<{ server: RpcServer; address: string }> {
  const server = new RpcServer({
    logger,
    ...(tls ? { tls: { cert: tlsFiles.cert, key: tlsFiles.key } } : {}),
  });
  server.register(Echo, { echo: (text) => text });
  return { server, address: await server.listen('127.0.0.1:0') };
}

/** Writes raw bytes to the server and resolves when the server closes the socket. */
function sendRaw(address: string, bytes: Buffer): Promise<void> {
  const { host, port } = parseAddress(address);
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host, port }, () => socket.write(bytes));
    socket.on('error', () => {});
    socket.on('close', () => resolve());
    setTimeout(() => reject(new Error('server did not close the connection')), 5000).unref();
  });
}

function frameHeader(bodyBytes: number): Buffer {
  const header = Buffer.alloc(10);
  header[0] = 0x54;
  header[1] = 1;
  header.writeUInt32BE(bodyBytes, 2);
  return header;
}

describe('TcpTransport bad input', () => {
  const cases: [string, Buffer, string][] = [
    ['garbage bytes', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'PROTOCOL'],
    ['a frame declaring 1 GiB', frameHeader(1 << 30), 'TOO_LARGE'],
    [
      'a frame with a bad checksum',
      (() => {
        const frame = encodeFrames([encode([0, 1, 'echo.echo', 'hi', 0, 0])]);
        frame[frame.length - 1] = (frame[frame.length - 1] ?? 0) ^ 0xff;
        return frame;
      })(),
      'BAD_CHECKSUM',
    ],
    ['a valid frame holding no valid RPC message', encodeFrames([encode({ hello: 'world' })]), 'PROTOCOL'],
  ];
  for (const [name, bytes, code] of cases) {
    it(`closes the connection on ${name}, logs ${code}, and keeps serving others`, async () => {
      const logger = new RecordingLogger();
      const { server, address } = await echoServer(logger);
      const client = new RpcClient({ address, logger });
      try {
        await client.connect();
        await sendRaw(address, bytes);
        const warning = logger.records.find((record) => record.level === 'warn');
        assert.ok(warning, 'the bad connection must be logged');
        const loggedCode = (warning.fields as { err?: { code?: string } }).err?.code;
        assert.equal(loggedCode, code);
        assert.equal(await client.service(Echo).echo('still here'), 'still here');
      } finally {
        client.close();
        await server.close({ graceMs: 0 });
      }
    });
  }
});

describe('TcpTransport TLS', () => {
  it('serves calls over TLS with the same API', async () => {
    const logger = new RecordingLogger();
    const { server, address } = await echoServer(logger, true);
    const client = new RpcClient({ address, logger, tls: { ca: tlsFiles.ca, servername: 'localhost' } });
    try {
      assert.equal(await client.service(Echo).echo('secret'), 'secret');
    } finally {
      client.close();
      await server.close({ graceMs: 0 });
    }
  });

  it('refuses a client that does not trust the server certificate', async () => {
    const logger = new RecordingLogger();
    const { server, address } = await echoServer(logger, true);
    const client = new RpcClient({ address, logger, tls: { servername: 'localhost' } });
    try {
      await assert.rejects(client.service(Echo).echo('x'), UnavailableError);
    } finally {
      client.close();
      await server.close({ graceMs: 0 });
    }
  });

  it('a plaintext client cannot talk to a TLS server', async () => {
    const logger = new RecordingLogger();
    const { server, address } = await echoServer(logger, true);
    const client = new RpcClient({ address, logger });
    try {
      await assert.rejects(client.service(Echo).echo('x', { timeoutMs: 2000 }));
    } finally {
      client.close();
      await server.close({ graceMs: 0 });
    }
  });
});

describe('TcpTransport dial', () => {
  it('fails with UNAVAILABLE when nothing listens', async () => {
    const transport = new TcpTransport({ logger: new RecordingLogger() });
    const { server, address } = await echoServer(new RecordingLogger());
    await server.close({ graceMs: 0 });
    await assert.rejects(transport.dial(address), UnavailableError);
  });
});
