import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import semver from 'semver';

/**
 * The Node versions package.json promises must be ones every installed dependency accepts: npm
 * prints an EBADENGINE warning for each one that does not, and a newcomer's first `npm ci` should
 * be clean. A dependency that raises its floor past ours makes this fail at once, naming it, instead
 * of warning on someone's machine later (pin it or add an `overrides` entry, or raise `engines`).
 */
const root = resolve(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { optional?: boolean }> };

/** Every package of the lock that is installed here (optional ones for other platforms are not). */
function installed(): Array<{ path: string; name: string; version: string; node?: string }> {
  return Object.keys(lock.packages)
    .filter((path) => path.startsWith('node_modules/') && existsSync(join(root, path, 'package.json')))
    .map((path) => {
      const p = JSON.parse(readFileSync(join(root, path, 'package.json'), 'utf8')) as { name: string; version: string; engines?: { node?: unknown } };
      const node = typeof p.engines?.node === 'string' ? p.engines.node : undefined;
      return { path, name: p.name, version: p.version, node };
    });
}

describe('engines', () => {
  const supported = pkg.engines.node;

  it('package.json names a valid Node range, and this Node is in it', () => {
    expect(semver.validRange(supported)).not.toBeNull();
    expect(semver.satisfies(process.versions.node, supported)).toBe(true);
  });

  it("every installed package's engines.node accepts every Node version package.json supports", () => {
    const packages = installed();
    expect(packages.length).toBeGreaterThan(100);
    const refusing = packages
      .filter((p) => p.node !== undefined && semver.validRange(p.node) !== null && !semver.subset(supported, p.node, { includePrerelease: false }))
      .map((p) => `${p.name}@${p.version} wants node ${p.node} (${p.path})`);
    expect(refusing).toEqual([]);
  });

  it('the Dockerfile runs a Node that package.json supports', () => {
    const docker = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const tags = [...docker.matchAll(/^FROM\s+node:(\d+(?:\.\d+){0,2})/gim)].map((m) => m[1]);
    expect(tags.length).toBeGreaterThan(0);
    // `node:22` is any 22.x: it must meet the supported range somewhere.
    for (const tag of tags) expect(semver.intersects(tag, supported)).toBe(true);
  });
});
