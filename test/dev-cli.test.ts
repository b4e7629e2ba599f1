/**
 * `tessera dev --json`: a local cluster of member processes that elects a
 * leader, prints one JSON line, takes writes, and stops every member on
 * SIGINT.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { isProcessAlive } from '../src/base/process.ts';
import { getCommand, type KeyLine, putCommand } from '../src/cli/client-commands.ts';
import { MEMBER_NODE_FLAGS } from '../src/cli/dev.ts';
import type { TxnResponseLine } from '../src/cli/txn-command.ts';
import { freePortBlock } from './helpers/cluster.ts';

const BIN = new URL('../bin/tessera.js', import.meta.url).pathname;

/** Runs the `tessera` command; resolves with its stdout, rejects with its stderr when it fails. */
function tessera(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 20_000 }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else reject(new Error(`tessera ${args.join(' ')}: ${stderr || error.message}`));
    });
  });
}

/** Runs the `tessera` command with `input` on its stdin; resolves with its exit code and output. */
function tesseraWithInput(
  input: string,
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { timeout: 20_000 }, (_error, stdout, stderr) =>
      resolve({ code: child.exitCode, stdout, stderr }),
    );
    child.stdin?.end(input);
  });
}

describe('tessera dev', { timeout: 60_000 }, () => {
  it('starts 3 members, prints them once a leader exists, serves writes, and stops them all on SIGINT', async () => {
    const data = mkdtempSync(join(tmpdir(), 'tessera-dev-'));
    // `tessera dev` gives member i the ports base+10i (client), +1 (peer), +2 (HTTP), +3 (etcd gRPC).
    const basePort = await freePortBlock([0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]);
    const child = spawn(
      process.execPath,
      [BIN, 'dev', '--nodes', '3', '--data', data, '--base-port', String(basePort), '--json'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    // The members' PIDs once printed: a failed assertion must not leave them running (SIGKILL on
    // `tessera dev` cannot be caught, so it cannot stop them itself).
    let memberPids: number[] = [];
    try {
      const line = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no JSON line in 30 s')), 30_000);
        createInterface({ input: child.stdout }).once('line', (l) => {
          clearTimeout(timer);
          resolve(l);
        });
        child.once('exit', (code) => reject(new Error(`tessera dev exited ${code}`)));
      });
      const { nodes } = JSON.parse(line) as {
        nodes: { name: string; client: string; peer: string; http: string; etcd: string; pid: number }[];
      };
      memberPids = nodes.map((n) => n.pid);
      assert.deepEqual(
        nodes.map((n) => n.name),
        ['n1', 'n2', 'n3'],
      );
      assert.equal(nodes[0]?.client, `127.0.0.1:${basePort}`);
      assert.equal(nodes[2]?.etcd, `127.0.0.1:${basePort + 23}`);
      for (const node of nodes) {
        assert.ok(isProcessAlive(node.pid), `${node.name} (pid ${node.pid}) is running`);
        // Started with the member's Node flags (a larger young generation, see MEMBER_NODE_FLAGS).
        const argv = readFileSync(`/proc/${node.pid}/cmdline`, 'utf8').split('\0');
        for (const flag of MEMBER_NODE_FLAGS)
          assert.ok(argv.includes(flag), `${node.name} runs with ${flag}`);
      }
      const endpoints = nodes.map((n) => n.client);
      await putCommand([endpoints[1] as string], 'hello', 'world');
      assert.equal((await getCommand([endpoints[2] as string], 'hello', false)).value, 'world');
      // The KV commands as a user runs them, against the MVCC store.
      const cli = (...args: string[]) => tessera(...args, '--endpoints', endpoints.join(','));
      await cli('put', 'app/a', '1');
      await cli('put', 'app/b', '2');
      await cli('put', 'app/a', '3');
      const all = JSON.parse(await cli('get', 'app/', '--prefix', '--json')) as {
        kvs: { key: string; value: string; version: number; modRevision: number }[];
        revision: number;
      };
      assert.deepEqual(
        all.kvs.map((kv) => [kv.key, kv.value, kv.version]),
        [
          ['app/a', '3', 2],
          ['app/b', '2', 1],
        ],
      );
      const firstA = (all.kvs[1]?.modRevision as number) - 1;
      assert.equal((await cli('get', 'app/a', '--rev', String(firstA))).trim(), '1', 'a past revision');
      assert.equal((await cli('del', 'app/', '--prefix')).trim(), '2');
      await cli('compact', String(all.revision));
      await assert.rejects(cli('get', 'app/a', '--rev', String(firstA)), /COMPACTED|compacted/);
      assert.equal((await cli('get', 'app/', '--prefix', '--json')).includes('"kvs":[]'), true);

      // A transaction from stdin, as etcdctl txn: a compare-and-set applies once, then fails.
      const txn = (input: string, ...args: string[]) =>
        tesseraWithInput(input, 'txn', ...args, '--endpoints', endpoints.join(','));
      await cli('put', 'cas', 'v1');
      const cas = 'value("cas") = "v1"\n\nput cas "v2"\n\nget cas\n';
      assert.deepEqual(await txn(cas).then(({ code, stdout }) => ({ code, stdout })), {
        code: 0,
        stdout: 'SUCCESS\n\nOK\n',
      });
      const lost = await txn(cas, '--json');
      assert.equal(lost.code, 0, lost.stderr);
      const { succeeded, responses } = JSON.parse(lost.stdout) as TxnResponseLine;
      assert.equal(succeeded, false);
      assert.ok(responses.length === 1 && responses[0]?.type === 'range', lost.stdout);
      assert.deepEqual(
        responses[0].response.kvs.map((kv) => [kv.key, kv.value, kv.version]),
        [['cas', 'v2', 2]],
      );
      // A line that does not parse exits 2 and sends nothing, not even the requests before it.
      const bad = await txn('value("cas") = "v2"\n\nput cas "v3"\n\nfrob cas\n');
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /line 5 `frob cas`: unknown request "frob"/);
      const [casKey] = (JSON.parse(await cli('get', 'cas', '--json')) as { kvs: KeyLine[] }).kvs;
      assert.deepEqual([casKey?.value, casKey?.version], ['v2', 2], 'the key changed once');

      // A watch process sees the changes made meanwhile, in order, each once.
      const watcher = spawn(
        process.execPath,
        [BIN, 'watch', 'w/', '--prefix', '--json', '--endpoints', endpoints.join(',')],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      try {
        const lines: string[] = [];
        createInterface({ input: watcher.stdout }).on('line', (line) => lines.push(line));
        // The watch starts at the next revision once open; write until it reports the marker key.
        const markerBy = Date.now() + 15_000;
        while (!lines.some((line) => line.includes('"w/ready"'))) {
          assert.ok(Date.now() < markerBy, 'the watch opened within 15 s');
          await cli('put', 'w/ready', 'x');
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        const seenBefore = lines.length;
        await cli('put', 'w/one', '1');
        await cli('put', 'w/one', '2');
        await cli('del', 'w/one');
        const changesBy = Date.now() + 15_000;
        while (lines.length < seenBefore + 3) {
          assert.ok(Date.now() < changesBy, 'the watch printed the changes within 15 s');
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const changes = lines
          .slice(seenBefore)
          .map((line) => JSON.parse(line) as { type: string; key: string; value: string });
        assert.deepEqual(
          changes.map((c) => [c.type, c.key, c.value]),
          [
            ['put', 'w/one', '1'],
            ['put', 'w/one', '2'],
            ['delete', 'w/one', ''],
          ],
        );
      } finally {
        watcher.kill('SIGINT');
      }

      // Leases: ids in hexadecimal as etcdctl prints them; every member takes every lease call.
      const granted = /^lease ([0-9a-f]+) granted with TTL\(60s\)$/.exec(
        (await cli('lease', 'grant', '60')).trim(),
      );
      assert.ok(granted !== null, 'lease grant prints the id');
      const leaseId = granted[1] as string;
      await cli('put', 'session/x', 'alive', '--lease', leaseId);
      for (const endpoint of endpoints) {
        const kept = await tessera('lease', 'keep-alive', leaseId, '--once', '--endpoints', endpoint);
        assert.equal(kept.trim(), `lease ${leaseId} keepalived with TTL(60)`);
        const info = JSON.parse(
          await tessera('lease', 'timetolive', leaseId, '--keys', '--json', '--endpoints', endpoint),
        ) as { ttl: number; grantedTtl: number; keys: string[] };
        assert.equal(info.grantedTtl, 60);
        assert.ok(info.ttl > 50 && info.ttl <= 60, `remaining ${info.ttl}`);
        assert.deepEqual(info.keys, ['session/x']);
      }
      assert.match(await cli('lease', 'list'), new RegExp(`^found 1 leases\n${leaseId}\n$`));
      assert.equal(
        (await cli('lease', 'revoke', leaseId)).trim(),
        `lease ${leaseId} revoked (1 keys deleted)`,
      );
      await assert.rejects(cli('get', 'session/x'));
      await assert.rejects(cli('lease', 'keep-alive', leaseId, '--once'), /LEASE_NOT_FOUND|does not exist/);
      // A lease left alone expires on the leader's clock, and its key goes with it.
      const short = /^lease ([0-9a-f]+) granted/.exec(
        (await cli('lease', 'grant', '2')).trim(),
      )?.[1] as string;
      await cli('put', 'session/y', 'brief', '--lease', short);
      const expiresBy = Date.now() + 20_000;
      while ((await cli('get', 'session/y', '--json')).includes('brief')) {
        assert.ok(Date.now() < expiresBy, 'the 2 s lease expired within 20 s');
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.equal(
        (JSON.parse(await cli('lease', 'timetolive', short, '--json')) as { ttl: number }).ttl,
        -1,
      );
      assert.deepEqual(JSON.parse(await cli('lease', 'list', '--json')), { leases: [] });

      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGINT');
      assert.equal(await exited, 0);
      for (const node of nodes)
        assert.equal(isProcessAlive(node.pid), false, `${node.name} (pid ${node.pid}) was stopped`);
    } finally {
      child.kill('SIGKILL');
      for (const pid of memberPids) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(data, { recursive: true, force: true });
    }
  });
});
