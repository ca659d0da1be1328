import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Stack, uniqueUser, until, type AppProcess, type Tab } from '../support/harness.js';
import {
  FAST,
  converged,
  convergenceBound,
  expectNeverTwoManagers,
  expectNoDuplicateManagers,
  expectOneManagerAtATime,
  fastEnv,
  heldUsers,
  managers,
} from '../support/faults.js';

jest.setTimeout(90_000);

const T = FAST;

describe('many instances: two gateways, two presence replicas, two workers; one of each killed in turn', () => {
  const stack = new Stack({ gateways: 2, workers: 2, env: fastEnv(T) });
  const killed = new Map<string, number>();
  const tabs: Array<{ user: string; tab: Tab; gateway: AppProcess }> = [];
  const users: string[] = [];
  beforeAll(async () => {
    await stack.start();
    await stack.addApp('presence');
  });
  afterAll(() => stack.stop());

  const open = async (user: string, gateway: AppProcess) => {
    if (!users.includes(user)) users.push(user);
    tabs.push({ user, gateway, tab: await stack.tab(user, { gateway }) });
  };
  const close = (user: string) => {
    const t = tabs.find((x) => x.user === user && x.tab.socket.connected)!;
    t.tab.close();
  };
  /** After every fault: the running managers are exactly the users whose tabs we hold open. */
  const expectConverged = async (what: string) => {
    const took = await converged(stack, users, heldUsers(tabs), convergenceBound(T));
    for (const u of users) {
      expectNeverTwoManagers(stack, u, killed);
      expectOneManagerAtATime(stack.workers, u);
    }
    await expectNoDuplicateManagers(stack);
    return { what, took };
  };
  const kill = async (p: AppProcess) => {
    await p.kill('SIGKILL');
    killed.set(p.env.INSTANCE_ID, Date.now());
    // The dead gateway's tabs notice at once (their connection closed): they are not held any more.
    await until('tabs of a dead gateway disconnected', () => tabs.every((t) => t.gateway !== p || !t.tab.socket.connected));
  };

  it('converges to exactly the present users after each kill', async () => {
    const [gw1, gw2] = stack.gateways;
    for (let i = 0; i < 6; i++) {
      const u = uniqueUser(`c${i}`);
      await open(u, i % 2 === 0 ? gw1 : gw2);
      if (i % 3 === 0) await open(u, i % 2 === 0 ? gw2 : gw1);
    }
    await expectConverged('start');

    // 1. A gateway: the users only on it leave after GATEWAY_TTL_MS + CLEANUP_TIMEOUT_MS.
    await kill(gw1);
    const afterGateway = await expectConverged('gateway killed');
    expect(heldUsers(tabs).length).toBeLessThan(users.length);

    // 2. A presence replica, with sessions coming and going around the kill.
    const extra = uniqueUser('c-extra');
    await open(extra, gw2);
    await kill(stack.presences[0]);
    const late = uniqueUser('c-late');
    await open(late, gw2);
    close(heldUsers(tabs)[0]);
    const afterPresence = await expectConverged('presence killed');

    // 3. The worker running the most managers.
    const ms = await managers(stack);
    const byWorker = new Map<string, number>();
    for (const m of ms) byWorker.set(m.workerId, (byWorker.get(m.workerId) ?? 0) + 1);
    const [busiest] = [...byWorker.entries()].sort((a, b) => b[1] - a[1])[0];
    await kill(stack.workers.find((w) => w.env.INSTANCE_ID === busiest)!);
    const afterWorker = await expectConverged('worker killed');

    // The survivors still serve: a new user starts a manager, a departing one stops.
    const newcomer = uniqueUser('c-new');
    await open(newcomer, gw2);
    close(heldUsers(tabs).find((u) => u !== newcomer)!);
    await expectConverged('after all kills');
    for (const t of [afterGateway, afterPresence, afterWorker]) expect(t.took).toBeLessThanOrEqual(convergenceBound(T));
  });
});
