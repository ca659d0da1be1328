import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signToken } from '../libs/auth/token.js';
import { probe } from '../scripts/services.js';
import { Observer, ROOT, TEST_SECRET, Tab, freePort, runScript, uniqueUser, until } from './support/harness.js';

jest.setTimeout(240_000);

/**
 * `npm start` as a newcomer runs it: it starts its own nats-server and redis-server, and keeps
 * JetStream's data in a folder that outlives it, so the audit trail is there after a restart;
 * `npm run reset` empties that folder, and refuses while the server runs.
 */

const store = mkdtempSync(join(tmpdir(), 'start-e2e-store-'));
afterAll(() => rmSync(store, { recursive: true, force: true }));

async function ports() {
  return { nats: await freePort(), redis: await freePort(), gateway: await freePort(), presence: await freePort(), workers: await freePort() };
}

function env(p: Awaited<ReturnType<typeof ports>>) {
  return {
    NATS_URL: `nats://127.0.0.1:${p.nats}`,
    REDIS_URL: `redis://127.0.0.1:${p.redis}`,
    NATS_STORE_DIR: store,
    GATEWAY_PORT: String(p.gateway),
    PRESENCE_PORT: String(p.presence),
    STREAM_WORKERS_PORT: String(p.workers),
    AUTH_JWT_SECRET: TEST_SECRET,
    CLEANUP_TIMEOUT_MS: '500',
    INSTANCE_ID: `start-e2e-${process.pid}`,
  };
}

/** `npm start` without its build step (the tests run on a build already made). */
async function start(e: Record<string, string>): Promise<{ child: ChildProcess; lines: string[] }> {
  // As from a shell without NODE_ENV (Jest sets it to `test`): npm start makes it development.
  const { NODE_ENV: _jest, ...shell } = process.env;
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'scripts', 'start.js')], { cwd: ROOT, env: { ...shell, ...e }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  for (const s of [child.stdout!, child.stderr!]) s.on('data', (b: Buffer) => lines.push(...b.toString().split('\n').filter(Boolean)));
  await until(
    'the gateway healthy',
    async () => {
      if (child.exitCode !== null) throw new Error(`npm start exited: ${lines.slice(-10).join('\n')}`);
      return (await fetch(`http://127.0.0.1:${e.GATEWAY_PORT}/health`).then((r) => r.ok).catch(() => false)) || null;
    },
    90_000,
    200,
  );
  return { child, lines };
}

async function stop(child: ChildProcess) {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  await exited;
}

describe('npm start keeps the audit trail across restarts', () => {
  it('a visit before a restart is in the history after it; npm run reset empties the store', async () => {
    const p = await ports();
    const e = env(p);
    const user = uniqueUser('ada');
    const first = await start(e);
    expect(first.lines.join('\n')).toContain(`JetStream data (the audit trail) kept in ${store}`);
    const observer = await Observer.connect(e.NATS_URL);
    const tab = new Tab(null, `http://127.0.0.1:${p.gateway}`, { token: await signToken(TEST_SECRET, user, { expiresIn: '1h' }), page: '/dashboard' });
    await tab.connected();
    await observer.waitFor(`stream.manager.${user}.started`, 30_000);
    tab.close();
    await observer.waitFor(`stream.manager.${user}.stopped`, 30_000);
    await observer.close();
    // While the server runs, its files are not to be touched.
    const busy = await runScript('reset', [], { NATS_STORE_DIR: store, NATS_URL: e.NATS_URL });
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/a NATS server answers at .*: stop it/);
    await stop(first.child);
    expect(await probe('127.0.0.1', p.nats)).toBe(false);
    expect(readdirSync(store)).toEqual(['jetstream']);

    const second = await start(e);
    const h = await runScript('inspect', ['history', user, '--json'], { NATS_URL: e.NATS_URL }, 60_000);
    expect(h.code).toBe(0);
    const subjects = (JSON.parse(h.stdout) as Array<{ subject: string }>).map((x) => x.subject);
    expect(subjects).toEqual(expect.arrayContaining([`presence.session.${user}.joined`, `stream.manager.${user}.started`, `presence.session.${user}.left`, `stream.manager.${user}.stopped`]));
    await stop(second.child);

    const reset = await runScript('reset', [], { NATS_STORE_DIR: store, NATS_URL: e.NATS_URL });
    expect(reset.code).toBe(0);
    expect(reset.stdout).toContain(`emptied ${store}`);
    expect(readdirSync(store)).toEqual([]);
  });

  it('the default store is .data/nats in the project, ignored by git; reset leaves a folder it does not know alone', async () => {
    const ignored = spawnSync('git', ['check-ignore', '-q', '.data/nats/jetstream/x'], { cwd: ROOT });
    expect(ignored.status).toBe(0);
    const stranger = mkdtempSync(join(tmpdir(), 'start-e2e-stranger-'));
    spawnSync('touch', [join(stranger, 'notes.txt')]);
    const r = await runScript('reset', [], { NATS_STORE_DIR: stranger, NATS_URL: 'nats://127.0.0.1:1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/holds more than nats-server's data \(notes\.txt\): left alone/);
    expect(existsSync(join(stranger, 'notes.txt'))).toBe(true);
    rmSync(stranger, { recursive: true, force: true });
  });
});
