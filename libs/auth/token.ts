import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { USER_ID_RE } from '#libs/contracts/index.js';

export interface TokenClaims {
  userId: string;
  name?: string;
  /** Expiry in ms since the epoch, when the token has one. */
  expiresAt?: number;
}

const keys = new Map<string, KeyObject>();

/** The secret as an HMAC key, made once per secret: it signs (through jose) and verifies (every handshake). */
function key(secret: string): KeyObject {
  let k = keys.get(secret);
  if (!k) {
    if (keys.size >= 16) keys.clear();
    keys.set(secret, (k = createSecretKey(Buffer.from(secret))));
  }
  return k;
}

export async function signToken(secret: string, userId: string, opts: { name?: string; expiresIn?: string | number } = {}): Promise<string> {
  if (!USER_ID_RE.test(userId)) throw new Error(`user id must match ${USER_ID_RE}`);
  const jwt = new SignJWT(opts.name ? { name: opts.name } : {}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(userId).setIssuedAt();
  if (opts.expiresIn !== undefined) jwt.setExpirationTime(opts.expiresIn);
  return jwt.sign(key(secret));
}

const B64URL = /^[A-Za-z0-9_-]*$/;

/** What a token must also say, beyond a good signature (AUTH_ISSUER, AUTH_AUDIENCE, AUTH_MAX_TOKEN_TTL_S). */
export interface ClaimsPolicy {
  issuer?: string;
  audience?: string;
  /** `exp` is required, at most this many seconds after `iat` (or after now, without `iat`). */
  maxTtlS: number;
}

/**
 * `exp` present and within the longest lifetime, `iss` and `aud` as configured. A token valid for a
 * year, or forever, is a credential that cannot be taken back: the lifetime is capped on purpose.
 */
export function policyHolds(payload: Record<string, unknown>, policy: ClaimsPolicy, nowS = Math.floor(Date.now() / 1000)): boolean {
  const { exp, iat, iss, aud } = payload;
  if (typeof exp !== 'number') return false;
  const from = typeof iat === 'number' ? Math.min(iat, nowS) : nowS;
  if (exp - from > policy.maxTtlS) return false;
  if (policy.issuer !== undefined && iss !== policy.issuer) return false;
  if (policy.audience !== undefined) {
    const auds = Array.isArray(aud) ? aud : [aud];
    if (!auds.includes(policy.audience)) return false;
  }
  return true;
}

function jsonObject(part: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Verifies an HS256 token; null for anything wrong with it (the caller says `unauthorized`).
 *
 * Synchronous, with node:crypto, because it runs in every Socket.IO handshake: jose's WebCrypto
 * path costs a thread-pool round trip and several promises per call. The checks are jose's for
 * this one algorithm: a compact JWS of three base64url parts, a header that says HS256 and asks
 * for no extension (`crit`), a constant-time signature comparison, a JSON object payload, `exp`
 * (expired when <= now, in whole seconds) and `nbf`. `libs/auth/token.spec.ts` holds it to jose.
 */
export function verifyToken(secret: string, token: unknown, policy?: ClaimsPolicy): TokenClaims | null {
  if (typeof token !== 'string' || token.length === 0 || token.length > 4096) return null;
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) return null;
  const [h, p, sig] = parts;
  const expected = createHmac('sha256', key(secret)).update(`${h}.${p}`).digest();
  const given = Buffer.from(sig, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  const header = jsonObject(h);
  if (!header || header.alg !== 'HS256' || header.crit !== undefined || (header.b64 !== undefined && header.b64 !== true)) return null;
  const payload = jsonObject(p);
  if (!payload) return null;
  const now = Math.floor(Date.now() / 1000);
  const { exp, nbf, iat, sub, name } = payload;
  if (exp !== undefined && (typeof exp !== 'number' || exp <= now)) return null;
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now)) return null;
  if (iat !== undefined && typeof iat !== 'number') return null;
  if (typeof sub !== 'string' || !USER_ID_RE.test(sub)) return null;
  if (policy && !policyHolds(payload, policy, now)) return null;
  return { userId: sub, name: typeof name === 'string' ? name.slice(0, 128) : undefined, expiresAt: typeof exp === 'number' ? exp * 1000 : undefined };
}
