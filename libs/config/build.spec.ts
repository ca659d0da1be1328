import { describe, it, expect } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * The production build (and so the image) holds the apps, the libs and the scripts, nothing that
 * only measures or tests them; the bench has a build of its own, and `npm test` still type-checks
 * every tree (tsconfig.json) and builds the bench that one e2e test runs.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const json = (file: string): Record<string, unknown> => JSON.parse(readFileSync(resolve(ROOT, file), 'utf8')) as Record<string, unknown>;
const scripts = json('package.json').scripts as Record<string, string>;

describe('what is built where', () => {
  it('the production build leaves out bench/ and test/', () => {
    const build = json('tsconfig.build.json');
    expect(build.include).toEqual(['apps', 'libs', 'scripts']);
    expect(build.exclude).toEqual(expect.arrayContaining(['bench', 'test']));
    // Then the web bundles (client SDK, dashboard page) by esbuild: no TypeScript tree of their own goes to dist/apps.
    expect(scripts.build).toBe('tsc -p tsconfig.build.json && node dist/scripts/build-web.js');
    expect(build.exclude).toEqual(expect.arrayContaining(['apps/gateway/dashboard/web']));
  });

  it('the image context leaves them out too', () => {
    expect(readFileSync(resolve(ROOT, '.dockerignore'), 'utf8').split('\n')).toEqual(expect.arrayContaining(['bench', 'test']));
  });

  it('the bench builds on its own, and the type check still covers everything', () => {
    expect(json('tsconfig.bench.json').include).toEqual(['bench']);
    expect(scripts['build:bench']).toBe('tsc -p tsconfig.bench.json');
    expect(scripts.bench).toMatch(/npm run build && npm run build:bench && node .*dist\/bench\/main\.js/);
    expect(scripts.test).toMatch(/npm run build:bench/);
    expect(json('tsconfig.json').include).toEqual(expect.arrayContaining(['apps', 'libs', 'scripts', 'test', 'bench']));
  });
});
