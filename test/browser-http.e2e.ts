import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Stack, Tab, uniqueUser } from './support/harness.js';

/**
 * What a browser meets, in production mode: the token only in the handshake's `auth` (never the
 * URL), the Socket.IO handshake only from the gateway's own origin (or CORS_ORIGINS), security
 * headers on the dashboard and the board, no development sign-in, and the board's login
 * rate-limited per address.
 */

jest.setTimeout(60_000);

const BOARD_USER = 'board-ops';
const BOARD_PASSWORD = 'board-password-of-ops';
const stack = new Stack({ env: { NODE_ENV: 'production', BOARD_USER, BOARD_PASSWORD, CORS_ORIGINS: 'https://dash.example.com' } });

beforeAll(() => stack.start());
afterAll(() => stack.stop());

const tabWith = async (user: string, opts: { query?: boolean; origin?: string }) => {
  const token = await stack.token(user);
  return new Tab(stack, stack.gateway.url, opts.query ? {} : { token }, opts.query ? { token } : undefined, opts.origin ? { extraHeaders: { Origin: opts.origin } } : {});
};

describe('the Socket.IO handshake in production mode', () => {
  it('refuses a token in the query string, accepts it in auth', async () => {
    const user = uniqueUser('query');
    expect(await (await tabWith(user, { query: true })).refused()).toBe('unauthorized');
    const ok = await tabWith(user, {});
    await ok.connected();
    ok.close();
    await stack.observer.waitFor(`presence.session.${user}.joined`);
  });

  it('refuses a handshake from a foreign origin; allows its own origin and CORS_ORIGINS', async () => {
    const user = uniqueUser('origin');
    const foreign = await tabWith(user, { origin: 'https://evil.example' });
    await expect(foreign.connected()).rejects.toThrow();
    for (const origin of [new URL(stack.gateway.url).origin, 'https://dash.example.com']) {
      const t = await tabWith(user, { origin });
      await t.connected();
      t.close();
    }
  });
});

describe('HTTP', () => {
  const expectHardened = (res: Response) => {
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  };

  it('the dashboard: a strict CSP from the middleware, and no development sign-in', async () => {
    const page = await fetch(`${stack.gateway.url}/dashboard`);
    expect(page.status).toBe(200);
    expectHardened(page);
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'self'/);
    expect(page.headers.get('content-security-policy')).not.toContain('unsafe-inline');
    const dev = await fetch(`${stack.gateway.url}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"userId":"x"}' });
    expect(dev.status).toBe(403);
    expectHardened(await fetch(`${stack.gateway.url}/health`));
  });

  it('the board: hardened headers, and its login rate-limited per address', async () => {
    const board = `${stack.presence.url}/queues`;
    const basic = (password: string) => ({ authorization: `Basic ${Buffer.from(`${BOARD_USER}:${password}`).toString('base64')}` });
    const ok = await fetch(board, { headers: basic(BOARD_PASSWORD) });
    expect(ok.status).toBe(200);
    expectHardened(ok);
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await fetch(board, { headers: basic(`guess-${i}`) })).status);
    expect(statuses).toEqual([...Array(10).fill(401), 429]);
    // Turned away even with the right password, until the window is over.
    expect((await fetch(board, { headers: basic(BOARD_PASSWORD) })).status).toBe(429);
  });
});
