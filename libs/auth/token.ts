import { SignJWT, jwtVerify, errors } from 'jose';
import { USER_ID_RE } from '#libs/contracts/index.js';

export interface TokenClaims {
  userId: string;
  name?: string;
  /** Expiry in ms since the epoch, when the token has one. */
  expiresAt?: number;
}

const key = (secret: string) => new TextEncoder().encode(secret);

export async function signToken(secret: string, userId: string, opts: { name?: string; expiresIn?: string | number } = {}): Promise<string> {
  if (!USER_ID_RE.test(userId)) throw new Error(`user id must match ${USER_ID_RE}`);
  const jwt = new SignJWT(opts.name ? { name: opts.name } : {}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(userId).setIssuedAt();
  if (opts.expiresIn !== undefined) jwt.setExpirationTime(opts.expiresIn);
  return jwt.sign(key(secret));
}

/** Verifies an HS256 token; null for anything wrong with it (the caller says `unauthorized`). */
export async function verifyToken(secret: string, token: unknown): Promise<TokenClaims | null> {
  if (typeof token !== 'string' || token.length === 0 || token.length > 4096) return null;
  try {
    const { payload } = await jwtVerify(token, key(secret), { algorithms: ['HS256'] });
    if (typeof payload.sub !== 'string' || !USER_ID_RE.test(payload.sub)) return null;
    const name = typeof payload.name === 'string' ? payload.name.slice(0, 128) : undefined;
    return { userId: payload.sub, name, expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined };
  } catch (err) {
    if (err instanceof errors.JOSEError || err instanceof TypeError || err instanceof SyntaxError) return null;
    return null;
  }
}
