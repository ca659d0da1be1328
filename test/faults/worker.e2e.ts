import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Stack, uniqueUser, until, type AppProcess } from '../support/harness.js';
import { converged, expectNeverTwoManagers, expectNoDuplicateManagers, expectOneManagerAtATime, fastEnv, managers, type FaultTimings } from '../support/faults.js';

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

  it('kill -9: its users\' managers start on the other worker within WORKER_TTL_MS, never two at once', async () => {
    for (const u of users) await stack.tab(u);
    await converged(stack, users, users, 5000);
    const victim = await busiest();
    const moved = (await managers(stack)).filter((m) => m.workerId === victim.env.INSTANCE_ID).map((m) => m.userId);
    expect(moved.length).toBeGreaterThan(0);
    const startsBefore = new Map(users.map((u) => [u, stack.observer.on(`stream.manager.${u}.started`).length]));

    await victim.kill('SIGKILL');
    const killedAt = Date.now();
    killed.set(victim.env.INSTANCE_ID, killedAt);
    for (const u of moved) {
      const starts = await stack.observer.waitFor(`stream.manager.${u}.started`, T.WORKER_TTL_MS + 1000, startsBefore.get(u)! + 1);
      const again = starts[starts.length - 1];
      expect(again.data.workerId).not.toBe(victim.env.INSTANCE_ID);
      expect(again.receivedAt - killedAt).toBeLessThanOrEqual(T.WORKER_TTL_MS + 250);
    }
    await converged(stack, users, users, 3000);
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
    for (const u of users) {
      expectNeverTwoManagers(stack, u, killed);
      expectOneManagerAtATime(stack.workers, u);
    }
    await expectNoDuplicateManagers(stack);
  });
});
