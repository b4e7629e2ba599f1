import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KeyValue } from '../kv/types.ts';
import {
  CoordUsageError,
  electArguments,
  exitCodeOf,
  leaderLine,
  leaderText,
  lockArguments,
  lockEnvironment,
  parseTtl,
} from './coord-commands.ts';

const endpoints = '127.0.0.1:2379,127.0.0.1:2389';

function assertUsageError(check: () => unknown, pattern: RegExp): void {
  assert.throws(check, (error: unknown) => {
    assert.ok(error instanceof CoordUsageError, `expected a CoordUsageError, got ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('parseTtl', () => {
  it('defaults to 60 s (etcdctl) and reads whole seconds', () => {
    assert.equal(parseTtl(undefined, 'lock'), 60);
    assert.equal(parseTtl('1', 'lock'), 1);
    assert.equal(parseTtl('3600', 'lock'), 3600);
  });

  it('refuses zero, negatives, fractions, exponents, hex and words, naming the value', () => {
    for (const bad of ['0', '-1', '1.5', '1e3', '0x10', '', ' ', 'ten', '99999999999999999999']) {
      assertUsageError(
        () => parseTtl(bad, 'lock'),
        new RegExp(`--ttl must be .* got ${JSON.stringify(bad)}`),
      );
    }
  });
});

describe('lockArguments', () => {
  it('holds without a command, runs the command after --', () => {
    assert.deepEqual(lockArguments('jobs', [], { endpoints }), {
      name: 'jobs',
      ttl: 60,
      endpoints: ['127.0.0.1:2379', '127.0.0.1:2389'],
      command: undefined,
      json: false,
    });
    const args = lockArguments('jobs', ['node', '-e', 'process.exit(7)'], {
      endpoints,
      ttl: '5',
      json: true,
    });
    assert.deepEqual(args.command, ['node', '-e', 'process.exit(7)']);
    assert.equal(args.ttl, 5);
    assert.equal(args.json, true);
  });

  it('refuses a missing or empty NAME, a bad --ttl and no endpoints', () => {
    assertUsageError(() => lockArguments(undefined, [], { endpoints }), /Cannot lock: give the NAME/);
    assertUsageError(() => lockArguments('', ['true'], { endpoints }), /Cannot lock: NAME is empty/);
    assertUsageError(() => lockArguments('jobs', [], { endpoints, ttl: '0' }), /--ttl/);
    assertUsageError(() => lockArguments('jobs', [], { endpoints: ' , ' }), /at least one endpoint/);
  });
});

describe('electArguments', () => {
  it('campaigns with a proposal (empty allowed) or only listens', () => {
    assert.equal(electArguments('leader', 'node-a', { endpoints }).proposal, 'node-a');
    assert.equal(electArguments('leader', '', { endpoints }).proposal, '');
    const listen = electArguments('leader', undefined, { endpoints, listen: true, json: true, ttl: '2' });
    assert.equal(listen.proposal, undefined);
    assert.equal(listen.json, true);
    assert.equal(listen.ttl, 2);
  });

  it('refuses a missing or empty NAME, no proposal without --listen, a proposal with it', () => {
    assertUsageError(() => electArguments(undefined, undefined, { endpoints }), /give the NAME/);
    assertUsageError(() => electArguments('', 'p', { endpoints }), /NAME is empty/);
    assertUsageError(() => electArguments('leader', undefined, { endpoints }), /give a PROPOSAL/);
    assertUsageError(
      () => electArguments('leader', 'p', { endpoints, listen: true }),
      /--listen only observes/,
    );
    assertUsageError(() => electArguments('leader', 'p', { endpoints, ttl: 'x' }), /--ttl/);
  });
});

describe('exitCodeOf', () => {
  it("passes the command's code through, and a killing signal as 128 + its number", () => {
    assert.equal(exitCodeOf(0, null), 0);
    assert.equal(exitCodeOf(7, null), 7);
    assert.equal(exitCodeOf(null, 'SIGINT'), 130);
    assert.equal(exitCodeOf(null, 'SIGTERM'), 143);
    assert.equal(exitCodeOf(null, 'SIGKILL'), 137);
  });
});

describe('lockEnvironment', () => {
  it("adds the lock's name, key and token to the caller's environment, without changing it", () => {
    const base = { PATH: '/bin', TESSERA_LOCK_TOKEN: 'stale' };
    const key = new TextEncoder().encode('jobs/3f2a');
    const fence = { lock: new TextEncoder().encode('jobs'), token: 42 };
    const env = lockEnvironment(base, 'jobs', { key, token: 42, fence });
    assert.deepEqual(env, {
      PATH: '/bin',
      TESSERA_LOCK_NAME: 'jobs',
      TESSERA_LOCK_KEY: 'jobs/3f2a',
      TESSERA_LOCK_TOKEN: '42',
    });
    assert.equal(base.TESSERA_LOCK_TOKEN, 'stale');
  });
});

describe('leaderLine and leaderText', () => {
  const encoder = new TextEncoder();
  const leader: KeyValue = {
    key: encoder.encode('scheduler/694d77aa'),
    value: encoder.encode('node-a'),
    createRevision: 12,
    modRevision: 15,
    version: 2,
    lease: 0x694d77aa,
  };

  it('print the key, proposal, create revision and lease in hexadecimal', () => {
    assert.deepEqual(leaderLine(leader), {
      key: 'scheduler/694d77aa',
      value: 'node-a',
      revision: 12,
      lease: '694d77aa',
    });
    assert.equal(leaderText(leader), 'scheduler/694d77aa\nnode-a');
  });
});
