/**
 * `tessera sim` as a user runs it: a separate process, its JSON line and its exit code.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

const bin = new URL('../bin/tessera.js', import.meta.url).pathname;

function sim(...args: string[]): { status: number | null; lines: string[]; stderr: string } {
  const result = spawnSync(process.execPath, [bin, 'sim', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, lines: result.stdout.trim().split('\n'), stderr: result.stderr };
}

describe('tessera sim', () => {
  it('ends with one JSON line and exits 0 when every seed passes', () => {
    const { status, lines } = sim('--seeds', '3', '--start', '5', '--json');
    assert.equal(status, 0);
    const summary = JSON.parse(lines[lines.length - 1] as string) as Record<string, unknown>;
    assert.equal(summary['runs'], 3);
    assert.equal(summary['violations'], 0);
    assert.ok((summary['opsChecked'] as number) > 0);
  });

  it('prints seed=N for a failing seed and exits non-zero', () => {
    const { status, lines } = sim('--seeds', '1', '--start', '2', '--bug', 'commit-without-quorum', '--json');
    assert.equal(status, 1);
    assert.match(lines[0] as string, /^seed=2 /);
    assert.deepEqual(
      (JSON.parse(lines[lines.length - 1] as string) as { failingSeeds: number[] }).failingSeeds,
      [2],
    );
  });

  it('reports a stale linearizable range (--bug range-stale-read) as a revisions violation', () => {
    const { status, lines } = sim('--seeds', '1', '--start', '1', '--bug', 'range-stale-read', '--json');
    assert.equal(status, 1);
    assert.match(
      lines[0] as string,
      /^seed=1 nodes=\d revisions: .*"op":"range".*returned before it was called/,
    );
  });

  it('refuses an unknown bug name with a clear error', () => {
    const { status, stderr } = sim('--bug', 'no-such-bug');
    assert.notEqual(status, 0);
    assert.match(stderr, /unknown bug no-such-bug/);
  });
});
