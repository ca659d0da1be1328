import { describe, it, expect } from '@jest/globals';
import { ConfigError, DEV_JWT_SECRET, cleanupTimeoutFor, loadConfig as loadAnyConfig } from './config.js';

/** Development mode unless the test's env says otherwise (security.spec.ts covers the modes). */
const loadConfig = (env: Record<string, string>) => loadAnyConfig({ NODE_ENV: 'development', ...env });

/** The error loadConfig throws for `env`, or a failure if it does not throw. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig(${JSON.stringify(env)}) did not throw`);
}

const PROD_SECRET = 'a-production-secret-of-32-chars!!';

describe('loadConfig', () => {
  it('uses the documented defaults for an empty environment', () => {
    const c = loadConfig({});
    expect({
      natsUrl: c.natsUrl,
      redisUrl: c.redisUrl,
      gatewayPort: c.gatewayPort,
      presencePort: c.presencePort,
      streamWorkersPort: c.streamWorkersPort,
      cleanupTimeoutMs: c.cleanupTimeoutMs,
      cleanupTimeoutLostMs: c.cleanupTimeoutLostMs,
      cleanupTimeoutLogoutMs: c.cleanupTimeoutLogoutMs,
      gatewayTtlMs: c.gatewayTtlMs,
      workerTtlMs: c.workerTtlMs,
      consoleLoggerIntervalMs: c.consoleLoggerIntervalMs,
      logLevel: c.logLevel,
    }).toEqual({
      natsUrl: 'nats://127.0.0.1:4222',
      redisUrl: 'redis://127.0.0.1:6379',
      gatewayPort: 3000,
      presencePort: 3001,
      streamWorkersPort: 3002,
      cleanupTimeoutMs: 5000,
      cleanupTimeoutLostMs: 5000,
      cleanupTimeoutLogoutMs: 5000,
      gatewayTtlMs: 15000,
      workerTtlMs: 15000,
      consoleLoggerIntervalMs: 1000,
      logLevel: 'info',
    });
    expect(c.production).toBe(false);
  });

  it('by default a vanished client is detected within 30 s (ping interval + ping timeout)', () => {
    const c = loadConfig({});
    expect([c.socketPingIntervalMs, c.socketPingTimeoutMs]).toEqual([10_000, 10_000]);
    expect(c.socketPingIntervalMs + c.socketPingTimeoutMs).toBeLessThanOrEqual(30_000);
    const tuned = loadConfig({ SOCKET_PING_INTERVAL_MS: '300', SOCKET_PING_TIMEOUT_MS: '250' });
    expect([tuned.socketPingIntervalMs, tuned.socketPingTimeoutMs]).toEqual([300, 250]);
    expect(() => loadConfig({ SOCKET_PING_TIMEOUT_MS: '0' })).toThrow(/SOCKET_PING_TIMEOUT_MS/);
  });

  it('treats empty strings as unset', () => {
    const c = loadConfig({ NATS_URL: '', GATEWAY_PORT: '', CLEANUP_TIMEOUT_MS: '', LOG_LEVEL: '' });
    expect(c.natsUrl).toBe('nats://127.0.0.1:4222');
    expect(c.gatewayPort).toBe(3000);
    expect(c.cleanupTimeoutMs).toBe(5000);
    expect(c.logLevel).toBe('info');
  });

  it('lost and logout timeouts default to an overridden CLEANUP_TIMEOUT_MS', () => {
    const c = loadConfig({ CLEANUP_TIMEOUT_MS: '12000' });
    expect(c.cleanupTimeoutMs).toBe(12000);
    expect(c.cleanupTimeoutLostMs).toBe(12000);
    expect(c.cleanupTimeoutLogoutMs).toBe(12000);
  });

  it('reads every overridden value', () => {
    const c = loadConfig({
      NATS_URL: 'tls://nats.example.com:4443',
      REDIS_URL: 'rediss://cache.example.com:6380/2',
      GATEWAY_PORT: '8080',
      PRESENCE_PORT: '8081',
      STREAM_WORKERS_PORT: '8082',
      CLEANUP_TIMEOUT_MS: '7000',
      CLEANUP_TIMEOUT_LOST_MS: '30000',
      CLEANUP_TIMEOUT_LOGOUT_MS: '100',
      GATEWAY_TTL_MS: '20000',
      WORKER_TTL_MS: '25000',
      CONSOLE_LOGGER_INTERVAL_MS: '250',
      LOG_LEVEL: 'DEBUG',
    });
    expect(c).toMatchObject({
      natsUrl: 'tls://nats.example.com:4443',
      redisUrl: 'rediss://cache.example.com:6380/2',
      gatewayPort: 8080,
      presencePort: 8081,
      streamWorkersPort: 8082,
      cleanupTimeoutMs: 7000,
      cleanupTimeoutLostMs: 30000,
      cleanupTimeoutLogoutMs: 100,
      gatewayTtlMs: 20000,
      workerTtlMs: 25000,
      consoleLoggerIntervalMs: 250,
      logLevel: 'debug',
    });
  });

  it.each(['abc', '0', '-5', '1.5', '5s', '1e3'])('refuses CLEANUP_TIMEOUT_MS=%p, naming the variable', (value) => {
    expect(configError({ CLEANUP_TIMEOUT_MS: value }).message).toContain('CLEANUP_TIMEOUT_MS');
  });

  it.each([
    ['CLEANUP_TIMEOUT_LOST_MS', '0'],
    ['CLEANUP_TIMEOUT_LOGOUT_MS', 'x'],
    ['GATEWAY_TTL_MS', '-1'],
    ['WORKER_TTL_MS', '2.5'],
    ['CONSOLE_LOGGER_INTERVAL_MS', 'soon'],
  ])('refuses %s=%p, naming the variable', (name, value) => {
    expect(configError({ [name]: value }).message).toContain(name);
  });

  it.each([
    ['NATS_URL', 'not a url'],
    ['NATS_URL', 'http://127.0.0.1:4222'],
    ['REDIS_URL', 'http://x'],
    ['REDIS_URL', 'redis://h:6379/notanumber'],
    ['GATEWAY_PORT', '70000'],
    ['PRESENCE_PORT', '-1'],
    ['STREAM_WORKERS_PORT', 'http'],
    ['LOG_LEVEL', 'loud'],
  ])('refuses %s=%p, naming the variable', (name, value) => {
    const err = configError({ [name]: value });
    expect(err.message).toContain(name);
    expect(err.message).toContain(value);
  });

  it.each(['web.example.com-1', 'a b', 'a*', '>'])('refuses INSTANCE_ID=%p: it must be one NATS subject token', (value) => {
    expect(configError({ INSTANCE_ID: value }).message).toContain('INSTANCE_ID');
  });

  it('the default INSTANCE_ID is one subject token whatever the hostname', () => {
    expect(loadConfig({}).instanceId).toMatch(/^[A-Za-z0-9_-]+-\d+$/);
  });

  it('accepts a NATS cluster as a comma-separated list of servers', () => {
    const c = loadConfig({ NATS_URL: 'nats://n1:4222, nats://n2:4222,tls://n3:4443' });
    expect(c.natsUrl).toBe('nats://n1:4222,nats://n2:4222,tls://n3:4443');
    expect(loadConfig({ NATS_URL: 'nats://u:p@n1:4222,nats://n2:4222' }).natsUrl).toBe('nats://u:p@n1:4222,nats://n2:4222');
  });

  it.each(['nats://n1:4222,', 'nats://n1:4222,http://n2:4222', 'nats://n1:4222,n2', 'nats://a:b@n1:4222,nats://c:d@n2:4222'])(
    'refuses NATS_URL=%p with one line naming it',
    (value) => {
      const err = configError({ NATS_URL: value });
      expect(err.message).toContain('NATS_URL');
      expect(err.message).not.toContain('\n');
    },
  );

  it('EVENTS_REPLICAS defaults to 1 and is between 1 and 5', () => {
    expect(loadConfig({}).eventsReplicas).toBe(1);
    expect(loadConfig({ EVENTS_REPLICAS: '3' }).eventsReplicas).toBe(3);
    for (const bad of ['0', '6', 'three', '-1']) expect(configError({ EVENTS_REPLICAS: bad }).message).toContain('EVENTS_REPLICAS');
  });

  it('accepts a Sentinel-managed REDIS_URL and a Cluster one; a malformed one stops the app in one line', () => {
    expect(loadConfig({ REDIS_URL: 'redis-sentinel://s1:26379,s2:26380/mymaster' }).redisUrl).toBe('redis-sentinel://s1:26379,s2:26380/mymaster');
    expect(configError({ REDIS_URL: 'redis-sentinel://s1:26379' }).message).toMatch(/^REDIS_URL .*masterName/);
    expect(loadConfig({ REDIS_URL: 'redis-cluster://app:pw@r1:7000,r2:7001' }).redisUrl).toBe('redis-cluster://app:pw@r1:7000,r2:7001');
    expect(configError({ REDIS_URL: 'redis-cluster://r1:7000/0' }).message).toMatch(/^REDIS_URL redis-cluster:\/\/ takes no path/);
    expect(configError({ REDIS_URL: 'redis-cluster://r1:7000,,r2' }).message).toMatch(/^REDIS_URL lists "", which is not host:port/);
  });

  it('accepts a Redis database number in the URL', () => {
    expect(loadConfig({ REDIS_URL: 'redis://h:6379/3' }).redisUrl).toBe('redis://h:6379/3');
  });

  describe('NODE_ENV=production', () => {
    const prod = { NODE_ENV: 'production', AUTH_JWT_SECRET: PROD_SECRET, BOARD_USER: 'ops', BOARD_PASSWORD: 'hunter2-but-longer' };

    it('accepts an explicit secret and board credentials', () => {
      const c = loadConfig(prod);
      expect(c.production).toBe(true);
      expect(c.authJwtSecret).toBe(PROD_SECRET);
      expect(c.boardUser).toBe('ops');
      expect(c.boardPassword).toBe('hunter2-but-longer');
    });

    it('refuses a missing AUTH_JWT_SECRET', () => {
      const { AUTH_JWT_SECRET: _omit, ...env } = prod;
      expect(configError(env).message).toContain('AUTH_JWT_SECRET');
    });

    it('refuses the development AUTH_JWT_SECRET set explicitly', () => {
      expect(configError({ ...prod, AUTH_JWT_SECRET: DEV_JWT_SECRET }).message).toContain('AUTH_JWT_SECRET');
    });

    it('refuses a missing BOARD_USER or BOARD_PASSWORD', () => {
      const { BOARD_USER: _u, ...noUser } = prod;
      const { BOARD_PASSWORD: _p, ...noPassword } = prod;
      expect(configError(noUser).message).toContain('BOARD_USER');
      expect(configError(noPassword).message).toContain('BOARD_PASSWORD');
    });

    it('refuses admin/admin board credentials', () => {
      expect(configError({ ...prod, BOARD_USER: 'admin', BOARD_PASSWORD: 'admin' }).message).toContain('BOARD_PASSWORD');
    });
  });

  it('development falls back to the development secret and board credentials', () => {
    const c = loadConfig({});
    expect(c.authJwtSecret).toBe(DEV_JWT_SECRET);
    expect(c.boardUser).toBe('admin');
    expect(c.boardPassword).toBe('admin');
  });

  it('refuses a JWT secret shorter than 32 bytes, in development too', () => {
    expect(configError({ AUTH_JWT_SECRET: 'short' }).message).toContain('AUTH_JWT_SECRET');
    expect(configError({ AUTH_JWT_SECRET: 'x'.repeat(31) }).message).toMatch(/AUTH_JWT_SECRET must be at least 32 bytes/);
    expect(loadConfig({ AUTH_JWT_SECRET: 'x'.repeat(32) }).authJwtSecret).toBe('x'.repeat(32));
  });
});

describe('cleanupTimeoutFor', () => {
  const config = loadConfig({ CLEANUP_TIMEOUT_MS: '5000', CLEANUP_TIMEOUT_LOST_MS: '8000', CLEANUP_TIMEOUT_LOGOUT_MS: '2000' });

  it.each([
    ['closed', 5000],
    ['lost', 8000],
    ['logout', 2000],
    ['gateway_down', 5000],
    ['expired', 5000],
  ])('a %s leave waits %i ms', (reason, ms) => {
    expect(cleanupTimeoutFor(config, reason)).toBe(ms);
  });
});
