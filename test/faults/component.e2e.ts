import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Stack, uniqueUser, until, type Tab } from '../support/harness.js';
import { fastEnv, managers } from '../support/faults.js';
import { CRASH_MODES } from '../../libs/contracts/admin.js';

jest.setTimeout(60_000);

/**
 * Contract guarantee 7: a component's error, thrown anywhere in its code, restarts that component
 * within its manager's restart intensity; it never ends the process nor touches another user's
 * manager. Each mode of `stream.admin.crash` raises the error from inside the component through
 * one path: ctx.fail, a ticker callback that throws or rejects, a context timer, spawned work, and
 * a plain timer or promise the component's code made itself.
 */
describe('a component that throws, on every path, is restarted alone', () => {
  const stack = new Stack({ env: fastEnv() });
  const bystander = uniqueUser('bystander');
  const victims: string[] = [];
  const tabs: Tab[] = [];
  beforeAll(async () => {
    await stack.start();
    tabs.push(await stack.tab(bystander));
    await stack.observer.waitFor(`stream.manager.${bystander}.started`);
  });
  afterAll(() => stack.stop());

  const ticks = (user: string) => stack.observer.on(`stream.console.${user}.tick`).map((t) => t.data.n as number);
  const component = async (user: string, name: string) => {
    const m = (await managers(stack)).find((x) => x.userId === user) as unknown as { components: Array<{ name: string; restarts: number; state: string }> } | undefined;
    return m?.components.find((c) => c.name === name);
  };

  // One user per mode: each manager has its own restart intensity, which these crashes stay within.
  it.each(CRASH_MODES.map((how) => [how]))('%s: the component restarts, the worker lives on, the other user never notices', async (how) => {
    const victim = uniqueUser(`crashy-${how}`);
    victims.push(victim);
    tabs.push(await stack.tab(victim));
    await stack.observer.waitFor(`stream.manager.${victim}.started`);
    await until('the victim ticks', () => ticks(victim).length >= 2, 5000);
    const pid = stack.worker.child!.pid;
    const before = (await component(victim, 'ConsoleLogger'))!.restarts;
    const answer = await stack.observer.request<{ ok: boolean }>('stream.admin.crash', { userId: victim, component: 'ConsoleLogger', how });
    expect(answer.ok).toBe(true);
    await until(`${how}: ConsoleLogger restarted`, async () => {
      const c = await component(victim, 'ConsoleLogger');
      return c && c.restarts === before + 1 && c.state === 'running';
    }, 5000, 50);
    const seen = ticks(victim).length;
    await until('the victim ticks again', () => ticks(victim).length >= seen + 2, 5000);

    expect(stack.worker.alive).toBe(true);
    expect(stack.worker.child!.pid).toBe(pid);
    // Neither manager stopped or started again; the sibling component was not touched.
    for (const u of [victim, bystander]) {
      expect(stack.observer.on(`stream.manager.${u}.started`)).toHaveLength(1);
      expect(stack.observer.on(`stream.manager.${u}.stopped`)).toHaveLength(0);
    }
    expect(await component(victim, 'StreamStateServer')).toMatchObject({ restarts: 0, state: 'running' });
  });

  it('every count went on by one: each victim kept its count through its restart, the bystander never paused', () => {
    for (const u of [...victims, bystander]) {
      const ns = ticks(u);
      expect(ns.length).toBeGreaterThan(3);
      expect(ns).toEqual(ns.map((_, i) => ns[0] + i));
    }
    expect(stack.worker.grep(/uncaught exception, exiting/)).toEqual([]);
    expect(stack.worker.grep(/ConsoleLogger crashed, restarting it: injected raw-timer/)).toHaveLength(1);
  });
});
