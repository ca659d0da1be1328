import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppProcess, freePort, Stack, TEST_SECRET, UNSET, uniqueUser, until, type AppName } from './support/harness.js';

/**
 * Configuration hardening: NATS with user/password over TLS (tls://), Redis with a password over
 * TLS (rediss://), a throwaway CA given to the apps by NODE_EXTRA_CA_CERTS, the apps in
 * NODE_ENV=production; no secret ever shows in /health, /metrics or the logs; the board wants
 * its own credentials; default secrets are refused at start.
 */

jest.setTimeout(90_000);

const certs = mkdtempSync(join(tmpdir(), 'e2e-certs-'));
function openssl(...args: string[]) {
  const r = spawnSync('openssl', args, { cwd: certs, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}
/** A CA and a server certificate for 127.0.0.1 / localhost, made fresh for this run. */
function makeCerts() {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=e2e test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr');
  writeFileSync(join(certs, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'san.ext', '-out', 'server.pem');
}
makeCerts();
const file = (name: string) => join(certs, name);

// Distinctive values, so that finding one anywhere is unambiguous. The passwords need URL escaping.
const NATS_USER = 'svc-nats-user';
const NATS_PASSWORD = 'n@ts:Pw/7f3e9c1d';
const REDIS_PASSWORD = 'r3d!s#Pw%4b8a2e6f';
const BOARD_USER = 'ops-board-user';
const BOARD_PASSWORD = 'board-Pw-5d1c7e9a0b';
const SECRETS = { AUTH_JWT_SECRET: TEST_SECRET, NATS_PASSWORD, REDIS_PASSWORD, BOARD_PASSWORD, ENCODED_NATS: encodeURIComponent(NATS_PASSWORD), ENCODED_REDIS: encodeURIComponent(REDIS_PASSWORD) };

const stack = new Stack({
  backends: {
    nats: {
      config: (port, store) => `
listen: "127.0.0.1:${port}"
jetstream { store_dir: "${store}" }
authorization { user: "${NATS_USER}", password: "${NATS_PASSWORD}" }
tls { cert_file: "${file('server.pem')}", key_file: "${file('server.key')}", ca_file: "${file('ca.pem')}", timeout: 2 }
`,
      url: (port) => `tls://${NATS_USER}:${encodeURIComponent(NATS_PASSWORD)}@127.0.0.1:${port}`,
      clientOptions: { tls: { ca: readFileSync(file('ca.pem'), 'utf8') } },
    },
    redis: {
      // TLS only (no plain port), a password, and the harness's usual ephemeral settings.
      args: (port) => [
        '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1',
        '--tls-cert-file', file('server.pem'), '--tls-key-file', file('server.key'), '--tls-ca-cert-file', file('ca.pem'), '--tls-auth-clients', 'no',
        '--requirepass', REDIS_PASSWORD, '--save', '', '--appendonly', 'no', '--hz', '100',
      ],
      url: (port) => `rediss://:${encodeURIComponent(REDIS_PASSWORD)}@127.0.0.1:${port}`,
    },
  },
  env: {
    NODE_ENV: 'production',
    NODE_EXTRA_CA_CERTS: file('ca.pem'),
    AUTH_JWT_SECRET: TEST_SECRET,
    BOARD_USER,
    BOARD_PASSWORD,
  },
});

describe('NATS user:password over tls://, Redis password over rediss://, in production mode', () => {
  beforeAll(() => stack.start());
  afterAll(async () => {
    await stack.stop();
    rmSync(certs, { recursive: true, force: true });
  });

  it('the whole lifecycle works: session, manager, cleanup', async () => {
    // The apps really are on TLS with credentials: a plain, anonymous client gets nowhere.
    const plainNats = spawnSync(process.execPath, ['-e', `require('net').connect(${stack.backends.natsPort},'127.0.0.1').on('data',d=>{process.stdout.write(String(d));process.exit(0)})`], { encoding: 'utf8', timeout: 5000 });
    expect(plainNats.stdout).toMatch(/"tls_required":true/);
    expect(plainNats.stdout).toMatch(/"auth_required":true/);

    const u = uniqueUser('secure');
    const tab = await stack.tab(u);
    await stack.observer.waitFor(`stream.manager.${u}.started`);
    await until('ticks', () => stack.worker.grep(new RegExp(`\\[UserStreamManager:${u}\\] Console log #2`)).length > 0);
    tab.close();
    await stack.observer.waitFor(`stream.manager.${u}.stopped`, 10_000);
    expect(stack.presence.grep(new RegExp(`cleanup: ${u} offline`))).toHaveLength(1);
    for (const app of stack.apps) expect(app.grep(/connected to tls:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:/)).toHaveLength(1);
  });

  it('no secret shows in /health, /metrics or any log line', async () => {
    const texts: Array<[string, string]> = [];
    for (const app of stack.apps) {
      texts.push([`${app.app} /health`, await (await fetch(`${app.url}/health`)).text()]);
      texts.push([`${app.app} /metrics`, await (await fetch(`${app.url}/metrics`)).text()]);
      texts.push([`${app.app} logs`, app.lines.join('\n')]);
    }
    expect(texts.find(([, t]) => t.includes('presence_gateway_sessions'))).toBeDefined();
    for (const [where, text] of texts) {
      for (const [name, secret] of Object.entries(SECRETS)) expect([where, name, text.includes(secret)]).toEqual([where, name, false]);
    }
  });

  it('the board wants its own credentials, not the development ones', async () => {
    const board = `${stack.presence.url}/queues`;
    const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
    expect((await fetch(board)).status).toBe(401);
    expect((await fetch(board, { headers: basic('admin', 'admin') })).status).toBe(401);
    expect((await fetch(board, { headers: basic(BOARD_USER, 'wrong') })).status).toBe(401);
    const ok = await fetch(board, { headers: basic(BOARD_USER, BOARD_PASSWORD) });
    expect(ok.status).toBe(200);
    expect(await ok.text()).not.toContain(BOARD_PASSWORD);
  });
});

describe('outside development mode, default secrets are refused at start', () => {
  const good = { AUTH_JWT_SECRET: 'a-real-secret-0123456789abcdefgh', BOARD_USER: 'ops', BOARD_PASSWORD: 'a-real-board-password' };
  const cases: Array<[string, Record<string, string>, string]> = [
    ['no AUTH_JWT_SECRET', { ...good, AUTH_JWT_SECRET: '' }, 'AUTH_JWT_SECRET'],
    ['the development AUTH_JWT_SECRET', { ...good, AUTH_JWT_SECRET: 'dev-secret-change-me-0123456789abcdef' }, 'AUTH_JWT_SECRET'],
    ['no BOARD_USER', { ...good, BOARD_USER: '' }, 'BOARD_USER'],
    ['no BOARD_PASSWORD', { ...good, BOARD_PASSWORD: '' }, 'BOARD_PASSWORD'],
    ['BOARD_PASSWORD admin', { ...good, BOARD_USER: 'admin', BOARD_PASSWORD: 'admin' }, 'BOARD_PASSWORD'],
  ];
  const apps: AppName[] = ['gateway', 'presence', 'stream-workers'];

  // Every case on presence (it serves the board); one secret of each kind on the others, whose config is the same code.
  it.each(apps)('%s exits 1 with one line naming the variable, before touching NATS or Redis', async (app) => {
    const runs = await Promise.all(
      (app === 'presence' ? cases : [cases[1], cases[4]]).map(async ([name, env, variable]) => {
        const p = new AppProcess(app, { ...env, NODE_ENV: 'production', NATS_URL: 'nats://127.0.0.1:1', REDIS_URL: 'redis://127.0.0.1:1' }, await freePort());
        const exited = new Promise<number | null>((res) => {
          void p.start(false).then(() => p.child!.once('exit', (c) => res(c)));
        });
        return { name, variable, code: await exited, p };
      }),
    );
    for (const { name, variable, code, p } of runs) {
      expect([name, code]).toEqual([name, 1]);
      expect([name, p.lines]).toEqual([name, [expect.stringMatching(new RegExp(`^\\[${app}\\] configuration error: ${variable} .*outside development mode`))]]);
    }
  });

  // Fail closed: anything but NODE_ENV=development exactly is production, a forgotten or misspelt value included.
  it.each([['unset', UNSET], ['prod', 'prod'], ['Production', 'Production']])('NODE_ENV %s: production rules (no default secret accepted)', async (_name, nodeEnv) => {
    const p = new AppProcess('presence', { NODE_ENV: nodeEnv, NATS_URL: 'nats://127.0.0.1:1', REDIS_URL: 'redis://127.0.0.1:1' }, await freePort());
    const exited = new Promise<number | null>((res) => {
      void p.start(false).then(() => p.child!.once('exit', (c) => res(c)));
    });
    expect(await exited).toBe(1);
    expect(p.lines).toEqual([expect.stringMatching(/^\[presence\] configuration error: AUTH_JWT_SECRET .*must be set outside development mode/)]);
  });
});
