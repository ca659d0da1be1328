import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Stack, uniqueUser, until, type Tab } from '../support/harness.js';
import { converged, expectNoDuplicateManagers, fastEnv, managers, type FaultTimings } from '../support/faults.js';

jest.setTimeout(90_000);

const T: FaultTimings = { GATEWAY_TTL_MS: 3000, WORKER_TTL_MS: 3000, CLEANUP_TIMEOUT_MS: 1500 };

/**
 * A worker paused past its lease (SIGSTOP, then SIGCONT) is not dead: it wakes up believing it
 * runs its managers while another worker took them over. Fencing makes its word stale: its late
 * `stopped` carries an older lease generation, which the gateways ignore, and its managers do not
 * tick while their lease is in doubt. The managers query answers meanwhile, naming the worker
 * that did not answer.
 */
describe('a stream worker paused past its lease', () => {
  const stack = new Stack({ workers: 2, env: fastEnv(T) });
  const users = Array.from({ length: 8 }, (_, i) => uniqueUser(`p${i}`));
  const tabs = new Map<string, Tab>();
  beforeAll(async () => {
    await stack.start();
    for (const u of users) tabs.set(u, await stack.tab(u));
    await converged(stack, users, users, 10_000);
  });
  afterAll(async () => {
    for (const w of stack.workers) if (w.alive) w.child!.kill('SIGCONT');
    await stack.stop();
  });

  it('its users move, its late stop changes no tab, no two managers tick, and the query names it while it sleeps', async () => {
    const rows = await managers(stack);
    const counts = new Map<string, number>();
    for (const r of rows) counts.set(r.workerId, (counts.get(r.workerId) ?? 0) + 1);
    const [sleeperId] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
    const sleeper = stack.workers.find((w) => w.env.INSTANCE_ID === sleeperId)!;
    const moved = rows.filter((r) => r.workerId === sleeperId).map((r) => r.userId);
    expect(moved.length).toBeGreaterThan(0);
    const generationOf = (u: string) => Math.max(...stack.observer.on(`stream.manager.${u}.started`).map((s) => s.data.generation as number));
    const before = new Map(moved.map((u) => [u, generationOf(u)]));

    sleeper.child!.kill('SIGSTOP');
    const pausedAt = Date.now();
    const ask = () =>
      stack.observer.request<{ managers: Array<{ userId: string }>; workers: { answered: string[]; missing: string[] } }>('stream.query.managers', undefined, 3000);
    // Asked at once: the query does not wait for the sleeper; it answers with who answered and names who did not.
    const t0 = Date.now();
    const early = await ask();
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(early.workers.missing).toEqual([sleeperId]);
    for (const u of moved) {
      await until(`${u} taken over`, () => generationOf(u) > before.get(u)!, T.WORKER_TTL_MS + 2000);
    }
    const takenOverAt = Date.now();

    // Once its users are taken over, every user is listed, from the workers that answer.
    const answer = await ask();
    expect(answer.workers.missing).toEqual([sleeperId]);
    expect(answer.managers.map((m) => m.userId).filter((u) => users.includes(u)).sort()).toEqual([...users].sort());

    // Asleep well past its lease, then woken up.
    await new Promise((r) => setTimeout(r, Math.max(0, pausedAt + 2 * T.WORKER_TTL_MS - Date.now())));
    const wokenAt = Date.now();
    sleeper.child!.kill('SIGCONT');
    for (const u of moved) {
      const [stale] = await stack.observer.waitFor(`stream.manager.${u}.stopped`, 5000);
      expect(stale.data).toMatchObject({ workerId: sleeperId, reason: 'lease_lost', generation: before.get(u) });
    }
    await new Promise((r) => setTimeout(r, 1000));

    for (const u of moved) {
      // The tabs were told `running` on the new worker and nothing since: the stale stop changed nothing.
      const events = tabs.get(u)!.managerEvents;
      expect(events.at(-1)).toMatchObject({ state: 'running' });
      expect(events.at(-1)!.workerId).not.toBe(sleeperId);
      // Once the new holder ran, no tick of the old generation: not even the sleeper's overdue timers.
      const ticks = stack.observer.on(`stream.console.${u}.tick`);
      const firstNew = ticks.findIndex((t) => (t.data.generation as number) > before.get(u)!);
      expect(firstNew).toBeGreaterThanOrEqual(0);
      expect(ticks.slice(firstNew).filter((t) => t.data.generation === before.get(u))).toEqual([]);
      expect(ticks.filter((t) => t.data.workerId === sleeperId && t.receivedAt >= wokenAt)).toEqual([]);
    }
    expect(takenOverAt - pausedAt).toBeLessThan(T.WORKER_TTL_MS + 2000);
    expect(sleeper.alive).toBe(true);
    await converged(stack, users, users, 10_000);
    await expectNoDuplicateManagers(stack);
  });
});
