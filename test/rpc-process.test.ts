/**
 * RPC across real processes, with a server killed by SIGKILL mid-load.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { ConnectionLostError, UnavailableError } from '../src/base/errors.ts';
import { RecordingLogger } from '../src/base/logger.ts';
import { RpcClient } from '../src/transport/rpc-client.ts';
import { ProcessEcho } from './fixtures/rpc-echo-server.ts';

const serverScript = new URL('./fixtures/rpc-echo-server.ts', import.meta.url).pathname;
const children = new Set<ChildProcess>();

after(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

/** Starts a server process; resolves with its address once it listens (10 s at most). */
function startServer(address: string): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', serverScript, address], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start within 10 s')), 10_000);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening=(\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, address: match[1] as string });
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited early with ${code}`)));
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('RPC with a server process killed by SIGKILL', () => {
  it('in-flight calls fail CONNECTION_LOST, new calls fail fast UNAVAILABLE, and the client reconnects to the restarted server', async () => {
    const first = await startServer('127.0.0.1:0');
    const client = new RpcClient({
      address: first.address,
      logger: new RecordingLogger(),
      backoff: { initialMs: 10, maxMs: 100 },
    });
    try {
      const echo = client.service(ProcessEcho);
      // A steady load, and one call that is certainly in flight.
      for (let n = 0; n < 200; n++) assert.equal((await echo.echo(n)).n, n);
      const hanging = assert.rejects(echo.hang(null), ConnectionLostError);
      const load = Promise.allSettled(Array.from({ length: 100 }, (_, n) => echo.echo(n)));
      await killed(first.child);

      await hanging;
      for (const outcome of await load) {
        // Each call either completed before the kill or reports an unknown outcome; never a silent hang.
        if (outcome.status === 'rejected')
          assert.ok(
            outcome.reason instanceof ConnectionLostError || outcome.reason instanceof UnavailableError,
          );
      }
      // Wait (bounded) until the client has noticed the refused redial.
      for (let i = 0; i < 200 && client.state !== 'backoff'; i++)
        await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal(client.state, 'backoff');
      await assert.rejects(echo.echo(1), UnavailableError);

      const second = await startServer(first.address);
      const answer = await echo.echo(7, { waitForReady: true, timeoutMs: 10_000 });
      assert.equal(answer.n, 7);
      assert.equal(answer.pid, second.child.pid, 'the answer comes from the restarted process');
      assert.equal(client.state, 'ready');
      await killed(second.child);
    } finally {
      client.close();
    }
  });
});
