import { describe, it, expect } from '@jest/globals';
import { ConfigError, DEV_JWT_SECRET, loadConfig } from './config.js';

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`loadConfig(${JSON.stringify(env)}) did not throw`);
}

const SECRETS = { AUTH_JWT_SECRET: 'a-production-secret-of-32-bytes!!', BOARD_USER: 'ops', BOARD_PASSWORD: 'a-long-board-password' };

describe('production rules unless NODE_ENV=development exactly', () => {
  it.each([
    ['unset', {}],
    ['empty', { NODE_ENV: '' }],
    ['prod', { NODE_ENV: 'prod' }],
    ['Production', { NODE_ENV: 'Production' }],
    ['test', { NODE_ENV: 'test' }],
    ['Development (case matters)', { NODE_ENV: 'Development' }],
  ])('NODE_ENV %s: no default secret, no default board credentials', (_name, env: Record<string, string>) => {
    expect(configError(env)).toMatch(/AUTH_JWT_SECRET .*must be set outside development mode/);
    expect(configError({ ...env, AUTH_JWT_SECRET: DEV_JWT_SECRET })).toMatch(/development default is refused/);
    expect(configError({ ...env, AUTH_JWT_SECRET: SECRETS.AUTH_JWT_SECRET })).toMatch(/BOARD_USER/);
    const c = loadConfig({ ...env, ...SECRETS });
    expect([c.production, c.development]).toEqual([true, false]);
  });

  it('NODE_ENV=development: the development secret and admin/admin', () => {
    const c = loadConfig({ NODE_ENV: 'development' });
    expect([c.production, c.development, c.authJwtSecret, c.boardUser, c.boardPassword]).toEqual([false, true, DEV_JWT_SECRET, 'admin', 'admin']);
  });

  it('an identity provider alone (AUTH_JWKS_URL, no shared secret) is enough in production', () => {
    const c = loadConfig({ NODE_ENV: 'production', AUTH_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json', BOARD_USER: 'ops', BOARD_PASSWORD: 'pw-of-ops-1' });
    expect([c.authJwtSecret, c.authJwksUrl]).toEqual(['', 'https://idp.example.com/.well-known/jwks.json']);
    expect(configError({ NODE_ENV: 'development', AUTH_JWKS_URL: 'ftp://idp' })).toMatch(/^AUTH_JWKS_URL must be an http\(s\) URL/);
  });

  it('reads the token policy: issuer, audience, longest lifetime (a day by default)', () => {
    const c = loadConfig({ ...SECRETS, NODE_ENV: 'production', AUTH_ISSUER: 'https://idp', AUTH_AUDIENCE: 'dash', AUTH_MAX_TOKEN_TTL_S: '3600' });
    expect([c.authIssuer, c.authAudience, c.authMaxTokenTtlS]).toEqual(['https://idp', 'dash', 3600]);
    expect(loadConfig({ NODE_ENV: 'development' }).authMaxTokenTtlS).toBe(86400);
    expect(configError({ NODE_ENV: 'development', AUTH_MAX_TOKEN_TTL_S: '0' })).toMatch(/^AUTH_MAX_TOKEN_TTL_S/);
  });

  it('CORS_ORIGINS: same origin only by default, a list of origins, or *', () => {
    expect(loadConfig({ NODE_ENV: 'development' }).corsOrigins).toEqual([]);
    expect(loadConfig({ NODE_ENV: 'development', CORS_ORIGINS: 'https://a.example.com, http://localhost:5173' }).corsOrigins).toEqual(['https://a.example.com', 'http://localhost:5173']);
    expect(loadConfig({ NODE_ENV: 'development', CORS_ORIGINS: '*' }).corsOrigins).toEqual(['*']);
    expect(configError({ NODE_ENV: 'development', CORS_ORIGINS: 'https://a.example.com/path' })).toMatch(/^CORS_ORIGINS must be/);
  });

  it('NATS_CREDS must name an existing file', () => {
    expect(configError({ NODE_ENV: 'development', NATS_CREDS: '/nonexistent/x.creds' })).toMatch(/^NATS_CREDS must be the path of a NATS .creds file/);
  });

  it('bounded growth: the stream limits and the state TTL have defaults and take positive integers', () => {
    const c = loadConfig({ NODE_ENV: 'development' });
    expect([c.eventsMaxBytes, c.eventsMaxMsgsPerSubject]).toEqual([1024 ** 3, 10_000]);
    expect(configError({ NODE_ENV: 'development', EVENTS_MAX_BYTES: '-1' })).toMatch(/^EVENTS_MAX_BYTES/);
  });
});
