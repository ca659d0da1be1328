import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from '@jest/globals';
import { chromium, type Browser, type BrowserContextOptions, type Locator, type Page } from 'playwright-core';
import { ROOT, Stack, until, type StackOptions } from './harness.js';

/**
 * Browser tests drive Debian's chromium through playwright-core (no downloaded browsers: the
 * machine is offline). Files named test/*.browser.e2e.ts; .ci/run installs chromium for them.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS_DIR = join(ROOT, 'test-artifacts', 'screenshots');

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no chromium at ${CHROMIUM_PATH}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
      // Several pages of one browser must all keep their timers and sockets going in the background.
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
    ],
  });
}

/**
 * A stack and a headless Chromium for the enclosing describe block: started together before its
 * tests, both closed after. Tests open their own browser contexts (each a separate user's cookies).
 */
export function stackWithChromium(options: StackOptions) {
  const stack = new Stack(options);
  let browser: Browser | undefined;
  beforeAll(async () => {
    // The tests count joins exactly: tabs open after presence's first-start resync (see firstResync).
    // Both are waited for even when one fails (no Chromium): a stack still starting when afterAll
    // stops it would leave its nats-server and redis-server running.
    const [launched, started] = await Promise.allSettled([launchChromium(), stack.start().then(() => stack.firstResync())]);
    if (launched.status === 'fulfilled') browser = launched.value;
    for (const r of [launched, started]) if (r.status === 'rejected') throw r.reason;
  });
  afterAll(async () => {
    await browser?.close();
    await stack.stop();
  });
  return { stack, newContext: (opts?: BrowserContextOptions) => browser!.newContext(opts) };
}

/** A full-page screenshot kept as a test artifact: test-artifacts/screenshots/<file>-<name>.png. */
export async function screenshot(page: Page, file: string, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  const path = join(SCREENSHOTS_DIR, `${file}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * Polls a locator until `check` holds on what it reads (no fixed sleeps). The error names what
 * was awaited and what was last seen, which is what a failing browser test needs to say.
 */
export async function eventually<T>(what: string, read: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  let last: T | undefined;
  try {
    return await until(what, async () => {
      last = await read();
      return check(last) ? { v: last } : undefined;
    }, timeoutMs, 50).then((r) => r.v);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(last)}`, { cause: err });
  }
}

/** The attribute of the first match, or null when nothing matches right now (never waits). */
export async function attr(locator: Locator, name: string): Promise<string | null> {
  return (await locator.count()) > 0 ? locator.first().getAttribute(name) : null;
}
