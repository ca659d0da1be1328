import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '#libs/config/index.js';
import { bucketOf, createRedis, type RedisClient } from '#libs/redis/index.js';
import { PresenceStateRepository } from '../../apps/presence/state/presence-state.repository.js';
import { AUDIT_STREAM } from '#libs/nats/streams.js';
import { Stack, readStream, uniqueUser, until } from '../support/harness.js';
import { FAST, converged, fastEnv, presentUsers } from '../support/faults.js';

jest.setTimeout(60_000);

const T = FAST;
const HEARTBEAT_MS = T.GATEWAY_TTL_MS / 3;

/**
 * Redis replicates asynchronously: a Sentinel failover can lose writes the old primary had
 * acknowledged. Here one user's join and another user's leave, both of one gateway, are lost, as
 * such a failover loses them, made directly in Redis with the real scripts and no failover (which
 * loses them only now and then): the state then holds as many sessions for the gateway as the
 * gateway does, other ones. Presence must still see it from the gateway's heartbeats and repair
 * it, as it repairs a count that differs. With two presence replicas both see the heartbeats and
 * both repair the gateway, nothing keeping them apart: each repair must still be stored once.
 */
describe.each([1, 2])('writes to Redis lost (a failover): a lost join plus a lost leave of one gateway, %i presence replica(s)', (replicas) => {
  const stack = new Stack({ env: fastEnv() });
  let redis: RedisClient;
  let state: PresenceStateRepository;
  beforeAll(async () => {
    await stack.start();
    if (replicas === 2) await stack.addApp('presence');
    redis = createRedis(stack.backends.redisUrl, 'e2e');
    state = new PresenceStateRepository(redis, loadConfig({ NODE_ENV: 'development', REDIS_URL: stack.backends.redisUrl }));
  });
  afterAll(async () => {
    redis?.disconnect();
    await stack.stop();
  });

  it('are repaired within a few heartbeats: the live session is back with its manager, the phantom one ends', async () => {
    const lostJoin = uniqueUser('lost-join');
    const bystander = uniqueUser('bystander');
    const lostLeave = uniqueUser('lost-leave');
    const tabs = [await stack.tab(lostJoin), await stack.tab(bystander)];
    for (const u of [lostJoin, bystander]) await stack.observer.waitFor(`stream.manager.${u}.started`);
    await converged(stack, [lostJoin, bystander], [lostJoin, bystander], 5000);
    const { sessionId, gatewayId } = tabs[0].sessionEvents[0];

    // A leave lost: a session of this gateway, closed before, is still in the state.
    const phantom = randomUUID();
    const before = new Date(Date.now() - 10_000).toISOString();
    await state.join(lostLeave, { sessionId: phantom, page: '/dashboard', joinedAt: before, gatewayId, status: 'visible', statusAt: before });
    // A join lost: the state is as before the user's join (a new user: no session, no state).
    const now = Date.now();
    await state.leave(lostJoin, sessionId, now, now + 3_600_000, 'closed', gatewayId);
    const b = bucketOf(lostJoin);
    await redis
      .multi()
      .del(state.keys.sessionRecord(lostJoin, sessionId), state.keys.state(lostJoin))
      .srem(state.keys.active(b), lostJoin)
      .zrem(state.keys.grace(b), lostJoin)
      .exec();
    const lostAt = Date.now();
    // As many sessions for the gateway as it holds: a session count cannot tell.
    const held = await stack.observer.request<{ gateways: Array<{ gatewayId: string; sessions: number }> }>('presence.query.debug');
    expect(held.gateways.find((g) => g.gatewayId === gatewayId)?.sessions).toBe(2);

    // The phantom session ends as a repair; the live one is announced again, within a few heartbeats.
    const within = 6 * HEARTBEAT_MS + 2000;
    const [left] = await stack.observer.waitFor(`presence.session.${lostLeave}.left`, within);
    expect(left.data).toMatchObject({ sessionId: phantom, userId: lostLeave, gatewayId, reason: 'lost' });
    await until(
      `${lostJoin}'s session back in the state`,
      async () => (await presentUsers(stack))[lostJoin]?.metas.some((m) => m.sessionId === sessionId) ?? false,
      Math.max(0, lostAt + within - Date.now()),
    );
    // Every tab's user present with a running manager; nothing of the phantom is left.
    await converged(stack, [lostJoin, bystander, lostLeave], [lostJoin, bystander], T.CLEANUP_TIMEOUT_MS + 3000);
    const users = await presentUsers(stack);
    expect(users[lostJoin].metas.map((m) => m.sessionId)).toEqual([sessionId]);
    expect(users[lostLeave]).toBeUndefined();
    // The bystander's session was never touched.
    expect(stack.observer.on(`presence.session.${bystander}.left`)).toHaveLength(0);
    // Each repair stored once, however many replicas made it (with two, both usually reconcile on
    // the same heartbeat): the stream holds the phantom's one leave, and the lost join's session
    // joined twice (the gateway's join and the repair).
    const stored = await readStream(stack.observer.nc, AUDIT_STREAM);
    const ofSession = (subject: string, sid: string) => stored.filter((e) => e.subject === subject && e.data.sessionId === sid);
    expect(ofSession(`presence.session.${lostLeave}.left`, phantom)).toHaveLength(1);
    expect(ofSession(`presence.session.${lostJoin}.joined`, sessionId)).toHaveLength(2);
    for (const t of tabs) t.close();
    await converged(stack, [lostJoin, bystander], [], T.CLEANUP_TIMEOUT_MS + 3000);
  });
});
