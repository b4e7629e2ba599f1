import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InvalidArgumentError } from '../base/errors.ts';
import { envName, flagName, parseInitialCluster, resolveConfig } from './config.ts';
import { STATE_FREE_BYTES_MIN_DEFAULT } from './state.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('member configuration', () => {
  it('takes flags over TESSERA_* variables over the file, with defaults for the rest', () => {
    const file = join(dir, 'c.yaml');
    writeFileSync(file, `name: from-file\ndata: ${join(dir, 'd1')}\ntickMs: 50\nlogLevel: warn\n`);
    const config = resolveConfig({
      flags: { tickMs: '20' },
      env: { TESSERA_LOG_LEVEL: 'debug', TESSERA_NAME: 'from-env' },
      file,
    });
    assert.equal(config.name, 'from-env');
    assert.equal(config.tickMs, 20);
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.listenClient, '127.0.0.1:2379');
    assert.equal(config.stateFreeBytesMin, STATE_FREE_BYTES_MIN_DEFAULT);
    assert.equal(
      resolveConfig({
        flags: { name: 'a', data: join(dir, 'd1') },
        env: { TESSERA_STATE_FREE_BYTES_MIN: '0' },
      }).stateFreeBytesMin,
      0,
    );
    assert.deepEqual([...config.initialCluster], [['from-env', '127.0.0.1:2380']]);
    assert.equal(envName('listenPeer'), 'TESSERA_LISTEN_PEER');
    assert.equal(flagName('listenPeer'), '--listen-peer');
  });

  it('refuses unknown keys, bad ports, bad names, a missing name and an unusable data directory', () => {
    const bad = (sources: Parameters<typeof resolveConfig>[0], pattern: RegExp) =>
      assert.throws(
        () => resolveConfig(sources),
        (error: Error) => error instanceof InvalidArgumentError && pattern.test(error.message),
      );
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ name: 'a', data: dir, listenPeers: 'x' }));
    bad({ flags: {}, file }, /Unknown setting "listenPeers"/);
    bad({ flags: { name: 'a', data: dir, listenClient: '127.0.0.1:99999' } }, /--listen-client.*port/);
    bad({ flags: { name: 'a', data: dir, listenHttp: 'nohost' } }, /--listen-http/);
    bad({ flags: { name: 'bad name', data: dir } }, /Bad member name/);
    bad({ flags: { data: dir } }, /Missing setting: give --name/);
    const notADir = join(dir, 'plain-file');
    writeFileSync(notADir, '');
    bad({ flags: { name: 'a', data: join(notADir, 'sub') } }, /--data: cannot use data directory/);
    bad({ flags: { name: 'a', data: dir, tickMs: '0' } }, /--tick-ms must be an integer/);
    bad(
      { flags: { name: 'a', data: dir, stateFreeBytesMin: '-1' } },
      /--state-free-bytes-min must be an integer/,
    );
    bad({ flags: { name: 'a', data: dir, initialCluster: 'b=127.0.0.1:1' } }, /must name this member/);
  });

  it('reads auto-compaction like etcd: periodic one hour by default, revision or off when asked', () => {
    const base = { name: 'a', data: join(dir, 'ac') };
    assert.deepEqual(resolveConfig({ flags: base }).autoCompaction, {
      mode: 'periodic',
      retentionMs: 3_600_000,
    });
    assert.deepEqual(
      resolveConfig({ flags: { ...base, autoCompactionMode: 'revision', autoCompactionRetention: '1000' } })
        .autoCompaction,
      { mode: 'revision', retention: 1000 },
    );
    assert.deepEqual(
      resolveConfig({ flags: base, env: { TESSERA_AUTO_COMPACTION_RETENTION: '0' } }).autoCompaction,
      { mode: 'off' },
    );
    assert.throws(
      () =>
        resolveConfig({ flags: { ...base, autoCompactionMode: 'revision', autoCompactionRetention: '1h' } }),
      (error: Error) =>
        error instanceof InvalidArgumentError && /--auto-compaction-retention/.test(error.message),
    );
  });

  it('parses --initial-cluster and refuses malformed or repeated entries', () => {
    assert.deepEqual(
      [...parseInitialCluster('a=127.0.0.1:1, b=127.0.0.1:2')],
      [
        ['a', '127.0.0.1:1'],
        ['b', '127.0.0.1:2'],
      ],
    );
    assert.throws(() => parseInitialCluster('a'), InvalidArgumentError);
    assert.throws(() => parseInitialCluster('a=1.2.3.4:5,a=1.2.3.4:6'), /twice/);
  });
});
