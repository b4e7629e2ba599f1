/**
 * etcd's own `etcdctl` (3.4, v3 API), unchanged, against a 3-member
 * `tessera dev` cluster and a 3-member real etcd cluster in the same run,
 * step by step: each step's output on Tessera must be the expected one, and
 * the two outputs, normalized (ids, addresses, terms, timings become
 * placeholders; revisions stay), must be equal unless the known-differences
 * table (`etcdctl-differences.suite.ts`) explains the difference. Skipped,
 * saying so, where etcdctl or etcd is not installed (Debian: `etcd-client`,
 * `etcd-server`; `.ci/run` installs both).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ETCDCTL_INSTALLED, ETCDCTL_MISSING } from '../../src/api/etcd/etcd-cluster.suite.ts';
import { ETCD_MISSING, etcdInstalled } from '../helpers/etcd-server.ts';
import {
  type ComparedSide,
  learnerPeerUrl,
  type RunningSide,
  startEtcdSide,
  startTesseraSide,
} from './etcdctl-clusters.suite.ts';
import { judgeStep, sideBySide } from './etcdctl-compare.suite.ts';
import { KNOWN_DIFFERENCES } from './etcdctl-differences.suite.ts';
import { normalized } from './etcdctl-normalize.suite.ts';
import { killStrayEtcdctls } from './etcdctl-process.suite.ts';
import { RECIPE_NAMES, SCRIPT } from './etcdctl-script.suite.ts';
import { CHECK_PERF_TIMEOUT_MS, runCheckPerf, runStep } from './etcdctl-steps.suite.ts';

/** Why the suite cannot run here, if it cannot. */
const SKIP_REASON = !ETCDCTL_INSTALLED ? ETCDCTL_MISSING : !etcdInstalled() ? ETCD_MISSING : undefined;

/** The lines of `check perf` that give its verdict (the rest is a progress bar redrawn with `\r`). */
function perfVerdict(output: string): string {
  return output
    .split(/[\r\n]+/)
    .filter((line) => /^(PASS|FAIL)/.test(line))
    .join('\n');
}

describe('etcdctl against tessera dev and etcd, side by side', {
  skip: SKIP_REASON ?? false,
  timeout: 300_000,
}, () => {
  const started: RunningSide[] = [];
  let etcd: ComparedSide | undefined;
  let tessera: ComparedSide | undefined;

  before(async () => {
    const sides = await Promise.allSettled([startEtcdSide(), startTesseraSide()]);
    for (const side of sides) if (side.status === 'fulfilled') started.push(side.value);
    const failure = sides.find((side) => side.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
    [etcd, tessera] = started.map((running) => running.side);
    if (etcd === undefined || tessera === undefined) return;
    const fakePeer = await learnerPeerUrl(tessera);
    for (const side of [etcd, tessera]) side.vars.set('fakePeer', fakePeer);
  });

  after(async () => {
    killStrayEtcdctls();
    await Promise.all(started.map((running) => running.stop()));
  });

  it('names only steps of the script in the known-differences table, each once', () => {
    const names = new Set(SCRIPT.map((step) => step.name));
    assert.equal(names.size, SCRIPT.length, 'step names are unique');
    for (const known of KNOWN_DIFFERENCES)
      assert.ok(names.has(known.step), `no step "${known.step}" in the script`);
    const listed = KNOWN_DIFFERENCES.map((known) => known.step);
    assert.equal(new Set(listed).size, listed.length, 'one entry per step');
  });

  for (const step of SCRIPT) {
    it(step.name, async (t) => {
      if (etcd === undefined || tessera === undefined) assert.fail('the clusters did not start');
      // The two clusters are independent: the step runs on both at once.
      const [etcdRaw, tesseraRaw] = await Promise.all([runStep(step, etcd), runStep(step, tessera)]);
      const verdict = judgeStep(
        step,
        {
          etcd: normalized(etcdRaw, etcd, RECIPE_NAMES),
          tessera: normalized(tesseraRaw, tessera, RECIPE_NAMES),
          etcdProblem: step.invariant?.(etcdRaw),
          tesseraProblem: step.invariant?.(tesseraRaw),
        },
        KNOWN_DIFFERENCES.find((known) => known.step === step.name),
      );
      if (verdict.kind === 'failed') assert.fail(verdict.report);
      if (verdict.kind === 'known') for (const line of verdict.report.split('\n')) t.diagnostic(line);
    });
  }

  it('check perf --load=s: Tessera passes (etcd, loaded at the same time, beside it)', {
    timeout: CHECK_PERF_TIMEOUT_MS + 10_000,
  }, async (t) => {
    if (etcd === undefined || tessera === undefined) assert.fail('the clusters did not start');
    const [etcdPerf, tesseraPerf] = await Promise.all([runCheckPerf(etcd), runCheckPerf(tessera)]);
    const [etcdVerdict, tesseraVerdict] = [perfVerdict(etcdPerf), perfVerdict(tesseraPerf)];
    for (const line of sideBySide(etcdVerdict, tesseraVerdict, ['etcd', 'tessera']).split('\n'))
      t.diagnostic(line);
    assert.match(tesseraVerdict, /\nPASS$/, `check perf on Tessera:\n${tesseraPerf}`);
    assert.doesNotMatch(tesseraVerdict, /FAIL/, `check perf on Tessera:\n${tesseraPerf}`);
  });
});
