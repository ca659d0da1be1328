import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Stack, uniqueUser, until, type AppProcess, type Tab } from '../support/harness.js';
import { converged, expectNeverTwoManagers, expectNoDuplicateManagers, expectOneManagerAtATime, fastEnv, managers, statsMatchManagers, type FaultTimings } from '../support/faults.js';

jest.setTimeout(60_000);

const T: FaultTimings = { GATEWAY_TTL_MS: 2000, WORKER_TTL_MS: 3000, CLEANUP_TIMEOUT_MS: 1500 };

describe('a stream worker dies (two workers)', () => {
  const stack = new Stack({ workers: 2, env: fastEnv(T) });
  const killed = new Map<string, number>();
  const users = Array.from({ length: 8 }, (_, i) => uniqueUser(`w${i}`));
  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  const workerOf = async (userId: string) => (await managers(stack)).find((m) => m.userId === userId)?.workerId;
  const proc = (workerId: string) => stack.workers.find((w) => w.env.INSTANCE_ID === workerId)!;
  /** The worker running most of `users`, so a kill moves some managers. */
  const busiest = async (): Promise<AppProcess> => {
    const ms = (await managers(stack)).filter((m) => users.includes(m.userId));
    const count = new Map<string, number>();
    for (const m of ms) count.set(m.workerId, (count.get(m.workerId) ?? 0) + 1);
    const [top] = [...count.entries()].sort((a, b) => b[1] - a[1]);
    return proc(top[0]);
  };

  it('kill -9: its users\' managers start on the other worker within WORKER_TTL_MS, never two at once; stats count what runs', async () => {
    const tabs = new Map<string, Tab>();
    for (const u of users) tabs.set(u, await stack.tab(u));
    await converged(stack, users, users, 5000);
    expect(await statsMatchManagers(stack, 3000)).toBeGreaterThanOrEqual(users.length);
    const victim = await busiest();
    const moved = (await managers(stack)).filter((m) => m.workerId === victim.env.INSTANCE_ID).map((m) => m.userId);
    expect(moved.length).toBeGreaterThan(1);
    const startsBefore = new Map(users.map((u) => [u, stack.observer.on(`stream.manager.${u}.started`).length]));
    // One of the victim's users leaves, so that their cleanup runs just after the kill and before
    // the dead worker's lease lapses: nobody takes that user over, nobody stops their manager.
    const leaver = moved.pop()!;
    users.splice(users.indexOf(leaver), 1);
    tabs.get(leaver)!.close();
    const [scheduled] = await stack.observer.waitFor(`presence.cleanup.${leaver}.scheduled`);
    const runAt = Date.parse(scheduled.data.runAt as string);
    await until('shortly before the leaver\'s cleanup', () => Date.now() >= runAt - 300, T.CLEANUP_TIMEOUT_MS + 1000);

    await victim.kill('SIGKILL');
    const killedAt = Date.now();
    killed.set(victim.env.INSTANCE_ID, killedAt);
    await stack.observer.waitFor(`presence.user.${leaver}.offline`, 2000);
    for (const u of moved) {
      const starts = await stack.observer.waitFor(`stream.manager.${u}.started`, T.WORKER_TTL_MS + 1000, startsBefore.get(u)! + 1);
      const again = starts[starts.length - 1];
      expect(again.data.workerId).not.toBe(victim.env.INSTANCE_ID);
      expect(again.receivedAt - killedAt).toBeLessThanOrEqual(T.WORKER_TTL_MS + 250);
    }
    await converged(stack, users, users, 3000);
    // The dead worker's registry entry of the leaver goes too, once the worker counts as dead
    // (silent WORKER_TTL_MS) and a survivor's check runs (every WORKER_TTL_MS / 2).
    await statsMatchManagers(stack, Math.max(0, killedAt + T.WORKER_TTL_MS * 2 + 1000 - Date.now()));
    expect(stack.observer.on(`stream.manager.${leaver}.started`)).toHaveLength(1);
    // The survivor's own users were never touched.
    for (const u of users.filter((x) => !moved.includes(x))) {
      expect(stack.observer.on(`stream.manager.${u}.started`)).toHaveLength(1);
      expect(stack.observer.on(`stream.manager.${u}.stopped`)).toHaveLength(0);
    }
    await until('a few console lines of the moved managers', () =>
      moved.every((u) => stack.workers.some((w) => w.alive && w.grep(new RegExp(`\\[UserStreamManager:${u}\\] Console log #3 `)).length > 0)),
    );
    for (const u of users) {
      expectNeverTwoManagers(stack, u, killed);
      expectOneManagerAtATime(stack.workers, u);
    }
    await expectNoDuplicateManagers(stack);
  });

  it('SIGTERM: a worker hands its managers over at once, well under WORKER_TTL_MS', async () => {
    await stack.addApp('stream-workers');
    // Two workers again; new users land on either (whoever takes the lease first).
    const fresh = Array.from({ length: 6 }, (_, i) => uniqueUser(`h${i}`));
    users.push(...fresh);
    for (const u of fresh) await stack.tab(u);
    await converged(stack, users, users, 5000);
    const victim = await busiest();
    const moved = (await managers(stack)).filter((m) => m.workerId === victim.env.INSTANCE_ID).map((m) => m.userId);
    expect(moved.length).toBeGreaterThan(0);
    const startsBefore = new Map(moved.map((u) => [u, stack.observer.on(`stream.manager.${u}.started`).length]));

    const stoppingAt = Date.now();
    await victim.kill('SIGTERM');
    for (const u of moved) {
      const [stopped] = await stack.observer.waitFor(`stream.manager.${u}.stopped`, 2000);
      expect(stopped.data).toMatchObject({ reason: 'handover', workerId: victim.env.INSTANCE_ID });
      const starts = await stack.observer.waitFor(`stream.manager.${u}.started`, 2000, startsBefore.get(u)! + 1);
      expect(starts[starts.length - 1].receivedAt - stoppingAt).toBeLessThan(T.WORKER_TTL_MS / 3);
      expect(await workerOf(u)).not.toBe(victim.env.INSTANCE_ID);
    }
    expect(victim.grep(new RegExp(`handed over ${moved.length} manager\\(s\\)`))).toHaveLength(1);
    await converged(stack, users, users, 3000);
    await statsMatchManagers(stack, 3000);
    for (const u of users) {
      expectNeverTwoManagers(stack, u, killed);
      expectOneManagerAtATime(stack.workers, u);
    }
    await expectNoDuplicateManagers(stack);
  });
});
