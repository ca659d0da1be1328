import { describe, expect, it } from '@jest/globals';
import { assembleSessionPages, sessionPages } from './gateway-sessions.js';
import type { SessionJoined } from './schemas.js';

const session = (i: number, page = '/dashboard'): SessionJoined => ({
  sessionId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  userId: `user-${i}`,
  gatewayId: 'gw-1',
  page,
  at: '2030-01-01T00:00:00.000Z',
  status: 'visible',
});
const AS_OF = '2030-01-01T00:00:01.000Z';

describe('a gateway session list in pages', () => {
  it('splits 10,000 sessions into pages each under the byte limit, every session in exactly one', () => {
    const list = Array.from({ length: 10_000 }, (_, i) => session(i));
    const pages = sessionPages('gw-1', AS_OF, list.map((s) => JSON.stringify(s)), 1024 * 1024);
    expect(pages.length).toBeGreaterThan(1);
    for (const p of pages) expect(Buffer.byteLength(p)).toBeLessThan(1024 * 1024);
    const whole = assembleSessionPages(pages);
    expect(whole).toEqual({ ok: true, value: { gatewayId: 'gw-1', asOf: AS_OF, sessions: list } });
  });

  it('stays under a small limit with the longest pages a session may have', () => {
    const list = Array.from({ length: 2000 }, (_, i) => session(i, `/dashboard/${'a'.repeat(500)}`));
    const pages = sessionPages('gw-1', AS_OF, list.map((s) => JSON.stringify(s)), 16 * 1024);
    for (const p of pages) expect(Buffer.byteLength(p)).toBeLessThan(16 * 1024);
    const whole = assembleSessionPages(pages);
    expect(whole.ok && whole.value.sessions).toEqual(list);
  });

  it('answers one page with no sessions for a gateway that holds none', () => {
    const pages = sessionPages('gw-1', AS_OF, [], 1024);
    expect(pages).toHaveLength(1);
    expect(assembleSessionPages(pages)).toEqual({ ok: true, value: { gatewayId: 'gw-1', asOf: AS_OF, sessions: [] } });
  });

  it('is not trusted when a page is missing, repeated, or from another list', () => {
    const json = Array.from({ length: 300 }, (_, i) => JSON.stringify(session(i)));
    const pages = sessionPages('gw-1', AS_OF, json, 8 * 1024);
    expect(pages.length).toBeGreaterThan(2);
    expect(assembleSessionPages(pages.slice(1))).toEqual({ ok: false, error: `${pages.length - 1} of ${pages.length} page(s) arrived` });
    expect(assembleSessionPages([pages[0], ...pages.slice(0, -1)]).ok).toBe(false);
    const other = sessionPages('gw-1', '2030-01-01T00:00:02.000Z', json, 8 * 1024);
    expect(assembleSessionPages([other[0], ...pages.slice(1)])).toEqual({ ok: false, error: 'pages of different lists' });
    // Three pages arrived for three, but one is numbered past the count: page 1 never came.
    const [first, , third] = pages.slice(0, 3).map((p) => JSON.parse(p) as { page: number; pages: number });
    const renumbered = [first, { ...JSON.parse(pages[1]), page: 9 }, third].map((p) => JSON.stringify({ ...p, pages: 3 }));
    expect(assembleSessionPages(renumbered)).toEqual({ ok: false, error: 'page 9 of 3' });
    expect(assembleSessionPages([])).toEqual({ ok: false, error: 'no answer' });
    expect(assembleSessionPages(['{"not":"a page"}']).ok).toBe(false);
  });
});
