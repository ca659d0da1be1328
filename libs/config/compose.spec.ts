import { describe, it, expect, beforeAll } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig } from './config.js';
import { APP_NODE_FLAGS } from './node-flags.js';

/**
 * docker-compose.yml cannot be run here (no Docker engine), so it is checked by reading it the
 * way `docker compose config` would: it parses, wires what CONTRACT.md names, and the environment
 * it hands each app is one the app accepts in development and refuses in production.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const APPS = { gateway: 3000, presence: 3001, 'stream-workers': 3002 } as const;
const CONTRACT_VARS = [
  'NATS_URL', 'REDIS_URL', 'GATEWAY_PORT', 'PRESENCE_PORT', 'STREAM_WORKERS_PORT', 'CLEANUP_TIMEOUT_MS',
  'CLEANUP_TIMEOUT_LOST_MS', 'CLEANUP_TIMEOUT_LOGOUT_MS', 'GATEWAY_TTL_MS', 'WORKER_TTL_MS',
  'CONSOLE_LOGGER_INTERVAL_MS', 'AUTH_JWT_SECRET', 'BOARD_USER', 'BOARD_PASSWORD', 'LOG_LEVEL',
];

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  init?: boolean;
}

/** Compose's interpolation of ${VAR}, ${VAR:-default} and ${VAR:?error}, applied to every string value after parsing. */
function interpolate(value: unknown, shell: Record<string, string>): unknown {
  if (typeof value === 'string') {
    return value
      .replace(/\$\{([A-Z0-9_]+):\?([^}]*)\}/g, (_m, name: string, error: string) => {
        if (!shell[name]) throw new Error(`compose refuses to start: ${error}`);
        return shell[name];
      })
      .replace(/\$\{([A-Z0-9_]+)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => shell[name] || (fallback ?? ''));
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, shell));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, shell)]));
  return value;
}

async function loadCompose(shell: Record<string, string> = {}, file = 'docker-compose.yml'): Promise<{ services: Record<string, Service> }> {
  // js-yaml comes with Jest (istanbul); if it ever goes, add a YAML parser rather than drop this test.
  const yaml = (await import('js-yaml' as string)) as { load?(s: string): unknown; default?: { load(s: string): unknown } };
  const load = yaml.load ?? yaml.default!.load;
  return interpolate(load(readFileSync(resolve(ROOT, file), 'utf8')), shell) as { services: Record<string, Service> };
}

describe('docker-compose.yml', () => {
  let services: Record<string, Service>;
  beforeAll(async () => {
    ({ services } = await loadCompose());
  });

  it('runs nats with JetStream, monitoring and the least-privilege configuration, and redis, each with a healthcheck', () => {
    expect(Object.keys(services).sort()).toEqual(['gateway', 'nats', 'presence', 'redis', 'stream-workers']);
    expect(services.nats.command).toEqual(expect.arrayContaining(['-js', '-m', '8222', '-c', '/etc/nats/nats.conf']));
    expect((services.nats as { volumes?: string[] }).volumes).toContain('./deploy/nats/nats.conf:/etc/nats/nats.conf:ro');
    for (const v of ['NATS_GATEWAY_PASSWORD', 'NATS_PRESENCE_PASSWORD', 'NATS_WORKERS_PASSWORD', 'NATS_OPERATOR_PASSWORD']) expect(services.nats.environment![v]).toBeTruthy();
    expect(services.nats.healthcheck!.test.join(' ')).toContain('8222/healthz');
    expect(services.redis.image).toMatch(/^redis:7/);
    expect(services.redis.healthcheck!.test.join(' ')).toContain('PONG');
  });

  it.each(Object.entries(APPS))('%s: built from the one image, healthy by /health on its port, after healthy back ends', (app, port) => {
    const s = services[app];
    expect(s.build).toBeDefined();
    expect(s.image).toBe(services.gateway.image);
    // With the app's own Node flags, as `npm start` gives them.
    expect(s.command).toEqual(['node', ...APP_NODE_FLAGS[app as keyof typeof APPS], `dist/apps/${app}/main.js`]);
    const check = s.healthcheck!.test.join(' ');
    expect(check).toContain(`fetch('http://127.0.0.1:${port}/health')`);
    expect(check).toMatch(/^CMD node -e /);
    expect(s.depends_on).toEqual({ nats: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    expect(s.init).toBe(true);
    const env = s.environment!;
    for (const name of CONTRACT_VARS) expect(Object.keys(env)).toContain(name);
    // Each app as its own NATS user, and (where it uses Redis) its own Redis ACL user.
    expect(env.NATS_URL).toBe(`nats://${app}:${services.nats.environment![app === 'stream-workers' ? 'NATS_WORKERS_PASSWORD' : `NATS_${app.toUpperCase()}_PASSWORD`]}@nats:4222`);
    if (app !== 'gateway') expect(env.REDIS_URL).toMatch(new RegExp(`^redis://${app}:[^@]+@redis:6379$`));
    // Unique per replica only if left to its default (hostname-pid): never fixed here.
    expect(env.INSTANCE_ID).toBeUndefined();
  });

  it('only the gateway and presence publish host ports, on 127.0.0.1 only; NATS and Redis none', () => {
    expect(services.gateway.ports).toEqual(['127.0.0.1:3000:3000']);
    expect(services.presence.ports).toEqual(['127.0.0.1:3001:3001']);
    for (const s of ['stream-workers', 'nats', 'redis']) expect([s, services[s].ports]).toEqual([s, undefined]);
  });

  it('with no environment set, every app starts in development and refuses production', async () => {
    for (const app of Object.keys(APPS)) {
      const env = services[app].environment!;
      const config = loadConfig(env);
      expect(config.production).toBe(false);
      expect(config.cleanupTimeoutMs).toBe(5000);
    }
    const prod = await loadCompose({ NODE_ENV: 'production' });
    expect(() => loadConfig(prod.services.gateway.environment!)).toThrow(/AUTH_JWT_SECRET/);
    const secrets = { NODE_ENV: 'production', AUTH_JWT_SECRET: 'a-secret-of-our-own-0123456789-abc', BOARD_USER: 'ops', BOARD_PASSWORD: 'not-admin' };
    const configured = await loadCompose(secrets);
    expect(loadConfig(configured.services.presence.environment!)).toMatchObject({ production: true, boardUser: 'ops' });
    // A value from the shell reaches the app.
    const tuned = await loadCompose({ CLEANUP_TIMEOUT_MS: '2500' });
    expect(loadConfig(tuned.services['stream-workers'].environment!).cleanupTimeoutMs).toBe(2500);
  });

  it('the Dockerfile builds dist/ and runs what compose names', () => {
    const dockerfile = readFileSync(resolve(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/RUN npm ci/);
    expect(dockerfile).toMatch(/npm run build/);
    expect(dockerfile).toMatch(/COPY --from=build .*\/app\/dist/);
    expect(readFileSync(resolve(ROOT, '.dockerignore'), 'utf8').split('\n')).toEqual(expect.arrayContaining(['node_modules', 'dist']));
    for (const app of Object.keys(APPS)) expect(existsSync(resolve(ROOT, 'apps', app, 'main.ts'))).toBe(true);
  });
});

const SECRETS = ['AUTH_JWT_SECRET', 'BOARD_USER', 'BOARD_PASSWORD', 'NATS_GATEWAY_PASSWORD', 'NATS_PRESENCE_PASSWORD', 'NATS_WORKERS_PASSWORD', 'NATS_OPERATOR_PASSWORD', 'REDIS_PRESENCE_PASSWORD', 'REDIS_WORKERS_PASSWORD'];

describe('deploy/compose/docker-compose.prod.yml and .env.example', () => {
  const filled = Object.fromEntries(SECRETS.map((k) => [k, k === 'BOARD_USER' ? 'ops' : `${k.toLowerCase().replace(/_/g, '-')}-0123456789abcdef0123`]));
  const prod = () => loadCompose(filled, 'deploy/compose/docker-compose.prod.yml');

  it('.env.example names every secret the production compose requires', () => {
    const example = readFileSync(resolve(ROOT, '.env.example'), 'utf8');
    const required = [...readFileSync(resolve(ROOT, 'deploy/compose/docker-compose.prod.yml'), 'utf8').matchAll(/\$\{([A-Z0-9_]+):\?set /g)].map((m) => m[1]);
    expect([...new Set(required)].sort()).toEqual([...SECRETS].sort());
    for (const name of SECRETS) expect(example).toMatch(new RegExp(`^${name}=$`, 'm'));
  });

  it.each(SECRETS)('refuses to start without %s', async (name) => {
    const { [name]: _omit, ...rest } = filled;
    await expect(loadCompose(rest, 'deploy/compose/docker-compose.prod.yml')).rejects.toThrow(new RegExp(`set ${name}`));
  });

  it('runs every app with production rules, accepted with the secrets; publishes only 127.0.0.1', async () => {
    const { services } = await prod();
    for (const app of Object.keys(APPS)) {
      const config = loadConfig(services[app].environment!);
      expect([app, config.production]).toEqual([app, true]);
    }
    expect(services.gateway.ports).toEqual(['127.0.0.1:3000:3000']);
    expect(services.presence.ports).toEqual(['127.0.0.1:3001:3001']);
    for (const s of ['stream-workers', 'nats', 'redis']) expect([s, services[s].ports]).toEqual([s, undefined]);
    expect(services.nats.command).toEqual(expect.arrayContaining(['-c', '/etc/nats/nats.conf']));
  });
});
