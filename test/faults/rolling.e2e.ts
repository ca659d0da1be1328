import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Stack, Tab, uniqueUser, until, type AppProcess } from '../support/harness.js';
import { Balancer } from '../support/balancer.js';
import { converged, restart } from '../support/faults.js';

jest.setTimeout(120_000);

/**
 * Contract guarantee 8: stopping one instance of any app gracefully (SIGTERM) while another
 * instance of that app runs restarts no manager, and a stopped gateway's tabs reconnect to a
 * gateway by themselves and keep their manager. The tabs are real Socket.IO clients with the
 * client's default reconnection, behind a load balancer over two gateways; the grace is the
 * default CLEANUP_TIMEOUT_MS.
 */
const env = { GATEWAY_TTL_MS: '3000', WORKER_TTL_MS: '3000', CLEANUP_TIMEOUT_MS: '5000', CONSOLE_LOGGER_INTERVAL_MS: '200' };

describe('rolling restarts, one instance at a time', () => {
  const stack = new Stack({ env, gateways: 2, workers: 2 });
  let balancer: Balancer;
  const users = Array.from({ length: 6 }, (_, i) => uniqueUser(`roll${i}`));
  const tabs: Array<{ user: string; tab: Tab; drops: number }> = [];

  beforeAll(async () => {
    await stack.start();
    await stack.addApp('presence');
    balancer = new Balancer(stack.gateways.map((g) => g.port));
    await balancer.start();
    for (const user of users) {
      for (let i = 0; i < 2; i++) {
        const tab = new Tab(stack, balancer.url, { token: await stack.token(user), page: '/dashboard' }, undefined, { reconnection: true });
        const entry = { user, tab, drops: 0 };
        tab.socket.on('disconnect', () => entry.drops++);
        await tab.connected();
        tabs.push(entry);
      }
    }
    await converged(stack, users, users, 10_000);
    await until('every manager ticks', () => users.every((u) => ticks(u).length >= 2), 10_000);
  });
  afterAll(async () => {
    for (const t of tabs) t.tab.close();
    await balancer?.close();
    await stack.stop();
  });

  const ticks = (user: string) => stack.observer.on(`stream.console.${user}.tick`).map((t) => t.data.n as number);
  const allConnected = () => tabs.every((t) => t.tab.socket.connected);

  /** Since the suite began: one start per user, no stop, and each count went on by one. */
  function expectNoManagerRestarted() {
    for (const u of users) {
      const stops = stack.observer.on(`stream.manager.${u}.stopped`).filter((s) => s.data.reason !== 'handover');
      expect({ u, stops: stops.map((s) => s.data) }).toEqual({ u, stops: [] });
      expect(stack.observer.on(`presence.user.${u}.offline`)).toHaveLength(0);
      const ns = ticks(u);
      expect({ u, countWentOn: ns.every((n, i) => i === 0 || n === ns[i - 1] + 1) }).toEqual({ u, countWentOn: true });
    }
  }

  async function gracefulRestart(app: AppProcess) {
    const list = app.app === 'gateway' ? stack.gateways : app.app === 'presence' ? stack.presences : stack.workers;
    await app.kill('SIGTERM');
    list.splice(list.indexOf(app), 1);
    await restart(stack, app);
  }

  it('gateways: a stopped gateway closes transports, its tabs reconnect through the balancer and keep their manager', async () => {
    for (const gateway of [...stack.gateways]) {
      const held = tabs.filter((t) => stack.observer.on(`presence.session.${t.user}.joined`).some((j) => j.data.gatewayId === gateway.env.INSTANCE_ID));
      expect(held.length).toBeGreaterThan(0);
      const drops = tabs.map((t) => t.drops);
      await gracefulRestart(gateway);
      await until('every tab connected again', allConnected, 10_000);
      // Some tabs were on the stopped gateway: they dropped and came back by themselves.
      expect(tabs.some((t, i) => t.drops > drops[i])).toBe(true);
      await converged(stack, users, users, 10_000);
    }
    const leaves = users.flatMap((u) => stack.observer.on(`presence.session.${u}.left`));
    expect(leaves.length).toBeGreaterThan(0);
    expect(new Set(leaves.map((l) => l.data.reason))).toEqual(new Set(['gateway_down']));
    expectNoManagerRestarted();
  });

  it('presence: each replica in turn; nothing restarts, joins and leaves meanwhile are applied', async () => {
    for (const p of [...stack.presences]) {
      const extra = new Tab(stack, balancer.url, { token: await stack.token(users[0]), page: '/dashboard' });
      await extra.connected();
      await gracefulRestart(p);
      extra.close();
      await converged(stack, users, users, 10_000);
    }
    expectNoManagerRestarted();
  });

  it('stream workers: each in turn hands its managers over, and they go on counting where they were', async () => {
    for (const w of [...stack.workers]) {
      await gracefulRestart(w);
      await converged(stack, users, users, 10_000);
    }
    const moves = users.flatMap((u) => stack.observer.on(`stream.manager.${u}.stopped`));
    expect(moves.length).toBeGreaterThan(0);
    expect(new Set(moves.map((m) => m.data.reason))).toEqual(new Set(['handover']));
    await until('every manager ticks after the moves', () => users.every((u) => ticks(u).length >= 5), 10_000);
    expectNoManagerRestarted();
  });
});
