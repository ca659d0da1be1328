import { existsSync } from 'node:fs';

/**
 * The trust settings of the configuration: who may sign tokens and for how long, which browser
 * origins may connect, which credentials the board wants. Production rules apply unless
 * NODE_ENV is exactly `development` (unset, `prod`, `Production`: production), so a forgotten
 * variable fails closed.
 */
export interface SecurityConfig {
  /** NODE_ENV=development exactly: the development secret, the sign-in page, query-string tokens. */
  development: boolean;
  /** HS256 key for client tokens; '' when only AUTH_JWKS_URL's keys are accepted. */
  authJwtSecret: string;
  authJwksUrl?: string;
  authIssuer?: string;
  authAudience?: string;
  /** A token must carry `exp`, at most this many seconds after its `iat`. */
  authMaxTokenTtlS: number;
  /** Origins allowed to open the Socket.IO connection from a browser; [] is same-origin only, ['*'] any. */
  corsOrigins: string[];
  boardUser: string;
  boardPassword: string;
  /** Path of a NATS `.creds` file, instead of a password in NATS_URL. */
  natsCreds?: string;
}

export const DEV_JWT_SECRET = 'dev-secret-change-me-0123456789abcdef';
const DEV_BOARD = 'admin';
/** RFC 7518 §3.2: an HS256 key at least as long as the hash, 256 bits. */
export const MIN_SECRET_BYTES = 32;

type Env = Record<string, string | undefined>;
type Fail = (message: string) => never;

function httpsUrl(env: Env, name: string, fail: Fail): string | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  try {
    const u = new URL(raw);
    if (u.protocol === 'https:' || u.protocol === 'http:') return raw;
  } catch {
    // Reported below, with what is expected.
  }
  return fail(`${name} must be an http(s) URL of a JSON Web Key Set, got "${raw}"`);
}

function isOrigin(o: string): boolean {
  try {
    const u = new URL(o);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === o;
  } catch {
    return false;
  }
}

function origins(env: Env, fail: Fail): string[] {
  const raw = (env.CORS_ORIGINS ?? '').trim();
  if (!raw) return [];
  const list = raw.split(',').map((o) => o.trim());
  for (const o of list) {
    if (o === '*') continue;
    if (!isOrigin(o)) fail(`CORS_ORIGINS must be a comma-separated list of origins like https://app.example.com (scheme, host, port; no path), or *, got "${o}"`);
  }
  return list;
}

export function loadSecurityConfig(env: Env, positiveInt: (name: string, fallback: number) => number, fail: Fail): SecurityConfig {
  const development = env.NODE_ENV === 'development';
  const authJwksUrl = httpsUrl(env, 'AUTH_JWKS_URL', fail);
  const secret = env.AUTH_JWT_SECRET || (development ? DEV_JWT_SECRET : '');
  if (!development) {
    if (!secret && !authJwksUrl) fail('AUTH_JWT_SECRET (or AUTH_JWKS_URL) must be set outside development mode (NODE_ENV=development): no default secret is accepted');
    if (secret === DEV_JWT_SECRET) fail('AUTH_JWT_SECRET must be a secret of your own outside development mode (NODE_ENV=development): the development default is refused');
    if (!env.BOARD_USER) fail('BOARD_USER must be set outside development mode (NODE_ENV=development): the default admin is refused');
    if (!env.BOARD_PASSWORD || env.BOARD_PASSWORD === DEV_BOARD || env.BOARD_PASSWORD === env.BOARD_USER) {
      fail('BOARD_PASSWORD must be set, and not to admin nor to BOARD_USER, outside development mode (NODE_ENV=development)');
    }
  }
  if (secret && Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
    fail(`AUTH_JWT_SECRET must be at least ${MIN_SECRET_BYTES} bytes long (HS256 wants a 256-bit key), got ${Buffer.byteLength(secret)}`);
  }
  const natsCreds = env.NATS_CREDS || undefined;
  if (natsCreds && !existsSync(natsCreds)) fail(`NATS_CREDS must be the path of a NATS .creds file, got "${natsCreds}" (no such file)`);
  return {
    development,
    authJwtSecret: secret,
    authJwksUrl,
    authIssuer: env.AUTH_ISSUER || undefined,
    authAudience: env.AUTH_AUDIENCE || undefined,
    authMaxTokenTtlS: positiveInt('AUTH_MAX_TOKEN_TTL_S', 86400),
    corsOrigins: origins(env, fail),
    boardUser: env.BOARD_USER || DEV_BOARD,
    boardPassword: env.BOARD_PASSWORD || DEV_BOARD,
    natsCreds,
  };
}
