import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { CableProxy, ROOT, Stack, Tab, uniqueUser, until, type Seen } from './support/harness.js';

jest.setTimeout(60_000);

/** Distinct graces per reason, so that each assertion can tell which one was used. */
const GRACE = { closed: 1200, lost: 2500, logout: 600, expired: 1200, gateway_down: 1200 } as const;
const PING_INTERVAL_MS = 300;
const PING_TIMEOUT_MS = 300;
/** Scheduling noise of a busy 2-core machine on top of the detection window. */
const DETECTION_SLACK_MS = 700;

const stack = new Stack({
  env: {
    CLEANUP_TIMEOUT_MS: String(GRACE.closed),
    CLEANUP_TIMEOUT_LOST_MS: String(GRACE.lost),
    CLEANUP_TIMEOUT_LOGOUT_MS: String(GRACE.logout),
    SOCKET_PING_INTERVAL_MS: String(PING_INTERVAL_MS),
    SOCKET_PING_TIMEOUT_MS: String(PING_TIMEOUT_MS),
    CONSOLE_LOGGER_INTERVAL_MS: '1000',
  },
});
const proxies: CableProxy[] = [];
beforeAll(() => stack.start());
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await stack.stop();
});

const ms = (iso: unknown) => Date.parse(iso as string);

/** A tab whose TCP connection runs through a proxy whose cable the test can cut. */
async function tabBehindCable(user: string): Promise<{ tab: Tab; proxy: CableProxy }> {
  const proxy = new CableProxy(stack.gateway.port);
  proxies.push(proxy);
  await proxy.start();
  const tab = new Tab(stack, proxy.url, { token: await stack.token(user), page: '/dashboard' });
  await tab.connected();
  return { tab, proxy };
}

/** Several server pings went through the proxy and were answered: the path is healthy before the cut. */
function pings(tab: Tab, n: number): Promise<void> {
  return new Promise((res) => {
    let seen = 0;
    const onPing = () => {
      if (++seen >= n) {
        tab.socket.io.engine.off('ping', onPing);
        res();
      }
    };
    tab.socket.io.engine.on('ping', onPing);
  });
}

async function started(user: string) {
  await stack.observer.waitFor(`stream.manager.${user}.started`);
}

/**
 * The user's last leave scheduled the cleanup at exactly left.at + that reason's grace, and the
 * manager stopped no earlier than that.
 */
async function expectCleanupAfter(user: string, left: Seen, grace: number) {
  const [scheduled] = await stack.observer.waitFor(`presence.cleanup.${user}.scheduled`);
  const runAt = ms(scheduled.data.runAt);
  expect(runAt - ms(left.data.at)).toBe(grace);
  expect(scheduled.data.reason).toBe(left.data.reason);
  const [offline] = await stack.observer.waitFor(`presence.user.${user}.offline`, grace + 10_000);
  const [stopped] = await stack.observer.waitFor(`stream.manager.${user}.stopped`, 10_000);
  expect(stopped.data.reason).toBe('offline');
  expect(ms(offline.data.at)).toBeGreaterThanOrEqual(runAt);
  expect(ms(stopped.data.at)).toBeGreaterThanOrEqual(runAt);
  expect(stopped.receivedAt).toBeGreaterThanOrEqual(runAt);
  expect(stack.observer.on(`presence.cleanup.${user}.scheduled`)).toHaveLength(1);
}

async function leftOf(user: string, timeoutMs = 10_000): Promise<Seen> {
  const [left] = await stack.observer.waitFor(`presence.session.${user}.left`, timeoutMs);
  // The leaving meta goes with the leave (Phoenix's leaves carry it): the session as it was.
  expect(left.data).toEqual({ sessionId: expect.any(String), userId: user, gatewayId: expect.any(String), reason: expect.any(String), at: expect.any(String), meta: expect.objectContaining({ sessionId: left.data.sessionId, joinedAt: expect.any(String) }) });
  return left;
}

describe('every leave says why, and the reason picks the grace', () => {
  it('closed: the client disconnects; CLEANUP_TIMEOUT_MS', async () => {
    const user = uniqueUser('closed');
    const tab = await stack.tab(user);
    await started(user);
    tab.close();
    const left = await leftOf(user);
    expect(left.data.reason).toBe('closed');
    await expectCleanupAfter(user, left, GRACE.closed);
  });

  it('logout: presence:logout then close; CLEANUP_TIMEOUT_LOGOUT_MS', async () => {
    const user = uniqueUser('logout');
    const tab = await stack.tab(user);
    await started(user);
    expect(await tab.socket.timeout(2000).emitWithAck('presence:logout')).toEqual({ ok: true });
    tab.close();
    const left = await leftOf(user);
    expect(left.data.reason).toBe('logout');
    await expectCleanupAfter(user, left, GRACE.logout);
  });

  it('expired: the token runs out during the session; the client is told and disconnected', async () => {
    const user = uniqueUser('expired');
    const expSeconds = Math.floor(Date.now() / 1000) + 2;
    const token = await stack.token(user, { expiresIn: expSeconds });
    const tab = new Tab(stack, stack.gateway.url, { token, page: '/dashboard' });
    const told = new Promise<unknown>((res) => tab.socket.once('session_expired', res));
    const disconnected = new Promise<string>((res) => tab.socket.once('disconnect', res));
    await tab.connected();
    await started(user);
    const left = await leftOf(user, 5000);
    expect(left.data.reason).toBe('expired');
    expect(ms(left.data.at)).toBeGreaterThanOrEqual(expSeconds * 1000);
    expect(await told).toMatchObject({ message: expect.any(String) });
    expect(await disconnected).toBe('io server disconnect');
    await expectCleanupAfter(user, left, GRACE.expired);
  });

  it('lost: the network is cut (no close on either side); detected within ping interval + timeout', async () => {
    const user = uniqueUser('lost');
    const { tab, proxy } = await tabBehindCable(user);
    await started(user);
    // The path works: pings go through and are answered, and the session stays.
    await pings(tab, 3);
    expect(stack.observer.on(`presence.session.${user}.left`)).toHaveLength(0);
    proxy.cut();
    const cutAt = Date.now();
    const left = await leftOf(user, 5000);
    expect(left.data.reason).toBe('lost');
    const detectedAfter = ms(left.data.at) - cutAt;
    expect(detectedAfter).toBeGreaterThanOrEqual(0);
    expect(detectedAfter).toBeLessThanOrEqual(PING_INTERVAL_MS + PING_TIMEOUT_MS + DETECTION_SLACK_MS);
    await expectCleanupAfter(user, left, GRACE.lost);
  });

  it('lost: the browser process is killed (its OS closes the connection, no goodbye); the transport ended, the client did not say so', async () => {
    const user = uniqueUser('killed-browser');
    const token = await stack.token(user);
    // A client in a process of its own, as a browser is: killed with -9, it never says goodbye.
    const browser = spawn(process.execPath, ['--input-type=module', '-e', `
      import { io } from 'socket.io-client';
      const s = io(${JSON.stringify(`${stack.gateway.url}/presence`)}, { auth: { token: ${JSON.stringify(token)}, page: '/dashboard' }, transports: ['websocket'] });
      s.on('connect', () => console.log('connected'));
    `], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => browser.stdout!.on('data', (b: Buffer) => b.toString().includes('connected') && res()));
    await started(user);
    browser.kill('SIGKILL');
    const left = await leftOf(user);
    expect(left.data.reason).toBe('lost');
    await expectCleanupAfter(user, left, GRACE.lost);
  });

  it("gateway_down: the gateway is SIGKILLed; its sessions end after GATEWAY_TTL_MS with CLEANUP_TIMEOUT_MS's grace", async () => {
    const user = uniqueUser('gwdown');
    const doomed = await stack.addApp('gateway');
    const tab = await stack.tab(user, { gateway: doomed });
    await started(user);
    await doomed.kill('SIGKILL');
    const left = await leftOf(user, 15_000);
    expect(left.data.reason).toBe('gateway_down');
    expect(left.data.gatewayId).toBe(doomed.env.INSTANCE_ID);
    await expectCleanupAfter(user, left, GRACE.gateway_down);
    tab.close();
  });
});

describe("the grace of the user's last leave decides", () => {
  it('tab 1 lost, tab 2 closed later: the closed grace', async () => {
    const user = uniqueUser('lost-then-closed');
    const { tab: t1, proxy } = await tabBehindCable(user);
    const t2 = await stack.tab(user);
    await started(user);
    await pings(t1, 1);
    proxy.cut();
    const [lost] = await stack.observer.waitFor(`presence.session.${user}.left`, 5000);
    expect(lost.data.reason).toBe('lost');
    // Not the last session: no cleanup yet, once presence has applied the leave seen on NATS.
    const applied = await until('presence applied the lost leave', async () => {
      const p = await stack.observer.request<{ cleanupAt: string | null; metas: unknown[] }>('presence.query.user', { userId: user });
      return p.metas.length === 1 ? p : undefined;
    });
    expect(applied).toMatchObject({ cleanupAt: null, metas: [expect.anything()] });
    t2.close();
    const lefts = await stack.observer.waitFor(`presence.session.${user}.left`, 5000, 2);
    expect(lefts[1].data.reason).toBe('closed');
    await expectCleanupAfter(user, lefts[1], GRACE.closed);
  });

  it('tab 1 closed, tab 2 lost later: the lost grace', async () => {
    const user = uniqueUser('closed-then-lost');
    const t1 = await stack.tab(user);
    const { tab: t2, proxy } = await tabBehindCable(user);
    await started(user);
    t1.close();
    const [closed] = await stack.observer.waitFor(`presence.session.${user}.left`, 5000);
    expect(closed.data.reason).toBe('closed');
    await pings(t2, 1);
    proxy.cut();
    const lefts = await stack.observer.waitFor(`presence.session.${user}.left`, 5000, 2);
    expect(lefts[1].data.reason).toBe('lost');
    await expectCleanupAfter(user, lefts[1], GRACE.lost);
  });
});
