import { describe, expect, it } from '@jest/globals';
import { SignJWT, UnsecuredJWT, jwtVerify } from 'jose';
import { createHmac } from 'node:crypto';
import { signToken, verifyToken } from './token.js';

const SECRET = 'a-test-secret-of-enough-length';
const key = new TextEncoder().encode(SECRET);
const nowS = () => Math.floor(Date.now() / 1000);

/** A token signed with SECRET whatever its header and payload say (for tokens jose will not make). */
function forge(header: object, payload: object, secret = SECRET): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc(header)}.${enc(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** What jose itself says of a token: the reference the fast path is held to. */
async function joseAccepts(token: string): Promise<boolean> {
  return jwtVerify(token, key, { algorithms: ['HS256'] }).then(
    () => true,
    () => false,
  );
}

describe('verifyToken (HS256 with node:crypto)', () => {
  it('accepts what signToken makes, with the claims the gateway uses', async () => {
    const t = await signToken(SECRET, 'alice', { name: 'Alice', expiresIn: '1h' });
    const c = verifyToken(SECRET, t);
    expect(c).toEqual({ userId: 'alice', name: 'Alice', expiresAt: expect.any(Number) });
    expect(c!.expiresAt! - Date.now()).toBeGreaterThan(3_590_000);
    expect(verifyToken(SECRET, await signToken(SECRET, 'bob'))).toEqual({ userId: 'bob', name: undefined, expiresAt: undefined });
  });

  const cases: Array<[string, () => Promise<string> | string]> = [
    ['another secret', () => signToken('another-secret-of-enough-length', 'alice')],
    ['alg none', () => new UnsecuredJWT({ sub: 'alice' }).encode()],
    ['alg none with a valid-looking signature', () => forge({ alg: 'none' }, { sub: 'alice' })],
    ['HS512 header over an HS256 signature', () => forge({ alg: 'HS512' }, { sub: 'alice' })],
    ['a crit extension', () => forge({ alg: 'HS256', crit: ['x'], x: 1 }, { sub: 'alice' })],
    ['expired', () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime(nowS() - 1).sign(key)],
    ['expiring this second', () => forge({ alg: 'HS256' }, { sub: 'alice', exp: nowS() - 0 })],
    ['not valid yet', () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setNotBefore(nowS() + 60).sign(key)],
    ['exp not a number', () => forge({ alg: 'HS256' }, { sub: 'alice', exp: 'tomorrow' })],
    ['payload an array', () => forge({ alg: 'HS256' }, [1, 2])],
    ['a tampered payload', async () => {
      const [h, , s] = (await signToken(SECRET, 'alice')).split('.');
      return `${h}.${Buffer.from(JSON.stringify({ sub: 'mallory' })).toString('base64url')}.${s}`;
    }],
    ['a truncated signature', async () => (await signToken(SECRET, 'alice')).slice(0, -2)],
    ['four parts', async () => `${await signToken(SECRET, 'alice')}.x`],
    ['not base64url', () => 'a+b.c/d.e=f'],
  ];
  it.each(cases)('refuses %s, as jose does', async (_name, make) => {
    const t = await make();
    expect(verifyToken(SECRET, t)).toBeNull();
    expect(await joseAccepts(t)).toBe(false);
  });

  it('refuses a valid signature over a sub that is not a user id, and anything that is not a token', async () => {
    expect(verifyToken(SECRET, forge({ alg: 'HS256' }, { sub: 'has space' }))).toBeNull();
    expect(verifyToken(SECRET, forge({ alg: 'HS256' }, { sub: 42 }))).toBeNull();
    expect(verifyToken(SECRET, forge({ alg: 'HS256' }, {}))).toBeNull();
    for (const t of [undefined, null, 42, {}, '', 'x'.repeat(5000), 'a.b.c']) expect(verifyToken(SECRET, t)).toBeNull();
  });
});
