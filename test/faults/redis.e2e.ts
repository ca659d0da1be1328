import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createRedis, redisKeys, type RedisClient } from '#libs/redis/index.js';
import { Stack, uniqueUser, until } from '../support/harness.js';
import { FAST, converged, convergenceBound, expectNeverTwoManagers, expectNoDuplicateManagers, expectOneManagerAtATime, fastEnv, presentUsers } from '../support/faults.js';

jest.setTimeout(60_000);

const T = FAST;

describe('Redis restarts empty', () => {
  const stack = new Stack({ workers: 2, gateways: 2, env: fastEnv(T) });
  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it('presence is rebuilt from the gateways, present users keep their managers, a user in grace still stops', async () => {
    const [gw1, gw2] = stack.gateways;
    const twoTabs = uniqueUser('two-tabs');
    const spread = uniqueUser('spread');
    const inGrace = uniqueUser('in-grace');
    const gone = uniqueUser('gone');
    const users = [twoTabs, spread, inGrace, gone];
    const tabs = [
      await stack.tab(twoTabs, { gateway: gw1 }),
      await stack.tab(twoTabs, { gateway: gw1 }),
      await stack.tab(spread, { gateway: gw1 }),
      await stack.tab(spread, { gateway: gw2 }),
    ];
    const goneTab = await stack.tab(gone, { gateway: gw2 });
    goneTab.close();
    await stack.observer.waitFor(`stream.manager.${gone}.stopped`, T.CLEANUP_TIMEOUT_MS + 3000);
    const graceTab = await stack.tab(inGrace, { gateway: gw2 });
    for (const u of [twoTabs, spread, inGrace]) await stack.observer.waitFor(`stream.manager.${u}.started`);
    graceTab.close();
    await stack.observer.waitFor(`presence.cleanup.${inGrace}.scheduled`);

    await stack.backends.stopRedis('SIGKILL');
    await stack.backends.startRedis();
    const flushedAt = Date.now();

    // Presence notices the empty dataset and the gateways announce their sessions again.
    await stack.presence.waitForLine(/presence state is empty/, 5000);
    await until('present users listed again', async () => {
      const present = await presentUsers(stack).catch(() => ({}) as Record<string, { metas: unknown[] }>);
      return present[twoTabs]?.metas.length === 2 && present[spread]?.metas.length === 2;
    }, 5000, 100);
    // The user whose grace began before the flush is adopted and stopped after a fresh grace.
    const [stopped] = await stack.observer.waitFor(`stream.manager.${inGrace}.stopped`, convergenceBound(T));
    expect(stopped.receivedAt - flushedAt).toBeLessThanOrEqual(convergenceBound(T));
    expect(stopped.receivedAt - flushedAt).toBeGreaterThanOrEqual(T.CLEANUP_TIMEOUT_MS);
    await converged(stack, users, [twoTabs, spread], 3000);

    // Present users never lost their managers, and nobody present was cleaned up.
    for (const u of [twoTabs, spread]) {
      expect(stack.observer.on(`stream.manager.${u}.stopped`)).toHaveLength(0);
      expect(stack.observer.on(`stream.manager.${u}.started`)).toHaveLength(1);
      expect(stack.observer.on(`presence.user.${u}.offline`)).toHaveLength(0);
    }
    for (const u of users) {
      expectNeverTwoManagers(stack, u, new Map());
      expectOneManagerAtATime(stack.workers, u);
    }
    await expectNoDuplicateManagers(stack);

    // The rebuilt state works: a new user starts a manager, a leave schedules a cleanup.
    const late = uniqueUser('after-flush');
    const lateTab = await stack.tab(late, { gateway: gw2 });
    await stack.observer.waitFor(`stream.manager.${late}.started`, 3000);
    tabs[0].close();
    tabs[1].close();
    await stack.observer.waitFor(`stream.manager.${twoTabs}.stopped`, T.CLEANUP_TIMEOUT_MS + 3000);
    await converged(stack, [...users, late], [spread, late], 3000);
    lateTab.close();
  });
});

describe('the resync after a lost dataset', () => {
  const stack = new Stack();
  let redis: RedisClient;
  beforeAll(async () => {
    await stack.start();
    await stack.firstResync();
    redis = createRedis(stack.backends.redisUrl, 'e2e');
  });
  afterAll(async () => {
    redis?.disconnect();
    await stack.stop();
  });

  it('announces the sessions joined before the state began, not those whose join the stream already brings to it', async () => {
    const before = uniqueUser('before-loss');
    const after = uniqueUser('after-loss');
    const earlier = await stack.tab(before);
    await stack.observer.waitFor(`stream.manager.${before}.started`);

    // The marker gone is a lost dataset to presence: it starts a new state and asks for a resync
    // RESYNC_SETTLE_MS later. A tab opened in between has its join stored after that state began.
    const from = stack.presence.lines.length;
    // One bucket's marker: on a Cluster, the shard holding it lost its data.
    await redis.del(redisKeys('pl').marker(3));
    const line = await stack.presence.waitForLine(/presence state is empty.*stream sequence (\d+) or before/, 5000, from);
    const afterSeq = Number(/stream sequence (\d+)/.exec(line)![1]);
    const resyncs = stack.observer.on('presence.gateway.resync').length;
    const later = await stack.tab(after);
    await stack.observer.waitFor(`presence.session.${after}.joined`);
    const [request] = (await stack.observer.waitFor('presence.gateway.resync', 5000, resyncs + 1)).slice(resyncs);
    expect(request.data.afterSeq).toBe(afterSeq);

    // The earlier session is announced again; the later one's join is stored once.
    await stack.observer.waitFor(`presence.session.${before}.joined`, 5000, 2);
    await stack.gateway.waitForLine(/resync requested: announcing 1 session\(s\) again \(1 joined since/, 5000);
    await until('both users present with their one session', async () => {
      const u = await Promise.all([before, after].map((userId) => stack.observer.request<{ metas: unknown[] }>('presence.query.user', { userId })));
      return u.every((p) => p.metas.length === 1);
    });
    expect(stack.observer.on(`presence.session.${after}.joined`)).toHaveLength(1);
    earlier.close();
    later.close();
  });
});
