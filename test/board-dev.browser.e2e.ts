import { describe, expect, it, jest } from '@jest/globals';
import { CLEANUP_QUEUE, cleanupJobName } from '#libs/contracts/index.js';
import { uniqueUser } from './support/harness.js';
import { stackWithChromium, screenshot } from './support/browser.js';

jest.setTimeout(120_000);

/**
 * The board in development mode shows only actions that do what they say. A cleanup is run by
 * presence's own timer at its time, so removing or promoting its job would not cancel nor hasten
 * it: the board offers neither, and its API refuses them.
 */
const CLEANUP_MS = 10_000;

describe('BullMQ board in development mode', () => {
  const { stack, newContext } = stackWithChromium({ env: { NODE_ENV: 'development', CLEANUP_TIMEOUT_MS: String(CLEANUP_MS) } });

  it('shows a pending cleanup without remove or promote, and the API refuses them', async () => {
    const user = uniqueUser('devboard');
    const tab = await stack.tab(user);
    await stack.observer.waitFor(`stream.manager.${user}.started`);
    tab.close();
    await stack.observer.waitFor(`presence.cleanup.${user}.scheduled`);
    // The development defaults of the board's sign-in.
    const context = await newContext({ httpCredentials: { username: 'admin', password: 'admin' }, viewport: { width: 1600, height: 900 } });
    try {
      const page = await context.newPage();
      expect((await page.goto(`${stack.presence.url}/queues`))?.status()).toBe(200);
      await page.getByRole('link', { name: CLEANUP_QUEUE }).first().click();
      await page.getByRole('link', { name: /delayed/i }).first().click();
      await page.waitForURL(/status=delayed/);
      await page.getByText(cleanupJobName(user), { exact: true }).waitFor({ timeout: 20_000 });
      await screenshot(page, 'board-dev', '1-delayed-read-only');
      for (const name of [/promote/i, /remove/i, /clean/i, /retry/i]) {
        expect(await page.getByRole('button', { name }).count()).toBe(0);
      }
      // Straight to the API, as a script would: refused, and the cleanup stays as it was.
      const job = await stack.observer.request<{ metas: unknown[]; cleanupAt: string | null }>('presence.query.user', { userId: user });
      const jobs = await page.request.get(`${stack.presence.url}/queues/api/queues?activeQueue=${CLEANUP_QUEUE}&status=delayed&page=1&jobsPerPage=10`);
      const listed = ((await jobs.json()) as { queues: Array<{ name: string; jobs: Array<{ id: string }> }> }).queues.find((q) => q.name === CLEANUP_QUEUE);
      const id = listed?.jobs[0]?.id;
      expect(id).toBeDefined();
      for (const action of ['promote', 'clean']) {
        const res = await page.request.put(`${stack.presence.url}/queues/api/queues/${CLEANUP_QUEUE}/${id}/${action}`);
        expect(res.status()).toBe(405);
      }
      expect(stack.observer.on(`stream.manager.${user}.stopped`)).toHaveLength(0);
      expect((await stack.observer.request<{ cleanupAt: string | null }>('presence.query.user', { userId: user })).cleanupAt).toBe(job.cleanupAt);
    } finally {
      await context.close();
    }
  });
});
