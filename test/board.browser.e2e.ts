import { describe, expect, it, jest } from '@jest/globals';
import type { BrowserContext, Page } from 'playwright-core';
import { CLEANUP_QUEUE, cleanupJobName } from '#libs/contracts/index.js';
import { uniqueUser } from './support/harness.js';
import { eventually, stackWithChromium, screenshot } from './support/browser.js';

jest.setTimeout(60_000);

/**
 * The operator's view: the BullMQ board at /queues on the presence app, in a real headless
 * Chromium. Long enough a cleanup timeout that the job is still delayed while the page loads.
 */
const CLEANUP_MS = 8000;
const BOARD_USER = 'operator';
const BOARD_PASSWORD = 'board-secret-42';
const FILE = 'board';

/** What the board shows for a time (en-US, UTC): "3:07:05 PM" on the given day, as epoch ms. */
function boardTimeToMs(shown: string, sameDayAs: string): number {
  const m = /^(\d{1,2}):(\d{2}):(\d{2})\s*([AP]M)$/.exec(shown.trim());
  if (!m) throw new Error(`unexpected time format on the board: ${JSON.stringify(shown)}`);
  const hours = (Number(m[1]) % 12) + (m[4] === 'PM' ? 12 : 0);
  const day = new Date(sameDayAs);
  return Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), hours, Number(m[2]), Number(m[3]));
}

describe('BullMQ board (/queues) in headless Chromium', () => {
  const { stack, newContext } = stackWithChromium({ env: { CLEANUP_TIMEOUT_MS: String(CLEANUP_MS), BOARD_USER, BOARD_PASSWORD } });

  it('refuses a browser without credentials with 401 and a basic-auth challenge', async () => {
    const context = await newContext();
    try {
      // Chromium answers an unanswered basic-auth challenge by failing the navigation; what the
      // server said is the response it got.
      const refused = async (ctx: BrowserContext) => {
        const page = await ctx.newPage();
        const url = `${stack.presence.url}/queues`;
        const [res] = await Promise.all([page.waitForResponse(url), page.goto(url).catch(() => null)]);
        return { page, res };
      };
      const { page, res } = await refused(context);
      expect(res.status()).toBe(401);
      expect(res.headers()['www-authenticate']).toMatch(/^Basic realm=/);
      expect(await res.text()).not.toContain(CLEANUP_QUEUE);
      expect(await page.content()).not.toContain(CLEANUP_QUEUE);
      // Wrong credentials are no better.
      const wrong = await newContext({ httpCredentials: { username: BOARD_USER, password: 'nope' } });
      const second = await refused(wrong);
      expect(second.res.status()).toBe(401);
      await wrong.close();
    } finally {
      await context.close();
    }
  });

  it('shows the pending cleanup of a user who just closed their last tab until it runs', async () => {
    const user = uniqueUser('board');
    const tab = await stack.tab(user);
    await stack.observer.waitFor(`stream.manager.${user}.started`);
    tab.close();
    const [scheduled] = await stack.observer.waitFor(`presence.cleanup.${user}.scheduled`);
    const runAt = scheduled.data.runAt as string;

    const context = await newContext({
      httpCredentials: { username: BOARD_USER, password: BOARD_PASSWORD },
      locale: 'en-US',
      timezoneId: 'UTC',
      viewport: { width: 1600, height: 900 },
    });
    try {
      const page = await context.newPage();
      const res = await page.goto(`${stack.presence.url}/queues`);
      expect(res?.status()).toBe(200);

      // As an operator would: pick the queue, then its Delayed tab.
      await page.getByRole('link', { name: CLEANUP_QUEUE }).first().click();
      await page.getByRole('link', { name: /delayed/i }).first().click();
      await page.waitForURL(/status=delayed/);
      const jobName = page.getByText(cleanupJobName(user), { exact: true });
      await jobName.waitFor({ timeout: 10_000 });
      // Still pending: the manager has not stopped yet while the operator looks at it.
      expect(stack.observer.on(`stream.manager.${user}.stopped`)).toHaveLength(0);

      const card = await jobCardText(page, user);
      expect(card).toContain(`userId:"${user}"`);
      expect(card).toContain(`runAt:"${runAt}"`);
      expect(card).toContain('reason:"closed"');
      // "Will run at" is when BullMQ runs it: the scheduled runAt, to the second.
      const willRun = await page.locator('li', { hasText: 'Will run at' }).locator('time').first().innerText();
      expect(Math.abs(boardTimeToMs(willRun, runAt) - Date.parse(runAt))).toBeLessThan(1500);
      await screenshot(page, FILE, '1-delayed-cleanup');

      // The history is bounded: the job's options say how many finished cleanups are kept.
      await page.getByRole('tab', { name: 'Options', exact: true }).first().click();
      await eventually('removeOnComplete shown in the options', () => page.locator('main').innerText(), (t) => /removeOnComplete/.test(t));
      expect(await page.locator('main').innerText()).toMatch(/count:\s*1000/);

      // The cleanup runs at its time: the manager stops, and presence's timer, which ran it, removes
      // the job (BullMQ runs it only as the safety net of a presence that died).
      await stack.observer.waitFor(`stream.manager.${user}.stopped`, CLEANUP_MS + 5000);
      // This stack has no other user: once the job is gone, the board says the list is empty.
      await eventually(
        'the cleanup gone from the Delayed list',
        async () => {
          await page.reload();
          return page.getByText(/no delayed jobs/i).waitFor({ timeout: 2000 }).then(
            () => true,
            () => false,
          );
        },
        (empty) => empty,
      );
      await page.getByRole('link', { name: /completed/i }).first().click();
      await page.waitForURL(/status=completed/);
      await page.getByText(/no completed jobs/i).waitFor({ timeout: 10_000 });
      await screenshot(page, FILE, '2-cleanup-done');
    } finally {
      await context.close();
    }
  });
});

/** The text of the job card holding the user's cleanup (bull-board's class names are hashed). */
async function jobCardText(page: Page, user: string): Promise<string> {
  const link = page.locator(`a[href*="/queues/queue/${CLEANUP_QUEUE}/cleanup-${user}-"]`).first();
  await link.waitFor({ timeout: 10_000 });
  // The card is the closest ancestor that also holds the job's timeline.
  const card = link.locator('xpath=ancestor::div[.//ul//time][1]');
  // innerText of the JSON viewer: one line per key, no space after the colon.
  const text = await eventually('job data rendered', () => card.innerText(), (t) => t.includes('userId'));
  return text.replace(/:\s+/g, ':');
}
