import { describe, expect, it, jest } from '@jest/globals';
import type { BrowserContext, Page } from 'playwright-core';
import { uniqueUser } from './support/harness.js';
import { attr, eventually, stackWithChromium, screenshot } from './support/browser.js';

jest.setTimeout(60_000);

const CLEANUP_MS = 1500;
const TICK_MS = 200;
const FILE = 'dashboard';
/** An element as the page scripts see it (the project's tsconfig has no DOM lib). */
type Dataset = { dataset: Record<string, string | undefined> };

/**
 * The dashboard page as its users see it, in a real headless Chromium against the real stack:
 * user A in two tabs, user C watching the online list from a third.
 */
describe('dashboard page in headless Chromium', () => {
  const { stack, newContext } = stackWithChromium({ env: { CLEANUP_TIMEOUT_MS: String(CLEANUP_MS), CONSOLE_LOGGER_INTERVAL_MS: String(TICK_MS) } });

  /**
   * A new tab, connected as `userId`: signed in through the page's own form (POST /dev/token) unless
   * the browser already is (the sign-in is shared by the browser's tabs).
   */
  async function openDashboard(context: BrowserContext, userId: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${stack.gateway.url}/dashboard`);
    const form = page.locator('#userid-input');
    await Promise.race([form.waitFor(), page.locator('body[data-connection="connected"]').waitFor()]);
    if (await form.isVisible()) {
      await form.fill(userId);
      await page.getByRole('button', { name: 'Sign in' }).click();
    }
    await page.locator('body[data-connection="connected"]').waitFor();
    expect(await page.locator('#whoami').textContent()).toBe(userId);
    await eventually('the tab learns its session id', () => attr(page.locator('body'), 'data-session'), (s) => !!s);
    return page;
  }
  const lastTick = async (page: Page) => Number((await attr(page.locator('#console-log'), 'data-last-tick')) || 0);
  const managerState = (page: Page) => attr(page.locator('body'), 'data-manager');
  const row = (page: Page, userId: string) => page.locator(`#online-list li[data-user-id="${userId}"]`);
  const tabsOf = (page: Page, userId: string) => attr(row(page, userId), 'data-tabs');
  const sessionOf = async (page: Page) => (await attr(page.locator('body'), 'data-session'))!;
  /** The status C's page shows for each of A's sessions: {sessionId: status}. */
  const statusesOf = (page: Page, userId: string) =>
    row(page, userId)
      .locator('.pill[data-session-id]')
      .evaluateAll((els) => Object.fromEntries((els as unknown as Dataset[]).map((e) => [e.dataset.sessionId, e.dataset.status])));
  /** What a hidden tab's browser does: document.hidden turns true and visibilitychange fires. */
  const setHidden = (page: Page, hidden: boolean) =>
    page.evaluate((h) => {
      const doc = (globalThis as unknown as { document: { dispatchEvent(e: Event): boolean } }).document;
      Object.defineProperty(doc, 'hidden', { configurable: true, get: () => h });
      Object.defineProperty(doc, 'visibilityState', { configurable: true, get: () => (h ? 'hidden' : 'visible') });
      doc.dispatchEvent(new Event('visibilitychange'));
    }, hidden);

  it('two tabs of A, close one: the manager stays; close the other: A leaves C\'s list and the manager stops after the timeout', async () => {
    const a = uniqueUser('alice');
    const c = uniqueUser('carol');
    const ctxA = await newContext({ viewport: { width: 1200, height: 800 } });
    const ctxC = await newContext({ viewport: { width: 1200, height: 800 } });
    try {
      const a1 = await openDashboard(ctxA, a);
      const a2 = await openDashboard(ctxA, a);
      const c1 = await openDashboard(ctxC, c);
      const [s1, s2] = [await sessionOf(a1), await sessionOf(a2)];
      expect(s1).not.toBe(s2);

      // Both of A's tabs: the manager runs and its ConsoleLogger ticks stream in, the same count.
      for (const p of [a1, a2]) {
        await eventually('manager running', () => managerState(p), (s) => s === 'running');
        const first = await eventually('a tick', () => lastTick(p), (n) => n >= 1);
        await eventually('ticks keep arriving', () => lastTick(p), (n) => n >= first + 2);
      }
      expect(await a1.locator('#manager-worker').innerText()).toBe(stack.worker.env.INSTANCE_ID);
      const a1Now = await lastTick(a1);
      await eventually("A's second tab shows the same counter", () => lastTick(a2), (n) => n >= a1Now);
      // Ticks go to the user's own tabs only: C's page shows only C's.
      await eventually('C ticks', () => lastTick(c1), (n) => n >= 1);
      const tickOwners = await c1.locator('#console-log li[data-n]').evaluateAll((els) => (els as unknown as Dataset[]).map((e) => e.dataset.userId));
      expect(new Set(tickOwners)).toEqual(new Set([c]));
      expect(stack.observer.on(`stream.manager.${a}.started`)).toHaveLength(1);

      // C's page lists A with two tabs, both visible, and C itself, marked as this tab.
      await eventually('C sees A with 2 tabs', () => tabsOf(c1, a), (t) => t === '2');
      expect(await c1.locator('#online-count').innerText()).toBe('2');
      expect(await statusesOf(c1, a)).toEqual({ [s1]: 'visible', [s2]: 'visible' });
      expect(await attr(row(c1, c).locator('.pill[data-mine="true"]'), 'data-session-id')).toBe(await sessionOf(c1));
      // Each of A's tabs lists A with both tabs, its own marked as this tab (its own join raced its
      // presence:subscribe: the first subscriber of a fresh gateway).
      for (const [p, mine] of [[a1, s1], [a2, s2]] as const) {
        await eventually("A's tab lists A with 2 tabs", () => tabsOf(p, a), (t) => t === '2');
        expect(await attr(row(p, a).locator('.pill[data-mine="true"]'), 'data-session-id')).toBe(mine);
        expect(await p.locator('#online-count').innerText()).toBe('2');
      }
      await screenshot(a1, FILE, '1-alice-tab1-running');
      await screenshot(c1, FILE, '2-carol-sees-alice-2-tabs');

      // A's second tab goes to the background: C sees that tab's status change in place.
      await setHidden(a2, true);
      await eventually("C sees A's second tab hidden", () => statusesOf(c1, a), (m) => m[s2] === 'hidden' && m[s1] === 'visible');
      await eventually('A sees its own tab hidden too', () => statusesOf(a1, a), (m) => m[s2] === 'hidden');
      await screenshot(c1, FILE, '3-carol-sees-alice-tab-hidden');
      await setHidden(a2, false);
      await eventually("C sees A's second tab visible again", () => statusesOf(c1, a), (m) => m[s2] === 'visible');
      const updates = stack.observer.on(`presence.session.${a}.updated`).map((e) => [e.data.sessionId, e.data.status]);
      expect(updates).toEqual([[s2, 'hidden'], [s2, 'visible']]);
      // A status change is an update, never a leave and a join.
      expect(stack.observer.on(`presence.session.${a}.left`)).toHaveLength(0);
      expect(stack.observer.on(`presence.session.${a}.joined`)).toHaveLength(2);

      // Close one of A's tabs: C sees one tab; the manager keeps running, no cleanup, ticks go on.
      await a2.close();
      await eventually('C sees A with 1 tab', () => tabsOf(c1, a), (t) => t === '1');
      expect(Object.keys(await statusesOf(c1, a))).toEqual([s1]);
      const [left] = await stack.observer.waitFor(`presence.session.${a}.left`);
      expect(left.data).toMatchObject({ sessionId: s2, reason: 'closed' });
      // Wait past the cleanup timeout on the page's own evidence: ticks counted beyond it.
      const atClose = await lastTick(a1);
      await eventually('ticks continue past the cleanup timeout', () => lastTick(a1), (n) => n >= atClose + Math.ceil(CLEANUP_MS / TICK_MS) + 2, CLEANUP_MS * 4);
      expect(await managerState(a1)).toBe('running');
      expect(await a1.locator('#countdown-row').isHidden()).toBe(true);
      expect(stack.observer.on(`presence.cleanup.${a}.scheduled`)).toHaveLength(0);
      expect(stack.observer.on(`stream.manager.${a}.stopped`)).toHaveLength(0);
      await screenshot(c1, FILE, '4-carol-sees-alice-1-tab');

      // Close A's last tab: A leaves C's list; the manager stops CLEANUP_TIMEOUT_MS later.
      const closedAt = Date.now();
      await a1.close();
      await row(c1, a).waitFor({ state: 'detached' });
      expect(await c1.locator('#online-count').innerText()).toBe('1');
      expect(await tabsOf(c1, c)).toBe('1');
      await screenshot(c1, FILE, '5-carol-sees-alice-gone');
      // C sees where A's manager stands: leaving, with the seconds until it stops; gone once it has.
      const leaving = c1.locator(`#grace-list li[data-user-id="${a}"] .countdown`);
      await leaving.waitFor();
      expect(Number.parseFloat(await leaving.innerText())).toBeLessThanOrEqual(CLEANUP_MS / 1000);
      await screenshot(c1, FILE, '5b-carol-sees-alice-leaving');
      const [scheduled] = await stack.observer.waitFor(`presence.cleanup.${a}.scheduled`);
      const [stopped] = await stack.observer.waitFor(`stream.manager.${a}.stopped`, CLEANUP_MS + 5000);
      await c1.locator(`#grace-list li[data-user-id="${a}"]`).waitFor({ state: 'detached' });
      expect(await c1.locator('#grace').isHidden()).toBe(true);
      expect(stopped.data).toMatchObject({ userId: a, reason: 'offline' });
      // A closed tab says goodbye (pagehide): its leave is 'closed', not a dropped connection.
      expect(stack.observer.on(`presence.session.${a}.left`).map((e) => [e.data.sessionId, e.data.reason])).toEqual([[s2, 'closed'], [s1, 'closed']]);
      expect(Date.parse(stopped.data.at as string)).toBeGreaterThanOrEqual(Date.parse(scheduled.data.runAt as string));
      expect(stopped.receivedAt).toBeGreaterThanOrEqual(closedAt + CLEANUP_MS);
      // C was never affected.
      expect(await managerState(c1)).toBe('running');
      expect(stack.observer.on(`stream.manager.${c}.stopped`)).toHaveLength(0);
    } finally {
      await ctxA.close();
      await ctxC.close();
    }
  });
  it('a second tab of the same browser opens signed in as the same user; switching user in one tab switches every tab', async () => {
    const a = uniqueUser('shared-a');
    const b = uniqueUser('shared-b');
    const ctx = await newContext();
    try {
      const first = await openDashboard(ctx, a);
      // The second tab never sees the sign-in form: it connects as A at once.
      const second = await ctx.newPage();
      await second.goto(`${stack.gateway.url}/dashboard`);
      await second.locator('body[data-connection="connected"]').waitFor();
      expect(await second.locator('#whoami').textContent()).toBe(a);
      expect(await second.locator('#signin').isVisible()).toBe(false);
      await eventually('both tabs are A\'s sessions', () => tabsOf(second, a), (n) => n === '2');

      // Switch user in the second tab: both tabs leave as a logout and show the sign-in.
      await second.getByRole('button', { name: 'Switch user' }).click();
      await first.locator('#userid-input').waitFor();
      const [left1, left2] = await stack.observer.waitFor(`presence.session.${a}.left`, 10_000, 2);
      expect([left1.data.reason, left2.data.reason]).toEqual(['logout', 'logout']);
      // Signing in as B in one tab brings the other along.
      await second.locator('#userid-input').fill(b);
      await second.getByRole('button', { name: 'Sign in' }).click();
      await first.locator('body[data-connection="connected"]').waitFor();
      await eventually('the first tab follows to B', () => first.locator('#whoami').textContent(), (t) => t === b);
      await eventually('B has both tabs', () => tabsOf(first, b), (n) => n === '2');
      await screenshot(first, FILE, 'shared-sign-in');
    } finally {
      await ctx.close();
    }
  });

  it("shows a pending cleanup of this user's manager as 'stopping' with a countdown, and 'running' again when it is cancelled", async () => {
    // The gateway tells a tab 'stopping' whenever presence announces the user's cleanup. With a tab
    // open that only happens in a race (a reload beating its own join), so the test announces one
    // the way `nats pub` would, and the real gateway carries it to the real page. The gateway keeps
    // the newest word on the user's state: the announcements carry the epochs that follow the
    // user's current one, as presence's own would.
    const a = uniqueUser('countdown');
    const ctx = await newContext();
    try {
      const page = await openDashboard(ctx, a);
      await eventually('manager running', () => managerState(page), (s) => s === 'running');
      expect(await page.locator('#countdown-row').isHidden()).toBe(true);
      const { epoch } = await stack.observer.request<{ epoch: number }>('presence.query.user', { userId: a });
      const runAt = new Date(Date.now() + 30_000).toISOString();
      stack.observer.publish(`presence.cleanup.${a}.scheduled`, JSON.stringify({ userId: a, runAt, at: new Date().toISOString(), reason: 'closed', epoch: epoch + 1 }));
      await eventually('manager stopping', () => managerState(page), (s) => s === 'stopping');
      await page.locator('#countdown-row').waitFor({ state: 'visible' });
      const seconds = async () => Number.parseFloat(await page.locator('#countdown').innerText());
      const first = await seconds();
      expect(first).toBeGreaterThan(20);
      expect(first).toBeLessThanOrEqual(30);
      await eventually('the countdown counts down', seconds, (v) => v <= first - 0.3);
      await screenshot(page, FILE, '6-countdown');
      stack.observer.publish(`presence.cleanup.${a}.cancelled`, JSON.stringify({ userId: a, at: new Date().toISOString(), epoch: epoch + 2 }));
      await eventually('manager running again', () => managerState(page), (s) => s === 'running');
      expect(await page.locator('#countdown-row').isHidden()).toBe(true);
      expect(await page.locator('#manager-worker').innerText()).toBe(stack.worker.env.INSTANCE_ID);
    } finally {
      await ctx.close();
    }
  });
  it("an idle tab (no input for ?idleMs) shows as idle to others and turns visible again on input", async () => {
    const d = uniqueUser('idler');
    const w = uniqueUser('watcher');
    const ctxD = await newContext();
    const ctxW = await newContext();
    try {
      const watcher = await openDashboard(ctxW, w);
      const page = await ctxD.newPage();
      await page.goto(`${stack.gateway.url}/dashboard?idleMs=1500`);
      await page.locator('#userid-input').fill(d);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('body[data-connection="connected"]').waitFor();
      const sid = await eventually('session id', () => sessionOf(page), (s) => !!s);
      // (Listed first; under load the tab may already be idle by the time it is.)
      await eventually('W lists D', () => statusesOf(watcher, d), (m) => m[sid] !== undefined);
      // No input: after idleMs the tab says idle, and the watcher sees it in place.
      await eventually('W sees D idle', () => statusesOf(watcher, d), (m) => m[sid] === 'idle', 10_000);
      const [idle] = stack.observer.on(`presence.session.${d}.updated`);
      expect(idle.data).toMatchObject({ sessionId: sid, status: 'idle' });
      await page.mouse.move(20, 20);
      await page.mouse.move(40, 60);
      await eventually('W sees D visible again', () => statusesOf(watcher, d), (m) => m[sid] === 'visible');
      expect(stack.observer.on(`presence.session.${d}.left`)).toHaveLength(0);
      expect(stack.observer.on(`presence.session.${d}.joined`)).toHaveLength(1);
    } finally {
      await ctxD.close();
      await ctxW.close();
    }
  });
});
