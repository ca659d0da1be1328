// Maintenance: the registry reachable here does not serve other platforms' optional binaries
// (e.g. @swc/core-darwin-arm64), so npm leaves them out of package-lock.json and `npm ci` then
// calls the lock out of sync. This adds each missing one as an optional entry restricted to its
// own os/cpu, which npm ci skips on this platform. Usage: node scripts/lock-add-foreign-platforms.mjs NAME...
import { readFileSync, writeFileSync } from 'node:fs';
import process from 'node:process';

const args = process.argv.slice(2);
if (args.length === 0 || args.includes('--help') || args.includes('-h')) {
  process.stdout.write('usage: node scripts/lock-add-foreign-platforms.mjs NAME...\n  adds each optional platform package NAME (e.g. @swc/core-darwin-arm64) to package-lock.json,\n  restricted to its own os/cpu\n');
  process.exit(args.length === 0 ? 2 : 0);
}
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const OS = ['darwin', 'linux', 'win32', 'android', 'freebsd', 'openharmony'];
const CPU = { arm64: 'arm64', x64: 'x64', arm: 'arm', ia32: 'ia32', loong64: 'loong64', ppc64: 'ppc64', riscv64: 'riscv64', s390x: 's390x' };
for (const name of args) {
  const parent = Object.entries(lock.packages).find(([, p]) => p.optionalDependencies?.[name]);
  if (!parent) throw new Error(`no package in the lock declares ${name}`);
  const version = parent[1].optionalDependencies[name];
  const tokens = name.split('/').pop().split('-');
  const os = OS.find((o) => tokens.includes(o));
  const cpu = Object.keys(CPU).find((c) => tokens.includes(c));
  const prefix = parent[0] === '' ? 'node_modules/' : `${parent[0]}/node_modules/`;
  const hoisted = `node_modules/${name}`;
  const key = lock.packages[hoisted] ? `${prefix}${name}` : hoisted;
  lock.packages[key] = { version, cpu: cpu ? [CPU[cpu]] : undefined, license: 'MIT', optional: true, os: os ? [os] : undefined };
}
writeFileSync('package-lock.json', `${JSON.stringify(lock, null, 2)}\n`);
