import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { PresenceList, type PresenceDiff, type PresenceMap } from '#libs/contracts/index.js';
import { parseMetrics, sum } from '../bench/prom.js';
import { Stack, Tab, uniqueUser, until } from './support/harness.js';

jest.setTimeout(60_000);

const stack = new Stack();
beforeAll(async () => {
  await stack.start();
  // Presence's first start asks the gateways to announce their sessions again: not during the tests.
  await stack.firstResync();
});
afterAll(() => stack.stop());

/** The gateway's `presence_gateway_feed_sockets`: sockets watching the feed (0: it follows no session events). */
async function feedSockets(): Promise<number> {
  return sum(parseMetrics(await (await fetch(`${stack.gateway.url}/metrics`)).text()), 'presence_gateway_feed_sockets');
}

/** A tab that asks for the feed as it connects, as the dashboard page does. */
async function watcher(user: string) {
  const tab = new Tab(stack, stack.gateway.url, { token: await stack.token(user), page: '/dashboard' });
  const list = new PresenceList();
  const state = new Promise<PresenceMap>((resolve) => tab.socket.once('presence_state', resolve));
  tab.socket.on('presence_state', (s: PresenceMap) => list.onState(s));
  tab.socket.on('presence_diff', (d: PresenceDiff) => list.onDiff(d));
  tab.socket.on('connect', () => tab.socket.emit('presence:subscribe'));
  await tab.connected();
  return { tab, list, state };
}

const sessionIds = (map: PresenceMap, user: string) => (map[user]?.metas ?? []).map((m) => m.sessionId);

describe('presence feed', () => {
  it('the first watcher of a gateway finds its own tab in presence_state, although its join raced the request', async () => {
    // Each round starts the gateway's feed anew: the tab's join is published as it connects, and
    // its presence:subscribe follows at once, often before presence has applied that join.
    for (let i = 0; i < 8; i++) {
      expect(await feedSockets()).toBe(0);
      const user = uniqueUser(`own${i}`);
      const w = await watcher(user);
      const state = await w.state;
      await until('session event', () => w.tab.sessionEvents.length > 0);
      expect(sessionIds(state, user)).toEqual([w.tab.sessionEvents[0].sessionId]);
      expect(await feedSockets()).toBe(1);
      w.tab.close();
      await until('no socket watches the feed', async () => (await feedSockets()) === 0);
    }
  });

  it('while nobody watches, the gateway follows no session events; a later watcher still sees everyone, then every change', async () => {
    const [a, b, c] = [uniqueUser('feed-a'), uniqueUser('feed-b'), uniqueUser('feed-c')];
    // A joins while no socket watches the feed.
    const aTab = await stack.tab(a);
    await aTab.waitManager('running');
    expect(await feedSockets()).toBe(0);

    const w = await watcher(c);
    expect(sessionIds(await w.state, a)).toHaveLength(1);
    const bTab = await stack.tab(b);
    await until('B joined in the watcher', () => w.list.list()[b]?.metas.length === 1);
    bTab.close();
    await until('B left in the watcher', () => w.list.list()[b] === undefined);
    expect(w.list.list()[a]?.metas).toHaveLength(1);

    w.tab.close();
    await until('no socket watches the feed', async () => (await feedSockets()) === 0);
    aTab.close();
  });
});
