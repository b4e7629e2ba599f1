#!/usr/bin/env node
// Completes package-lock.json for optional platform packages that the npm
// registry mirror on our machines does not serve (it 404s, e.g., darwin and
// win32 builds of @biomejs/cli and msgpackr-extract). `npm install` then
// writes no entry for them, and `npm ci` refuses the lock as out of sync.
// Each missing one is recorded with the os/cpu its name states, so `npm ci`
// skips it as a platform mismatch without fetching it. Run after any
// `npm install` that changes dependencies.
import { readFileSync, writeFileSync } from 'node:fs';

const lockPath = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
const packages = lock.packages;
const OS = ['android', 'darwin', 'freebsd', 'linux', 'win32', 'openbsd', 'netbsd', 'sunos', 'aix'];
const CPU = ['arm64', 'x64', 'arm', 'ia32', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el'];
let added = 0;
for (const [path, entry] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    const nested = `${path}/node_modules/${name}`;
    if (packages[key] || packages[nested]) continue;
    const parts = name.split('/').pop().split('-');
    const os = parts.find((part) => OS.includes(part));
    const cpu = parts.find((part) => CPU.includes(part));
    if (!os || !cpu) throw new Error(`Cannot infer the platform of ${name}: add its lock entry by hand`);
    packages[key] = {
      version,
      optional: true,
      os: [os],
      cpu: [cpu],
      ...(parts.includes('musl') ? { libc: ['musl'] } : {}),
    };
    added++;
  }
}
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lock-foreign-platforms: recorded ${added} package(s)`);
