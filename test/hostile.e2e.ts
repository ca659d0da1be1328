import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Stack, Tab, uniqueUser, until } from './support/harness.js';

/**
 * Hostile or broken Socket.IO clients: oversized payloads, unknown events, event floods, too many
 * sessions, a token that expires, handshake floods. Each is refused or cut off with a clear error,
 * and nothing else is affected: a bystander's manager keeps ticking and every app stays healthy.
 */

jest.setTimeout(60_000);

const LIMITS = {
  SOCKET_MAX_PAYLOAD_BYTES: '16384',
  SOCKET_EVENT_RATE: '5',
  SOCKET_EVENT_BURST: '10',
  HANDSHAKE_RATE: '5',
  HANDSHAKE_BURST: '15',
  MAX_SESSIONS_PER_USER: '3',
};
const stack = new Stack({ gateways: 2, env: LIMITS });
let bystander: Tab;
let bystanderUser: string;

beforeAll(async () => {
  await stack.start();
  await stack.firstResync(); // joins are counted exactly below
  bystanderUser = uniqueUser('bystander');
  bystander = await stack.tab(bystanderUser);
  await stack.observer.waitFor(`stream.manager.${bystanderUser}.started`);
});
afterAll(async () => {
  bystander?.close();
  await stack.stop();
});

const consoleCount = () => {
  const lines = stack.worker.grep(new RegExp(`\\[UserStreamManager:${bystanderUser}\\] Console log #(\\d+)`));
  return lines.length === 0 ? 0 : Number(/Console log #(\d+)/.exec(lines.at(-1)!)![1]);
};

/** Nothing else was affected: the bystander is connected, their manager ticks on, every app is healthy. */
async function othersUnaffected() {
  expect(bystander.socket.connected).toBe(true);
  const n = consoleCount();
  await until('the bystander manager ticks on', () => consoleCount() >= n + 2, 5000);
  expect(stack.observer.on(`stream.manager.${bystanderUser}.stopped`)).toHaveLength(0);
  for (const app of stack.apps) {
    expect(app.alive).toBe(true);
    expect((await fetch(`${app.url}/health`)).status).toBe(200);
  }
}

const onceEvent = <T>(tab: Tab, event: string, timeoutMs = 5000) =>
  new Promise<T>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    tab.socket.once(event, (v: T) => {
      clearTimeout(t);
      res(v);
    });
  });

const userState = (userId: string) => stack.observer.request<{ metas: Array<{ sessionId: string }>; cleanupAt: string | null }>('presence.query.user', { userId });

describe('Socket.IO hostile input', () => {
  it('an oversized message cuts that client off; a message under the limit is fine', async () => {
    const u = uniqueUser('big');
    const tab = await stack.tab(u);
    await stack.observer.waitFor(`stream.manager.${u}.started`);
    // 8 KiB of padding is under the 16 KiB limit: accepted (unknown keys are ignored).
    expect(await tab.socket.timeout(2000).emitWithAck('presence:status', { status: 'hidden', pad: 'x'.repeat(8 * 1024) })).toEqual({ ok: true });
    const gone = onceEvent<string>(tab, 'disconnect');
    tab.socket.emit('presence:status', { status: 'idle', pad: 'x'.repeat(100 * 1024) });
    expect(await gone).toMatch(/transport (close|error)/);
    await until('the gateway says why', () => stack.gateway.grep(new RegExp(`of ${u} cut off: payload_too_large`)).length === 1);
    const [left] = await stack.observer.waitFor(`presence.session.${u}.left`);
    expect(left.data).toMatchObject({ userId: u, reason: 'closed' });
    // The oversized update never got through.
    expect(stack.observer.on(`presence.session.${u}.updated`).map((s) => s.data.status)).toEqual(['hidden']);
    await othersUnaffected();
  });

  it('unknown events are dropped with one log line per session; known ones keep working', async () => {
    const u = uniqueUser('unknown');
    const tab = await stack.tab(u);
    for (let i = 0; i < 3; i++) tab.socket.emit('no-such-event', { i });
    expect(await tab.socket.timeout(2000).emitWithAck('admin:shutdown', {})).toEqual({ error: 'unknown_event' });
    expect(await tab.socket.timeout(2000).emitWithAck('presence:status', { status: 'idle' })).toEqual({ ok: true });
    await stack.observer.waitFor(`presence.session.${u}.updated`);
    expect(stack.gateway.grep(new RegExp(`of ${u} sent unknown event`))).toEqual([expect.stringContaining('"no-such-event"')]);
    expect(tab.socket.connected).toBe(true);
    tab.close();
    await othersUnaffected();
  });

  it('events over the per-socket rate are answered rate_limited; the budget comes back', async () => {
    const u = uniqueUser('eager');
    const tab = await stack.tab(u);
    const statuses = ['hidden', 'visible'] as const;
    const answers = await Promise.all(Array.from({ length: 15 }, (_, i) => tab.socket.timeout(3000).emitWithAck('presence:status', { status: statuses[i % 2] })));
    const ok = answers.filter((a) => (a as { ok?: boolean }).ok).length;
    const limited = answers.filter((a) => (a as { error?: string }).error === 'rate_limited');
    // The burst (10) plus what refilled meanwhile (5/s) got through; the rest were refused clearly.
    expect(ok).toBeGreaterThanOrEqual(10);
    // The bucket refills while the server reads them, so a slow machine lets a few more through.
    expect(ok).toBeLessThanOrEqual(14);
    expect(limited.length).toBe(15 - ok);
    expect(limited[0]).toMatchObject({ message: expect.stringContaining('events per second'), retryAfterMs: expect.any(Number) });
    expect(tab.socket.connected).toBe(true);
    // One token every 200 ms: after its retry time the socket works again.
    await until('the budget refills', async () => ((await tab.socket.timeout(2000).emitWithAck('presence:status', { status: 'idle' })) as { ok?: boolean }).ok, 3000, 250);
    await until('idle is the session status', async () => (await stack.observer.request<{ metas: Array<{ status: string }> }>('presence.query.user', { userId: u })).metas[0]?.status === 'idle');
    tab.close();
    await othersUnaffected();
  });

  it('a flood of events is throttled, then cut off with session_ended rate_limited; the state stays right', async () => {
    const u = uniqueUser('flood');
    const tab = await stack.tab(u);
    await stack.observer.waitFor(`stream.manager.${u}.started`);
    const throttled = onceEvent<{ error: string }>(tab, 'rate_limited');
    const ended = onceEvent<{ reason: string; message: string }>(tab, 'session_ended');
    const disconnected = onceEvent<string>(tab, 'disconnect');
    for (let i = 0; i < 500; i++) tab.socket.emit('presence:status', { status: i % 2 ? 'hidden' : 'visible' });
    expect(await throttled).toMatchObject({ error: 'rate_limited' });
    expect(await ended).toMatchObject({ reason: 'rate_limited' });
    expect(await disconnected).toBe('io server disconnect');
    const [left] = await stack.observer.waitFor(`presence.session.${u}.left`);
    expect(left.data).toMatchObject({ reason: 'closed' });
    // At most the burst got through, not the flood.
    expect(stack.observer.on(`presence.session.${u}.updated`).length).toBeLessThanOrEqual(11);
    await until(`${u} has no session`, async () => (await userState(u)).metas.length === 0);
    // An ordinary last leave: the manager stops after the grace period.
    await stack.observer.waitFor(`stream.manager.${u}.stopped`, 10_000);
    expect(stack.gateway.grep(new RegExp(`of ${u} cut off: rate_limited`))).toHaveLength(1);
    await othersUnaffected();
  });

  it('the session cap counts every gateway: over it, a handshake is refused, or the extra session is ended with too_many_sessions', async () => {
    const [gw1, gw2] = stack.gateways;
    const u = uniqueUser('hoarder');
    const tabs = [await stack.tab(u, { gateway: gw1 }), await stack.tab(u, { gateway: gw1 }), await stack.tab(u, { gateway: gw2 })];
    await until(`${u} holds 3 sessions`, async () => (await userState(u)).metas.length === 3);
    // gw2 holds only one of them, so it lets a fourth in; presence's count says no.
    const fourth = await stack.tab(u, { gateway: gw2 });
    expect(await onceEvent(fourth, 'session_ended')).toMatchObject({ reason: 'too_many_sessions' });
    await until('the fourth is disconnected', () => !fourth.socket.connected);
    // A fourth on gw1 is ended the same way.
    const fifth = await stack.tab(u, { gateway: gw1 });
    expect(await onceEvent(fifth, 'session_ended')).toMatchObject({ reason: 'too_many_sessions' });
    await until('the fifth is disconnected', () => !fifth.socket.connected);
    const state = await userState(u);
    expect(state.metas).toHaveLength(3);
    for (const t of tabs.slice(0, 3)) expect(t.socket.connected).toBe(true);
    expect(stack.observer.on(`stream.manager.${u}.started`)).toHaveLength(1);
    for (const t of tabs) t.close();

    // Where one gateway alone holds the cap, it refuses at the handshake: nothing is published.
    const v = uniqueUser('hoarder');
    const held = [await stack.tab(v, { gateway: gw1 }), await stack.tab(v, { gateway: gw1 }), await stack.tab(v, { gateway: gw1 })];
    await stack.observer.waitFor(`presence.session.${v}.joined`, 5000, 3);
    expect(await new Tab(stack, gw1.url, { token: await stack.token(v) }).refused()).toBe('too_many_sessions');
    expect(stack.observer.on(`presence.session.${v}.joined`)).toHaveLength(3);
    for (const t of held) t.close();
    await othersUnaffected();
  });

  it('a token that expires during a session ends it, with leave reason expired', async () => {
    const u = uniqueUser('expiring');
    const token = await stack.token(u, { expiresIn: '3s' });
    const tab = new Tab(stack, stack.gateway.url, { token, page: '/dashboard' });
    const expired = onceEvent<{ message: string }>(tab, 'session_expired', 8000);
    await tab.connected();
    await stack.observer.waitFor(`stream.manager.${u}.started`);
    expect(await expired).toMatchObject({ message: expect.stringContaining('expired') });
    await until('disconnected', () => !tab.socket.connected);
    const [left] = await stack.observer.waitFor(`presence.session.${u}.left`);
    expect(left.data).toMatchObject({ userId: u, reason: 'expired' });
    await stack.observer.waitFor(`stream.manager.${u}.stopped`, 10_000);
    // The same token cannot come back.
    expect(await new Tab(stack, stack.gateway.url, { token }).refused()).toBe('unauthorized');
    await othersUnaffected();
  });

  it('a handshake flood from one address is refused with rate_limited; a user elsewhere connects meanwhile', async () => {
    const attempts = 40;
    const floodUsers = Array.from({ length: attempts }, () => uniqueUser('flooder'));
    const tokens = await Promise.all(floodUsers.map((u) => stack.token(u)));
    const floodTabs = tokens.map((token) => new Tab(stack, stack.gateway.url, { token }, undefined, { localAddress: '127.0.0.2' }));
    const outcomes = await Promise.all(floodTabs.map((t) => t.connected().then(() => 'connected', (e: Error) => e.message)));
    const refused = outcomes.filter((o) => o === 'rate_limited').length;
    expect(outcomes.filter((o) => o !== 'rate_limited' && o !== 'connected')).toEqual([]);
    // The burst (15) and what refilled meanwhile got in; the rest were refused.
    expect(refused).toBeGreaterThanOrEqual(attempts - 15 - 10);
    // Another address is not throttled by it.
    const u = uniqueUser('legit');
    const tab = await stack.tab(u);
    await stack.observer.waitFor(`stream.manager.${u}.started`);
    const metrics = await (await fetch(`${stack.gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/presence_gateway_connections_refused_total\{reason="rate_limited"\} [1-9]/);
    // The refused ones published nothing.
    const joined = floodUsers.filter((fu) => stack.observer.on(`presence.session.${fu}.joined`).length > 0);
    expect(joined.length).toBe(outcomes.filter((o) => o === 'connected').length);
    for (const t of floodTabs) t.close();
    tab.close();
    await othersUnaffected();
  });
});

describe('NATS: forged but well-formed user events are hints, not orders', () => {
  it('online (and handover) for users with no session start nothing, now or at the next reconcile', async () => {
    // One who never existed, and one who was here and went offline for good.
    const ghost = uniqueUser('ghost');
    const former = uniqueUser('former');
    const tab = await stack.tab(former);
    await stack.observer.waitFor(`stream.manager.${former}.started`);
    tab.close();
    await stack.observer.waitFor(`stream.manager.${former}.stopped`, 10_000);
    const at = () => new Date().toISOString();
    for (const u of [ghost, former]) {
      for (let i = 0; i < 3; i++) stack.observer.publish(`presence.user.${u}.online`, JSON.stringify({ userId: u, at: at() }));
    }
    stack.observer.publish('stream.worker.handover', JSON.stringify({ workerId: 'forged-worker', userIds: [ghost, former], at: at() }));
    // A real user after them: their start proves the forged events ahead of it were handled.
    const real = uniqueUser('real');
    const realTab = await stack.tab(real);
    await stack.observer.waitFor(`stream.manager.${real}.started`);
    // And the periodic reconcile (every 2 s at most) starts nothing either.
    const reconciled = stack.worker.lines.length;
    await until('two reconcile periods pass', () => stack.worker.lines.slice(reconciled).filter((l) => l.includes(`[UserStreamManager:${bystanderUser}] Console log`)).length >= 4000 / 200, 10_000);
    const { managers } = await stack.observer.request<{ managers: Array<{ userId: string }> }>('stream.query.managers');
    expect(managers.map((m) => m.userId)).toEqual(expect.arrayContaining([bystanderUser, real]));
    expect(managers.map((m) => m.userId)).not.toContain(ghost);
    expect(managers.map((m) => m.userId)).not.toContain(former);
    expect(stack.observer.on(`stream.manager.${ghost}.started`)).toHaveLength(0);
    expect(stack.observer.on(`stream.manager.${former}.started`)).toHaveLength(1);
    // A forged offline for a present user stops nothing.
    stack.observer.publish(`presence.user.${real}.offline`, JSON.stringify({ userId: real, at: at() }));
    await stack.observer.request('stream.query.managers');
    expect(stack.observer.on(`stream.manager.${real}.stopped`)).toHaveLength(0);
    realTab.close();
    await othersUnaffected();
  });
});
