import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { TokenVerifier } from './verifier.js';

/** A JWKS served over HTTP by the test, as an identity provider serves its keys. */
const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
const ALGS = ['RS256', 'ES256', 'EdDSA'] as const;
const keys: Record<string, { privateKey: CryptoKey; kid: string }> = {};
let outsider: CryptoKey;
let server: Server;
let jwksUrl: string;
let fetches = 0;

beforeAll(async () => {
  const published: JWK[] = [];
  for (const alg of ALGS) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `key-${alg}`;
    keys[alg] = { privateKey, kid };
    published.push({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
  }
  outsider = (await generateKeyPair('RS256')).privateKey;
  server = createServer((_req, res) => {
    fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  jwksUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks.json`;
});
afterAll(() => new Promise((r) => server.close(r)));

const nowS = () => Math.floor(Date.now() / 1000);
interface Make {
  alg?: string;
  kid?: string;
  key?: CryptoKey | Uint8Array;
  sub?: string;
  iss?: string;
  aud?: string;
  iat?: number;
  exp?: number | null;
}
function make(o: Make = {}): Promise<string> {
  const alg = o.alg ?? 'RS256';
  const jwt = new SignJWT({}).setProtectedHeader({ alg, kid: o.kid ?? keys[alg]?.kid }).setSubject(o.sub ?? 'alice').setIssuedAt(o.iat ?? nowS());
  if (o.exp !== null) jwt.setExpirationTime(o.exp ?? nowS() + 600);
  if (o.iss) jwt.setIssuer(o.iss);
  if (o.aud) jwt.setAudience(o.aud);
  return jwt.sign(o.key ?? (alg === 'HS256' ? new TextEncoder().encode(SECRET) : keys[alg].privateKey));
}

describe('TokenVerifier', () => {
  const policy = { secret: SECRET, issuer: 'https://idp.test/', audience: 'dashboard', maxTtlS: 3600 };
  const v = () => new TokenVerifier({ ...policy, jwksUrl });
  const good = { iss: policy.issuer, aud: policy.audience };

  it.each(ALGS)('accepts a %s token signed by a key of the identity provider’s set', async (alg) => {
    expect(await v().verify(await make({ alg, ...good }))).toMatchObject({ userId: 'alice' });
  });

  it('keeps the fast HS256 path, with the same policy', async () => {
    expect(await v().verify(await make({ alg: 'HS256', ...good }))).toMatchObject({ userId: 'alice' });
    expect(await v().verify(await make({ alg: 'HS256', ...good, exp: null }))).toBeNull();
    expect(await v().verify(await make({ alg: 'HS256', ...good, exp: nowS() + 7200 }))).toBeNull();
    expect(await v().verify(await make({ alg: 'HS256', iss: 'https://other/', aud: policy.audience }))).toBeNull();
    expect(await v().verify(await make({ alg: 'HS256', iss: policy.issuer, aud: 'other' }))).toBeNull();
    // Without a shared secret (an identity provider only), HS256 is not accepted at all.
    expect(await new TokenVerifier({ ...policy, secret: '', jwksUrl }).verify(await make({ alg: 'HS256', ...good }))).toBeNull();
  });

  // Made when the test runs (the keys exist, and now is now).
  const refused: Array<[string, () => Make]> = [
    ['signed by a key outside the set', () => ({ key: outsider, kid: 'key-RS256', ...good })],
    ['without exp', () => ({ exp: null, ...good })],
    ['living longer than AUTH_MAX_TOKEN_TTL_S', () => ({ iat: nowS(), exp: nowS() + 3601, ...good })],
    ['issued long ago with a long exp', () => ({ iat: nowS() - 7200, exp: nowS() + 60, ...good })],
    ['expired', () => ({ exp: nowS() - 5, iat: nowS() - 60, ...good })],
    ['from another issuer', () => ({ iss: 'https://evil/', aud: policy.audience })],
    ['for another audience', () => ({ iss: policy.issuer, aud: 'other-app' })],
    ['with a sub that is not a user id', () => ({ sub: 'a b', ...good })],
  ];
  it.each(refused)('refuses a token %s', async (_name, o) => {
    expect(await v().verify(await make(o()))).toBeNull();
  });

  it('refuses an algorithm it does not trust and anything that is not a token; fetches the key set once', async () => {
    const verifier = v();
    const before = fetches;
    for (let i = 0; i < 5; i++) await verifier.verify(await make({ ...good }));
    expect(fetches - before).toBe(1);
    for (const t of [undefined, 42, '', 'a.b.c', 'x'.repeat(5000)]) expect(await verifier.verify(t)).toBeNull();
    const noneAlg = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"alice"}').toString('base64url')}.`;
    expect(await verifier.verify(noneAlg)).toBeNull();
  });
});
