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

/** Compose's interpolation of ${VAR} and ${VAR:-default}, applied to every string value after parsing. */
function interpolate(value: unknown, shell: Record<string, string>): unknown {
  if (typeof value === 'string') return value.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => shell[name] || (fallback ?? ''));
  if (Array.isArray(value)) return value.map((v) => interpolate(v, shell));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, shell)]));
  return value;
}

async function loadCompose(shell: Record<string, string> = {}): Promise<{ services: Record<string, Service> }> {
  // js-yaml comes with Jest (istanbul); if it ever goes, add a YAML parser rather than drop this test.
  const yaml = (await import('js-yaml' as string)) as { load?(s: string): unknown; default?: { load(s: string): unknown } };
  const load = yaml.load ?? yaml.default!.load;
  return interpolate(load(readFileSync(resolve(ROOT, 'docker-compose.yml'), 'utf8')), shell) as { services: Record<string, Service> };
}

describe('docker-compose.yml', () => {
  let services: Record<string, Service>;
  beforeAll(async () => {
    ({ services } = await loadCompose());
  });

  it('runs nats with JetStream and monitoring, and redis, each with a healthcheck', () => {
    expect(Object.keys(services).sort()).toEqual(['gateway', 'nats', 'presence', 'redis', 'stream-workers']);
    expect(services.nats.command).toEqual(expect.arrayContaining(['-js', '-m', '8222']));
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
    expect(env.NATS_URL).toBe('nats://nats:4222');
    expect(env.REDIS_URL).toBe('redis://redis:6379');
    // Unique per replica only if left to its default (hostname-pid): never fixed here.
    expect(env.INSTANCE_ID).toBeUndefined();
  });

  it('only the gateway and presence publish host ports, so stream-workers scale freely', () => {
    expect(services.gateway.ports).toEqual(['3000:3000']);
    expect(services.presence.ports).toEqual(['3001:3001']);
    expect(services['stream-workers'].ports).toBeUndefined();
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
    const secrets = { NODE_ENV: 'production', AUTH_JWT_SECRET: 'a-secret-of-our-own-0123456789', BOARD_USER: 'ops', BOARD_PASSWORD: 'not-admin' };
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
