/**
 * The README's code is real: every block marked `<!-- example: FILE -->` must
 * be that file (importing from 'tessera' instead of '../src/index.ts'), and
 * every example must run and print what it shows.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const root = new URL('../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');

const expectedOutput: Record<string, string[]> = {
  'examples/concurrency.ts': ['5 results', 'timed out', 'group failed: disk full'],
  'examples/rpc.ts': [
    '{ left: 7 }',
    'INVALID_ARGUMENT Cannot reserve 100 apple: only 7 left',
    'apples left: 7',
    'apples left: 7',
    'apples left: 7',
  ],
};

describe('README examples', () => {
  const blocks = [...readme.matchAll(/<!-- example: (\S+) -->\n```ts\n([\s\S]*?)```/g)];

  it('every example file is shown in the README', () => {
    assert.deepEqual(blocks.map((block) => block[1]).sort(), Object.keys(expectedOutput).sort());
  });

  for (const [, file, block] of blocks) {
    it(`${file} matches its README block`, () => {
      const source = readFileSync(new URL(file as string, root), 'utf8').replaceAll(
        "'../src/index.ts'",
        "'tessera'",
      );
      assert.equal(block, source);
    });

    it(`${file} runs and prints what it shows`, () => {
      const output = execFileSync(process.execPath, ['--import', 'tsx', file as string], {
        cwd: root,
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.deepEqual(output.trim().split('\n'), expectedOutput[file as string]);
    });
  }
});
