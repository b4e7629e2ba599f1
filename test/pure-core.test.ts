/**
 * The pure-core rule (docs/ARCHITECTURE.md): the consensus core, the state
 * machines and the simulator take time as ticks, randomness from an
 * injected `Random`, and do no IO. This test reads their sources and fails
 * on anything that breaks that.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const PURE_DIRS = ['src/raft', 'src/kv', 'src/sim'];

const FORBIDDEN: [RegExp, string][] = [
  [/\bfrom\s+['"]node:/, 'imports a node: module'],
  [/\bimport\(\s*['"]node:/, 'imports a node: module'],
  [/\brequire\(/, 'uses require()'],
  [
    /\bfrom\s+['"](fs|net|dgram|child_process|timers|worker_threads|os|http|https|tls)['"]/,
    'imports a Node built-in',
  ],
  [/\bDate\b/, 'uses Date'],
  [/\bperformance\.now\b/, 'reads the wall clock'],
  [/\bMath\.random\b/, 'uses Math.random'],
  [/\b(setTimeout|setInterval|setImmediate|clearTimeout|clearInterval)\b/, 'uses a timer'],
  [/\bprocess\./, 'touches process'],
];

/** Every rule a source breaks, as `line: reason`. Comments are skipped. */
export function findPurityViolations(source: string): string[] {
  const violations: string[] = [];
  source.split('\n').forEach((line, index) => {
    const code = line.replace(/\/\/.*$/, '').trim();
    if (code.startsWith('*') || code.startsWith('/*')) return;
    for (const [pattern, reason] of FORBIDDEN) {
      if (pattern.test(code)) violations.push(`${index + 1}: ${reason}: ${line.trim()}`);
    }
  });
  return violations;
}

function sourcesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourcesUnder(path);
    // Tests and test suites (`*.suite.ts`, shared by the tests of several backends) are not the core.
    const test = entry.name.endsWith('.test.ts') || entry.name.endsWith('.suite.ts');
    return entry.name.endsWith('.ts') && !test ? [path] : [];
  });
}

describe('pure-core rule', () => {
  it('findPurityViolations flags each forbidden use and passes clean code', () => {
    const dirty = [
      "import { readFile } from 'node:fs';",
      "import net from 'net';",
      'const now = Date.now();',
      'const jitter = Math.random();',
      'setTimeout(tick, 10);',
      'const t = performance.now();',
      'const env = process.env.X;',
      "const fs = require('fs');",
    ];
    for (const line of dirty) assert.equal(findPurityViolations(line).length > 0, true, `must flag: ${line}`);
    const clean = [
      "import type { Random } from '../base/random.ts';",
      'const timeout = this.random.int(this.electionTicks);',
      '// Date.now() would break replay, so ticks are counted instead.',
      ' * setTimeout is never used here.',
      'this.electionElapsed++;',
    ];
    for (const line of clean) assert.deepEqual(findPurityViolations(line), [], `must pass: ${line}`);
  });

  it('src/raft, src/kv and src/sim touch no time, randomness or IO', () => {
    const violations = PURE_DIRS.flatMap(sourcesUnder).flatMap((file) =>
      findPurityViolations(readFileSync(file, 'utf8')).map((violation) => `${file}:${violation}`),
    );
    assert.deepEqual(violations, []);
  });
});
