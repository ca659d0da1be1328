import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Stack, uniqueUser, sleep, until } from './support/harness.js';

jest.setTimeout(60_000);

const CLEANUP_MS = 1500;
const TICK_MS = 200;
const consoleLines = (stack: Stack, user: string) =>
  stack.worker.grep(new RegExp(`\\[UserStreamManager:${user}\\] Console log #\\d+`)).map((l) => Number(/Console log #(\d+)/.exec(l)![1]));

describe('dashboard sessions drive per-user stream managers', () => {
  const stack = new Stack({ env: { CLEANUP_TIMEOUT_MS: String(CLEANUP_MS), CONSOLE_LOGGER_INTERVAL_MS: String(TICK_MS) } });
  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it('first tab: exactly one manager starts and its ConsoleLogger counts up each interval', async () => {
    const user = uniqueUser('first');
    const tab = await stack.tab(user);
    await tab.waitManager('running');
    const started = await stack.observer.waitFor(`stream.manager.${user}.started`);
    await stack.observer.waitFor(`presence.user.${user}.online`);
    await until('three console lines', () => consoleLines(stack, user).length >= 3);
    const counts = consoleLines(stack, user);
    expect(counts.slice(0, 3)).toEqual([1, 2, 3]);
    // Another tab of the same user starts nothing more.
    const second = await stack.tab(user);
    await second.waitManager('running');
    await sleep(300);
    expect(stack.observer.on(`stream.manager.${user}.started`)).toHaveLength(1);
    expect(started[0].data).toMatchObject({ userId: user, workerId: expect.any(String), at: expect.any(String) });
    tab.close();
    second.close();
  });

  it('three tabs, close two: keeps running; close the last: stops after the cleanup timeout, not earlier', async () => {
    const user = uniqueUser('three');
    const tabs = [await stack.tab(user), await stack.tab(user), await stack.tab(user)];
    await stack.observer.waitFor(`stream.manager.${user}.started`);
    tabs[0].close();
    tabs[1].close();
    await until('two leaves', () => stack.observer.on(`presence.session.${user}.left`).length === 2);
    await sleep(CLEANUP_MS + 300);
    expect(stack.observer.on(`presence.cleanup.${user}.scheduled`)).toHaveLength(0);
    expect(stack.observer.on(`stream.manager.${user}.stopped`)).toHaveLength(0);

    const closedAt = Date.now();
    tabs[2].close();
    const [scheduled] = await stack.observer.waitFor(`presence.cleanup.${user}.scheduled`);
    const [left] = stack.observer.on(`presence.session.${user}.left`).slice(-1);
    expect(left.data.reason).toBe('closed');
    expect(Date.parse(scheduled.data.runAt as string) - Date.parse(left.data.at as string)).toBe(CLEANUP_MS);
    const [offline] = await stack.observer.waitFor(`presence.user.${user}.offline`);
    const [stopped] = await stack.observer.waitFor(`stream.manager.${user}.stopped`);
    expect(stopped.data).toMatchObject({ userId: user, reason: 'offline' });
    expect(offline.receivedAt).toBeGreaterThanOrEqual(closedAt + CLEANUP_MS);
    expect(Date.parse(stopped.data.at as string)).toBeGreaterThanOrEqual(Date.parse(scheduled.data.runAt as string));
    // The ConsoleLogger stopped with its manager.
    const after = consoleLines(stack, user).length;
    await sleep(TICK_MS * 3);
    expect(consoleLines(stack, user).length).toBe(after);
    const q = await stack.observer.request<{ metas: unknown[]; cleanupAt: string | null }>('presence.query.user', { userId: user });
    expect(q).toMatchObject({ userId: user, metas: [], cleanupAt: null });
  });

  it('closing and returning before the timeout cancels the cleanup: no stop, no restart, the count goes on', async () => {
    const user = uniqueUser('return');
    const tab = await stack.tab(user);
    await stack.observer.waitFor(`stream.manager.${user}.started`);
    await until('console #2', () => consoleLines(stack, user).includes(2));
    tab.close();
    const [scheduled] = await stack.observer.waitFor(`presence.cleanup.${user}.scheduled`);
    const pending = await stack.observer.request<{ cleanupAt: string | null }>('presence.query.user', { userId: user });
    expect(pending.cleanupAt).toBe(scheduled.data.runAt);
    const back = await stack.tab(user);
    await stack.observer.waitFor(`presence.cleanup.${user}.cancelled`);
    const seenBefore = consoleLines(stack, user).length;
    await sleep(CLEANUP_MS + 500);
    expect(stack.observer.on(`stream.manager.${user}.stopped`)).toHaveLength(0);
    expect(stack.observer.on(`stream.manager.${user}.started`)).toHaveLength(1);
    expect(stack.observer.on(`presence.user.${user}.offline`)).toHaveLength(0);
    const counts = consoleLines(stack, user);
    expect(counts.length).toBeGreaterThan(seenBefore);
    // Strictly increasing by one: never restarted from #1.
    counts.forEach((n, i) => expect(n).toBe(i + 1));
    const running = back.managerEvents.at(-1);
    expect(running?.state).toBe('running');
    back.close();
  });

  it('two users are independent; a crashed component restarts without touching the other user', async () => {
    const [a, b] = [uniqueUser('crash-a'), uniqueUser('crash-b')];
    const ta = await stack.tab(a);
    const tb = await stack.tab(b);
    await stack.observer.waitFor(`stream.manager.${a}.started`);
    await stack.observer.waitFor(`stream.manager.${b}.started`);
    await until('b console #2', () => consoleLines(stack, b).includes(2));
    const bBefore = consoleLines(stack, b).length;
    const answer = await stack.observer.request<{ ok: boolean }>('stream.admin.crash', { userId: a, component: 'ConsoleLogger' });
    expect(answer.ok).toBe(true);
    await stack.worker.waitForLine(new RegExp(`UserStreamManager:${a}\\].*ConsoleLogger crashed, restarting`));
    const { managers } = await until('restart visible in stream.query.managers', async () => {
      const r = await stack.observer.request<{ managers: Array<{ userId: string; components: Array<{ name: string; restarts: number; state: string }> }> }>('stream.query.managers');
      const ma = r.managers.find((m) => m.userId === a);
      return ma?.components.find((c) => c.name === 'ConsoleLogger')?.state === 'running' ? r : undefined;
    });
    const comp = (u: string, name: string) => managers.find((m) => m.userId === u)!.components.find((c) => c.name === name)!;
    expect(comp(a, 'ConsoleLogger').restarts).toBe(1);
    expect(comp(a, 'StreamStateServer').restarts).toBe(0);
    expect(comp(b, 'ConsoleLogger').restarts).toBe(0);
    // b went on ticking; a's restarted logger continues its count.
    const aBefore = consoleLines(stack, a).length;
    await until('both keep ticking', () => consoleLines(stack, b).length >= bBefore + 3 && consoleLines(stack, a).length >= aBefore + 2);
    consoleLines(stack, a).forEach((n, i) => expect(n).toBe(i + 1));
    expect(stack.observer.on(`stream.manager.${a}.stopped`)).toHaveLength(0);
    expect(stack.observer.on(`stream.manager.${b}.stopped`)).toHaveLength(0);
    ta.close();
    tb.close();
  });

  it('the stateful StreamStateServer answers and keeps its state across a crash', async () => {
    const user = uniqueUser('state');
    const tab = await stack.tab(user);
    await stack.observer.waitFor(`stream.manager.${user}.started`);
    const set = await stack.observer.request<{ state: { status: string; title: string; version: number } }>(`stream.state.${user}`, { set: { status: 'live', title: 'hello' } });
    expect(set.state).toMatchObject({ status: 'live', title: 'hello', version: 1 });
    await stack.observer.request('stream.admin.crash', { userId: user, component: 'StreamStateServer' });
    const got = await until('state after restart', () =>
      stack.observer.request<{ state?: { status: string; version: number } }>(`stream.state.${user}`, {}, 500).catch(() => undefined),
    );
    expect(got.state).toMatchObject({ status: 'live', title: 'hello', version: 1 });
    tab.close();
  });

  it('presence.query.users and presence.query.user list sessions with Phoenix-shaped metas', async () => {
    const user = uniqueUser('query');
    const t1 = await stack.tab(user, { page: '/dashboard/streams' });
    const t2 = await stack.tab(user);
    const r = await until('both sessions listed', async () => {
      const q = await stack.observer.request<{ users: Record<string, { metas: Array<Record<string, unknown>> }> }>('presence.query.users');
      return q.users[user]?.metas.length === 2 ? q : undefined;
    });
    expect(r.users[user].metas.map((m) => m.page).sort()).toEqual(['/dashboard', '/dashboard/streams']);
    expect(r.users[user].metas[0]).toMatchObject({ sessionId: expect.any(String), joinedAt: expect.any(String), gatewayId: expect.any(String), status: 'visible' });
    t1.close();
    t2.close();
  });

  it("a user's first tab costs no presence.query.user; a first tab on another gateway of a user online elsewhere asks once", async () => {
    const user = uniqueUser('asks');
    const asked = () => stack.observer.on('presence.query.user').filter((m) => m.data.userId === user);
    const openedAt = Date.now();
    const first = await stack.tab(user);
    expect((await first.waitManager('running')).workerId).toEqual(expect.any(String));
    const [started] = await stack.observer.waitFor(`stream.manager.${user}.started`);
    // Past the gateway's FIRST_GET_MS (500 ms): the events told it all, so it never asked. A
    // machine so loaded that the manager took longer to start may have asked once, and no more.
    await sleep(1000);
    if (started.receivedAt - openedAt < 400) {
      expect(asked()).toHaveLength(0);
      expect(first.managerEvents.map((m) => m.state)).toEqual(['starting', 'running']);
    } else {
      expect(asked().length).toBeLessThanOrEqual(1);
    }
    const before = asked().length;
    const other = await stack.addApp('gateway');
    const elsewhere = await stack.tab(user, { gateway: other });
    const told = await elsewhere.waitManager('running');
    expect(told.workerId).toBe(first.managerEvents.at(-1)?.workerId);
    expect(asked()).toHaveLength(before + 1);
    expect(elsewhere.managerEvents.map((m) => m.state)).toEqual(['running']);
    first.close();
    elsewhere.close();
    await other.kill('SIGTERM');
  });
});
