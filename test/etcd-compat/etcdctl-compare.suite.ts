/**
 * The verdict on one step of the etcdctl script, run against etcd and
 * Tessera: Tessera's transcript must be the expected one, and the two
 * normalized transcripts must be equal, unless the known-differences table
 * names the step, in which case they must still differ (so the table stays
 * true). Pure: the test runs the steps and asserts on the verdict. Not part
 * of the build (`*.suite.ts`).
 *
 * @module
 */
import type { KnownDifference } from './etcdctl-differences.suite.ts';
import { rewrite } from './etcdctl-normalize.suite.ts';
import type { Step } from './etcdctl-steps.suite.ts';

/** Width of each column of {@link sideBySide}. */
const COLUMN_WIDTH = 72;

/** One step's normalized transcripts (and invariant results) on both sides. */
export interface StepTranscripts {
  readonly etcd: string;
  readonly tessera: string;
  /** What the step's invariant found wrong on each side's raw transcript. */
  readonly etcdProblem?: string | undefined;
  readonly tesseraProblem?: string | undefined;
}

/** What the test does with a step: pass quietly, pass showing a known difference, or fail saying why. */
export type Verdict =
  | { readonly kind: 'same' }
  | { readonly kind: 'known'; readonly report: string }
  | { readonly kind: 'failed'; readonly report: string };

/**
 * Two texts in two columns, line by line (long lines wrapped), with `≠`
 * between lines that differ.
 *
 * @example
 * ```ts
 * sideBySide('a\nb\n', 'a\nc\n', ['etcd', 'tessera']);
 * ```
 */
export function sideBySide(left: string, right: string, titles: readonly [string, string]): string {
  const pieces = (line: string): string[] =>
    line === '' ? [''] : (line.match(new RegExp(`.{1,${COLUMN_WIDTH}}`, 'gu')) ?? ['']);
  const leftLines = left.split('\n');
  const rightLines = right.split('\n');
  const rows = [
    `${titles[0].padEnd(COLUMN_WIDTH)}   ${titles[1]}`,
    `${'-'.repeat(COLUMN_WIDTH)}   ${'-'.repeat(COLUMN_WIDTH)}`,
  ];
  for (let i = 0; i < Math.max(leftLines.length, rightLines.length); i++) {
    const l = leftLines[i] ?? '';
    const r = rightLines[i] ?? '';
    const mark = l === r ? ' ' : '≠';
    const [lp, rp] = [pieces(l), pieces(r)];
    for (let j = 0; j < Math.max(lp.length, rp.length); j++) {
      rows.push(`${(lp[j] ?? '').padEnd(COLUMN_WIDTH)} ${j === 0 ? mark : ' '} ${rp[j] ?? ''}`);
    }
  }
  return rows.join('\n');
}

/** Whether Tessera's transcript is the expected one (a pattern must match it, a string equal it). */
function asExpected(step: Step, tessera: string): boolean {
  return typeof step.expected === 'string' ? tessera === step.expected : step.expected.test(tessera);
}

/** `text` with the invariant's complaint, if any, appended. */
function withProblem(text: string, problem: string | undefined): string {
  return problem === undefined ? text : `${text}!!! ${problem}\n`;
}

/**
 * The verdict on `step` given its transcripts and the table entry that names
 * it, if any.
 */
export function judgeStep(
  step: Step,
  transcripts: StepTranscripts,
  known: KnownDifference | undefined,
): Verdict {
  const failures: string[] = [];
  if (!asExpected(step, transcripts.tessera)) {
    const expected = typeof step.expected === 'string' ? step.expected : `(pattern) ${step.expected.source}`;
    failures.push(
      `Tessera's output is not the expected one:\n${sideBySide(expected, transcripts.tessera, ['expected', 'tessera'])}`,
    );
  }
  if (transcripts.etcdProblem !== undefined) {
    failures.push(
      `The step's invariant fails on etcd itself (so the script is wrong): ${transcripts.etcdProblem}`,
    );
  }
  if (transcripts.tesseraProblem !== undefined) {
    failures.push(`Tessera breaks what etcd keeps: ${transcripts.tesseraProblem}`);
  }
  const compareAs = step.compareAs ?? [];
  const etcd = withProblem(rewrite(transcripts.etcd, compareAs), transcripts.etcdProblem);
  const tessera = withProblem(rewrite(transcripts.tessera, compareAs), transcripts.tesseraProblem);
  const columns = sideBySide(etcd, tessera, ['etcd (normalized)', 'tessera (normalized)']);
  if (etcd === tessera && known !== undefined) {
    failures.push(
      `The known-differences table says "${known.what}", but etcd and Tessera now print the same: remove the entry.\n${columns}`,
    );
  } else if (etcd !== tessera && known === undefined) {
    failures.push(
      `etcd and Tessera differ, and the known-differences table does not explain it:\n${columns}`,
    );
  }
  if (failures.length > 0)
    return { kind: 'failed', report: `Step "${step.name}":\n${failures.join('\n\n')}` };
  if (known !== undefined) {
    return { kind: 'known', report: `Known difference: ${known.what}\nWhy: ${known.why}\n${columns}` };
  }
  return { kind: 'same' };
}
