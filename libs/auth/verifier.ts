import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { USER_ID_RE } from '#libs/contracts/index.js';
import { policyHolds, verifyToken, type ClaimsPolicy, type TokenClaims } from './token.js';

export interface VerifierOptions extends ClaimsPolicy {
  /** HS256 key; '' when only the identity provider's keys are trusted. */
  secret: string;
  /** An identity provider's JSON Web Key Set: its RS256, ES256 and EdDSA tokens are accepted. */
  jwksUrl?: string;
}

const IDP_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'];

function headerAlg(token: string): string | undefined {
  try {
    const h: unknown = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8'));
    return h && typeof h === 'object' ? String((h as { alg?: unknown }).alg) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Client tokens, as the gateway accepts them: HS256 with the shared secret on the fast synchronous
 * path (every handshake), or an identity provider's signature checked against its key set (fetched
 * once and cached by jose, refetched when a token names a key it has not seen, at most every 30 s).
 * The same policy for both: `exp` required and within AUTH_MAX_TOKEN_TTL_S, `iss`/`aud` when set.
 */
export class TokenVerifier {
  private readonly jwks?: ReturnType<typeof createRemoteJWKSet>;

  constructor(private readonly opts: VerifierOptions) {
    if (opts.jwksUrl) this.jwks = createRemoteJWKSet(new URL(opts.jwksUrl), { cooldownDuration: 30_000, timeoutDuration: 5000 });
  }

  /** The claims, or null for any token that is not acceptable (the caller says `unauthorized`). */
  async verify(token: unknown): Promise<TokenClaims | null> {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) return null;
    const alg = headerAlg(token);
    if (alg === 'HS256') return this.opts.secret ? verifyToken(this.opts.secret, token, this.opts) : null;
    if (!this.jwks || alg === undefined || !IDP_ALGORITHMS.includes(alg)) return null;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.jwks, { algorithms: IDP_ALGORITHMS, issuer: this.opts.issuer, audience: this.opts.audience, requiredClaims: ['exp'] }));
    } catch {
      return null;
    }
    const { sub, name, exp } = payload;
    if (typeof sub !== 'string' || !USER_ID_RE.test(sub) || !policyHolds(payload, this.opts)) return null;
    return { userId: sub, name: typeof name === 'string' ? name.slice(0, 128) : undefined, expiresAt: typeof exp === 'number' ? exp * 1000 : undefined };
  }
}
