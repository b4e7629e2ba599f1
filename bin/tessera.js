#!/usr/bin/env node
// The `tessera` command. In a checkout the TypeScript sources run directly
// through tsx (no build step between an edit and a run); an installed
// package runs its compiled dist/.
import { existsSync } from 'node:fs';
import { register } from 'tsx/esm/api';

const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  register();
  await import(source.href);
} else {
  await import(new URL('../dist/cli/main.js', import.meta.url).href);
}
