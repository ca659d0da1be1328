import { describe, expect, it, jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runScript } from './support/harness.js';

// Each case starts a few Node processes; on a loaded machine one takes seconds.
jest.setTimeout(180_000);

/**
 * Every script a newcomer may run answers `--help` with its usage and does nothing else: no token
 * for a user named `--help`, no stack started, no data emptied. Run as built, like `npm run` does.
 */

/** The npm scripts that run one of our scripts, by the file they run. */
const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
const RUNNERS = Object.entries(scripts)
  .map(([name, cmd]) => [name, /dist\/(scripts|bench)\/([\w-]+)\.js/.exec(cmd)] as const)
  .filter((e): e is readonly [string, RegExpExecArray] => e[1] !== null)
  .map(([name, m]) => ({ name, dir: m[1], file: m[2] }));

function runFile(path: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, ['--no-warnings', path, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NATS_URL: 'nats://127.0.0.1:1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('exit', (code) => res({ code, stdout, stderr }));
  });
}

describe('--help', () => {
  it('the npm scripts that run our scripts are the ones this test knows', () => {
    expect(RUNNERS.map((r) => r.name).sort()).toEqual(['asyncapi', 'bench', 'build', 'inspect', 'nats-conf', 'reset', 'start', 'token']);
  });

  it.each(RUNNERS.map((r) => [r.name, r] as const))('npm run %s -- --help prints its usage and exits 0', async (_name, r) => {
    for (const flag of r.name === 'token' ? ['-h'] : ['--help']) {
      const out = await runFile(join(ROOT, 'dist', r.dir, `${r.file}.js`), [flag]);
      expect(out.code).toBe(0);
      expect(out.stdout).toMatch(r.name === 'start' ? /^usage: npm start/ : new RegExp(`npm run ${r.name}`));
      expect(out.stderr).toBe('');
    }
  });

  it('token: --help anywhere prints the usage, never a token', async () => {
    for (const args of [['--help'], ['--name', 'Ada', 'alice', '--help']]) {
      const out = await runScript('token', args);
      expect(out.code).toBe(0);
      expect(out.stdout).toMatch(/^usage: npm run token/);
      expect(out.stdout).not.toMatch(/eyJ/);
    }
    const bad = await runScript('token', ['--nme', 'Ada', 'alice']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown option "--nme"[\s\S]*usage/);
    expect(bad.stdout).toBe('');
    const ok = await runScript('token', ['alice']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/);
  });

  it('inspect: --help wins over a command and needs no NATS; a bad option is named', async () => {
    const out = await runScript('inspect', ['history', 'alice', '--help'], { NATS_URL: 'nats://127.0.0.1:1' });
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('history <userId> [--since 1h]');
    const bad = await runScript('inspect', ['history', 'alice', '--since', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--since: "yesterday" is neither a duration/);
    const stray = await runScript('inspect', ['users', '--now']);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toMatch(/users does not take --now/);
  });

  it('the maintenance script of the lock answers --help too', async () => {
    const out = await runFile(join(ROOT, 'scripts', 'lock-add-foreign-platforms.mjs'), ['--help']);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^usage: node scripts\/lock-add-foreign-platforms\.mjs/);
  });
});
