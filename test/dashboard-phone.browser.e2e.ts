import { describe, expect, it, jest } from '@jest/globals';
import { uniqueUser } from './support/harness.js';
import { attr, eventually, screenshot, stackWithChromium } from './support/browser.js';

jest.setTimeout(60_000);

const FILE = 'dashboard-phone';
const CSP = "default-src 'self'";

/**
 * The dashboard at a phone's size (390 x 844, an iPhone 12 to 15), served under a strict
 * Content-Security-Policy that the test adds to every response: the page must work with no inline
 * script or style, and nothing may be wider than the screen.
 */
describe('dashboard page at phone width under a strict CSP', () => {
  const { stack, newContext } = stackWithChromium({});

  it('signs in, shows the connection, the manager and the online list, without a CSP violation or horizontal overflow', async () => {
    const user = uniqueUser('phone-user-with-a-rather-long-identifier');
    const ctx = await newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    try {
      const page = await ctx.newPage();
      const violations: string[] = [];
      page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
      });
      // The page's documents only: the CSP of the document governs everything it loads.
      await page.route((url) => url.pathname.startsWith('/dashboard') && !url.pathname.startsWith('/dashboard-assets'), async (route) => {
        const response = await route.fetch();
        await route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': CSP } });
      });
      await page.goto(`${stack.gateway.url}/dashboard`);
      await page.locator('#userid-input').fill(user);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('body[data-connection="connected"]').waitFor();
      await eventually('manager running', () => attr(page.locator('body'), 'data-manager'), (s) => s === 'running');
      await eventually('listed online', () => attr(page.locator(`#online-list li[data-user-id="${user}"]`), 'data-tabs'), (t) => t === '1');
      await eventually('a console tick', () => attr(page.locator('#console-log'), 'data-last-tick'), (n) => Number(n) > 0);
      await screenshot(page, FILE, '1-signed-in');

      const widths = await page.evaluate(() => {
        const doc = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document;
        return { scroll: doc.documentElement.scrollWidth, client: doc.documentElement.clientWidth };
      });
      expect(widths.client).toBe(390);
      expect(widths.scroll).toBeLessThanOrEqual(widths.client);
      expect(violations).toEqual([]);

      // The gateway goes away: the manager's state stays, greyed and labelled as the last known,
      // until the page has reconnected by itself to the gateway back on its port.
      await stack.gateway.kill('SIGTERM');
      await page.locator('body:not([data-connection="connected"])').waitFor();
      expect(await attr(page.locator('body'), 'data-manager')).toBe('running');
      expect(await page.locator('#manager-state').evaluate((e) => getComputedStyle(e as never, '::after').content)).toBe('" (last known)"');
      await screenshot(page, FILE, '2-disconnected');
      await stack.gateway.start();
      await page.locator('body[data-connection="connected"]').waitFor({ timeout: 30_000 });
      await page.unrouteAll({ behavior: 'ignoreErrors' });
    } finally {
      await ctx.close();
    }
  });
});
