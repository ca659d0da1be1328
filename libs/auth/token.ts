import { webcrypto } from 'node:crypto';
import { SignJWT, jwtVerify, errors } from 'jose';
import { USER_ID_RE } from '#libs/contracts/index.js';

export interface TokenClaims {
  userId: string;
  name?: string;
  /** Expiry in ms since the epoch, when the token has one. */
  expiresAt?: number;
}

const keys = new Map<string, Promise<webcrypto.CryptoKey>>();

/**
 * The secret as a WebCrypto HMAC key, imported once per secret: given raw bytes, jose imports a
 * key on every call, which is half the cost of a verification (every Socket.IO handshake).
 */
function key(secret: string): Promise<webcrypto.CryptoKey> {
  let k = keys.get(secret);
  if (!k) {
    if (keys.size >= 16) keys.clear();
    k = webcrypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    keys.set(secret, k);
  }
  return k;
}

export async function signToken(secret: string, userId: string, opts: { name?: string; expiresIn?: string | number } = {}): Promise<string> {
  if (!USER_ID_RE.test(userId)) throw new Error(`user id must match ${USER_ID_RE}`);
  const jwt = new SignJWT(opts.name ? { name: opts.name } : {}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(userId).setIssuedAt();
  if (opts.expiresIn !== undefined) jwt.setExpirationTime(opts.expiresIn);
  return jwt.sign(await key(secret));
}

/** Verifies an HS256 token; null for anything wrong with it (the caller says `unauthorized`). */
export async function verifyToken(secret: string, token: unknown): Promise<TokenClaims | null> {
  if (typeof token !== 'string' || token.length === 0 || token.length > 4096) return null;
  try {
    const { payload } = await jwtVerify(token, await key(secret), { algorithms: ['HS256'] });
    if (typeof payload.sub !== 'string' || !USER_ID_RE.test(payload.sub)) return null;
    const name = typeof payload.name === 'string' ? payload.name.slice(0, 128) : undefined;
    return { userId: payload.sub, name, expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined };
  } catch (err) {
    if (err instanceof errors.JOSEError || err instanceof TypeError || err instanceof SyntaxError) return null;
    return null;
  }
}
