import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../base/errors.ts';
import { AutoCompactor, parseAutoCompaction } from './auto-compactor.ts';

describe('parseAutoCompaction', () => {
  it('reads etcd-style retentions: durations or hours for periodic, revisions for revision, 0 for off', () => {
    assert.deepEqual(parseAutoCompaction('periodic', '1h'), { mode: 'periodic', retentionMs: 3_600_000 });
    assert.deepEqual(parseAutoCompaction('periodic', '1h30m'), { mode: 'periodic', retentionMs: 5_400_000 });
    assert.deepEqual(parseAutoCompaction('periodic', '90s'), { mode: 'periodic', retentionMs: 90_000 });
    assert.deepEqual(parseAutoCompaction('periodic', '1.5'), { mode: 'periodic', retentionMs: 5_400_000 });
    assert.deepEqual(parseAutoCompaction('periodic', '0'), { mode: 'off' });
    assert.deepEqual(parseAutoCompaction('revision', '1000'), { mode: 'revision', retention: 1000 });
    assert.deepEqual(parseAutoCompaction('revision', '0'), { mode: 'off' });
    assert.deepEqual(parseAutoCompaction('off', 'anything'), { mode: 'off' });
  });

  it('refuses an unknown mode and malformed retentions', () => {
    for (const [mode, retention] of [
      ['daily', '1h'],
      ['periodic', '1d'],
      ['periodic', '-1h'],
      ['periodic', 'h'],
      ['periodic', '1h 30m'],
      ['revision', '1h'],
      ['revision', '-5'],
      ['revision', '1.5'],
    ] as const) {
      assert.throws(() => parseAutoCompaction(mode, retention), InvalidArgumentError, `${mode} ${retention}`);
    }
  });
});

describe('AutoCompactor', () => {
  it('periodic: compacts to the revision of a retention ago, once a retention has been sampled', () => {
    const compactor = new AutoCompactor({ mode: 'periodic', retentionMs: 10_000 }, 0);
    let compacted = 0;
    const targets: Array<[number, number]> = [];
    // One revision per 100 ms tick for 30 s.
    for (let now = 0; now <= 30_000; now += 100) {
      const revision = 1 + now / 100;
      const target = compactor.due(now, revision, compacted);
      if (target > 0) {
        assert.ok(target > compacted && target < revision);
        targets.push([now, target]);
        compacted = target;
      }
    }
    // Samples every second (a tenth of the retention); the first is 10 s old at 10 s.
    assert.deepEqual(targets[0], [10_000, 1]);
    assert.deepEqual(targets[1], [11_000, 11]);
    assert.equal(targets.length, 21);
    // Always about a retention of history kept: the target is the revision of 10 s before.
    for (const [now, target] of targets) assert.equal(target, 1 + (now - 10_000) / 100);
  });

  it('periodic: a new leader (reset) waits a whole retention; nothing at or below the compact revision', () => {
    const compactor = new AutoCompactor({ mode: 'periodic', retentionMs: 1000 }, 0);
    for (let now = 0; now < 1000; now += 100) assert.equal(compactor.due(now, 50, 0), 0);
    assert.equal(compactor.due(1000, 60, 50), 0, 'the revision kept from is already compacted');
    compactor.reset(2000);
    for (let now = 2000; now < 3000; now += 100) assert.equal(compactor.due(now, 70 + now / 100, 0), 0);
    assert.equal(compactor.due(3000, 100, 0), 90);
  });

  it('revision: keeps the last N revisions, looking once per check interval', () => {
    const compactor = new AutoCompactor({ mode: 'revision', retention: 100, checkIntervalMs: 1000 }, 0);
    assert.equal(compactor.due(500, 1000, 0), 0, 'before the first check');
    assert.equal(compactor.due(1000, 1000, 0), 900);
    assert.equal(compactor.due(1500, 1200, 900), 0, 'before the next check');
    assert.equal(compactor.due(2000, 1200, 900), 1100);
    assert.equal(compactor.due(3000, 1150, 1100), 0, 'nothing new to compact');
    assert.equal(compactor.due(4000, 50, 0), 0, 'fewer revisions than kept');
  });

  it('off: never compacts', () => {
    const compactor = new AutoCompactor({ mode: 'off' }, 0);
    assert.equal(compactor.due(1e9, 1e6, 0), 0);
  });
});
