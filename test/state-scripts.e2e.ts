import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { loadConfig } from '#libs/config/index.js';
import { BUCKETS, bucketOf, createRedis, type RedisClient } from '#libs/redis/index.js';
import type { LeaveReason, SessionMeta, SessionStatus } from '#libs/contracts/index.js';
import { sessionDigest } from '#libs/contracts/index.js';
import { PresenceStateRepository } from '../apps/presence/state/presence-state.repository.js';
import { GatewayRegistry } from '../apps/presence/state/gateway-registry.repository.js';
import { SESSION_RECORD_TTL_MS } from '../apps/presence/state/scripts.js';
import { Backends, freePort } from './support/harness.js';
import { keysMatching } from './support/redis-cluster.js';

jest.setTimeout(60_000);

/**
 * The presence Lua scripts against a real Redis, driven directly: session events delivered in any
 * order, twice, interleaved with cleanups and orphan adoptions, as JetStream redeliveries after a
 * crash can deliver them. The O(1) counters must always equal a full scan of the state.
 */
const backends = new Backends();
let redis: RedisClient;
let repo: PresenceStateRepository;
let gateways: GatewayRegistry;
let prefix: string;
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

beforeAll(async () => {
  backends.redisPort = await freePort();
  await backends.startRedis();
  redis = createRedis(backends.redisUrl, 'e2e');
  const config = loadConfig({ NODE_ENV: 'development', REDIS_URL: backends.redisUrl, USER_STATE_TTL_MS: '60000' });
  prefix = config.redisPrefix;
  repo = new PresenceStateRepository(redis, config);
  gateways = new GatewayRegistry(redis, config);
});
afterAll(async () => {
  redis?.disconnect();
  await backends.stop();
});

const meta = (sessionId: string, atMs: number, gatewayId = 'gw-1'): SessionMeta => ({
  sessionId,
  page: '/dashboard',
  joinedAt: iso(atMs),
  gatewayId,
  status: 'visible',
  statusAt: iso(atMs),
});

/** The same numbers as repo.stats(), counted from every key. */
async function scan() {
  const users = new Set<string>();
  const byStatus: Record<SessionStatus, number> = { visible: 0, hidden: 0, idle: 0 };
  let sessions = 0;
  let grace = 0;
  const byGateway = new Map<string, string[]>();
  for (const key of await keysMatching(redis, `{${prefix}:b*}:u:*:sessions`)) {
    const metas = Object.values(await redis.hgetall(key)).map((m) => JSON.parse(m) as SessionMeta);
    if (metas.length === 0) continue;
    users.add(/:u:([^:]+):sessions$/.exec(key)![1]);
    sessions += metas.length;
    for (const m of metas) {
      byStatus[m.status]++;
      byGateway.set(m.gatewayId, [...(byGateway.get(m.gatewayId) ?? []), m.sessionId]);
    }
  }
  for (const key of await keysMatching(redis, `{${prefix}:b*}:u:*:state`)) if ((await redis.hget(key, 'status')) === 'grace') grace++;
  return { stats: { users: users.size, sessions, byStatus, pendingCleanups: grace, managers: 0 }, byGateway };
}

async function expectCountersExact(step: string, gatewayIds = ['gw-1']) {
  const [stats, { stats: full, byGateway }] = [await repo.stats(), await scan()];
  expect([step, stats]).toEqual([step, full]);
  // Each gateway's count and digest, kept by the scripts, are those of the sessions stored for it,
  // digested by the library the gateways use.
  for (const gw of gatewayIds) {
    const ids = byGateway.get(gw) ?? [];
    expect([step, gw, await gateways.held(gw)]).toEqual([step, gw, { sessions: ids.length, digest: sessionDigest(ids) }]);
  }
  // The indexes agree with the states they index.
  const online = await Promise.all(BUCKETS.map((b) => redis.smembers(repo.keys.online(b))));
  expect(new Set(online.flat()).size).toBe(full.users);
}

describe('presence state scripts', () => {
  it('a status change that comes before its join is kept for the join; an older one after a newer is ignored', async () => {
    const u = 'early-user';
    expect(await repo.update(u, 's1', 'hidden', iso(T0 + 10))).toBe('early');
    expect(await repo.update(u, 's1', 'idle', iso(T0 + 5))).toBe('stale');
    await repo.join(u, meta('s1', T0));
    let p = await repo.user(u);
    expect(p.metas.map((m) => [m.status, m.statusAt])).toEqual([['hidden', iso(T0 + 10)]]);
    // The join took what the session's record kept for it: nothing of it is left.
    expect(await redis.exists(repo.keys.sessionRecord(u, 's1'))).toBe(0);
    expect(await repo.update(u, 's1', 'idle', iso(T0 + 7))).toBe('stale');
    expect(await repo.update(u, 's1', 'hidden', iso(T0 + 20))).toBe('none');
    // Same status, newer time: the time moves on, so an older change still loses.
    expect(await repo.update(u, 's1', 'visible', iso(T0 + 15))).toBe('stale');
    expect(await repo.update(u, 's1', 'visible', iso(T0 + 30))).toBe('updated');
    p = await repo.user(u);
    expect(p.metas[0].status).toBe('visible');
    // An early status older than the join itself does not win over it.
    expect(await repo.update(u, 's2', 'idle', iso(T0 - 1000))).toBe('early');
    await repo.join(u, { ...meta('s2', T0 + 40), status: 'hidden' });
    expect((await repo.user(u)).metas.find((m) => m.sessionId === 's2')!.status).toBe('hidden');
    // After a leave, a status change is dropped and leaves nothing behind.
    await repo.leave(u, 's2', T0 + 2000, T0 + 5000, 'closed');
    expect(await repo.update(u, 's2', 'idle', iso(T0 + 50))).toBe('unknown');
    await expectCountersExact('early/stale');
  });

  it("a session's one record: a status change kept for its join, then its leave (still unseen: it moves the cleanup), then the join, ignored", async () => {
    const u = 'record-user';
    await repo.join(u, meta('a', T0));
    const first = await repo.leave(u, 'a', T0 + 2000, T0 + 5000, 'closed');
    if (first.kind !== 'scheduled') throw new Error('expected a scheduled cleanup');
    // Session b's status change and leave are applied before its join (redeliveries after a crash).
    expect(await repo.update(u, 'b', 'hidden', iso(T0 + 3000))).toBe('early');
    const record = repo.keys.sessionRecord(u, 'b');
    expect(await redis.hgetall(record)).toEqual({ status: 'hidden', statusAt: iso(T0 + 3000) });
    expect(await redis.pttl(record)).toBeGreaterThan(SESSION_RECORD_TTL_MS - 60_000);
    // A status kept for the join is no leave: this one is b's first, so it moves the pending cleanup.
    expect(await repo.leave(u, 'b', T0 + 4000, T0 + 7000, 'lost')).toEqual({ kind: 'scheduled', epoch: first.epoch + 1, runAt: T0 + 7000, reason: 'lost' });
    expect(await redis.hgetall(record)).toEqual({ left: '1' });
    expect(await redis.pttl(record)).toBeGreaterThan(SESSION_RECORD_TTL_MS - 60_000);
    expect((await repo.join(u, meta('b', T0 + 100))).kind).toBe('ignored');
    expect(await repo.update(u, 'b', 'idle', iso(T0 + 5000))).toBe('unknown');
    expect((await repo.leave(u, 'b', T0 + 6000, T0 + 9000, 'lost')).kind).toBe('unknown');
    // One key per session outside its life, beside the user's state.
    expect((await keysMatching(redis, `{${prefix}:b*}:u:${u}:*`)).sort()).toEqual([repo.keys.sessionRecord(u, 'a'), record, repo.keys.state(u)].sort());
    await expectCountersExact('one record');
  });

  it('leaves applied in another order than they happened: the grace runs from the one that happened last, with its reason and timeout', async () => {
    const u = 'late-leave';
    await repo.join(u, meta('a', T0));
    await repo.join(u, meta('b', T0 + 10));
    await repo.join(u, meta('c', T0 + 20));
    // c left after a and b but its leave is applied first; then a session never seen left later still.
    expect((await repo.leave(u, 'c', T0 + 5000, T0 + 8000, 'lost')).kind).toBe('none');
    expect((await repo.leave(u, 'x', T0 + 6000, T0 + 9000, 'logout')).kind).toBe('unknown');
    expect((await repo.leave(u, 'b', T0 + 3000, T0 + 6000, 'closed')).kind).toBe('none');
    expect(await repo.leave(u, 'a', T0 + 2000, T0 + 5000, 'closed')).toMatchObject({ kind: 'scheduled', runAt: T0 + 9000, reason: 'logout' });
    // The next spell starts afresh; the leave that happened last decides even with a shorter timeout.
    await repo.join(u, meta('d', T0 + 9500));
    await repo.join(u, meta('e', T0 + 9500));
    expect((await repo.leave(u, 'e', T0 + 9700, T0 + 14_700, 'lost')).kind).toBe('none');
    expect(await repo.leave(u, 'd', T0 + 9800, T0 + 10_800, 'closed')).toMatchObject({ kind: 'scheduled', runAt: T0 + 10_800, reason: 'closed' });
    await expectCountersExact('late leave');
  });

  it("epochs never repeat after a user's state is lost: a cleanup scheduled before the loss cannot end the grace begun after it", async () => {
    const u = 'aba-user';
    await repo.join(u, meta('before', T0));
    const old = await repo.leave(u, 'before', T0 + 1000, T0 + 4000, 'closed');
    if (old.kind !== 'scheduled') throw new Error('expected a scheduled cleanup');
    // Redis loses this user's state (a restart without persistence; an expired offline user): the
    // old cleanup's timer still lives in a presence process.
    await redis.del(repo.keys.state(u), repo.keys.sessions(u));
    await repo.join(u, meta('after', T0 + 5000));
    const fresh = await repo.leave(u, 'after', T0 + 6000, T0 + 9000, 'closed');
    if (fresh.kind !== 'scheduled') throw new Error('expected a scheduled cleanup');
    expect(fresh.epoch).toBeGreaterThan(old.epoch);
    expect((await repo.cleanup(u, old.epoch)).kind).toBe('stale');
    expect((await repo.cleanup(u, fresh.epoch)).kind).toBe('offline');
    await expectCountersExact('after a lost state');
  });

  it('the leave of a session never seen moves a pending cleanup to its own later time, once; a stale or repeated one does not', async () => {
    const u = 'unseen-leave';
    await repo.join(u, meta('a', T0));
    const first = await repo.leave(u, 'a', T0 + 2000, T0 + 5000, 'closed');
    expect(first.kind).toBe('scheduled');
    // Session b joined and left, but only its leave is applied (its join comes later, ignored).
    const moved = await repo.leave(u, 'b', T0 + 4000, T0 + 7000, 'lost');
    expect(moved).toEqual({ kind: 'scheduled', epoch: (first as { epoch: number }).epoch + 1, runAt: T0 + 7000, reason: 'lost' });
    expect(await repo.cleanupState(u)).toMatchObject({ status: 'grace', epoch: (moved as { epoch: number }).epoch });
    // The cleanup of the first grace is stale now; a repeat of b's leave, or an earlier unseen leave, moves nothing.
    expect((await repo.cleanup(u, (first as { epoch: number }).epoch)).kind).toBe('stale');
    expect((await repo.leave(u, 'b', T0 + 6000, T0 + 9000, 'lost')).kind).toBe('unknown');
    expect((await repo.leave(u, 'c', T0 + 3000, T0 + 6000, 'closed')).kind).toBe('unknown');
    expect((await repo.join(u, meta('b', T0 + 100))).kind).toBe('ignored');
    expect((await repo.cleanup(u, (moved as { epoch: number }).epoch)).kind).toBe('offline');
    // Offline: an unseen leave changes nothing.
    expect((await repo.leave(u, 'd', T0 + 17_000, T0 + 20_000, 'closed')).kind).toBe('unknown');
    await expectCountersExact('unseen leave');
  });

  it('random per-session event orders, duplicates, cleanups and adoptions keep counters exact and end at the truth', async () => {
    let seed = 1234;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const statuses: SessionStatus[] = ['visible', 'hidden', 'idle'];
    const reasons: LeaveReason[] = ['closed', 'lost', 'logout', 'expired', 'gateway_down'];
    // Sessions on two gateways; leaves name none, so each finds its session's gateway index itself.
    const GATEWAYS = ['gw-1', 'gw-2'];
    const gatewayOf = (sid: string) => GATEWAYS[Number(sid.slice(3)) % 2];
    type Ev = { kind: 'join' | 'update' | 'leave'; user: string; sid: string; at: number; status?: SessionStatus };
    const truth = new Map<string, { user: string; status: SessionStatus; statusAt: number; open: boolean }>();
    const events: Ev[] = [];
    let clock = T0;
    for (let s = 0; s < 120; s++) {
      const user = `ru-${rnd(8)}`;
      const sid = `rs-${s}`;
      const start = (clock += 1 + rnd(5));
      events.push({ kind: 'join', user, sid, at: start });
      const t = { user, status: 'visible' as SessionStatus, statusAt: start, open: true };
      truth.set(sid, t);
      for (let i = rnd(4); i > 0; i--) {
        const status = statuses[rnd(3)];
        const at = (clock += 1 + rnd(3));
        events.push({ kind: 'update', user, sid, at, status });
        t.status = status;
        t.statusAt = at;
      }
      if (rnd(2) === 0) {
        events.push({ kind: 'leave', user, sid, at: (clock += 1) });
        t.open = false;
      }
    }
    // Redelivery after a crash: a random ~30 % of events come late, and some twice.
    const late: Ev[] = [];
    const delivered: Ev[] = [];
    for (const e of events) {
      if (rnd(10) < 3) late.push(e);
      else delivered.push(e);
      if (rnd(10) === 0) late.push(e);
      if (late.length > 0 && rnd(6) === 0) delivered.push(late.splice(rnd(late.length), 1)[0]);
    }
    delivered.push(...late);
    let step = 0;
    for (const e of delivered) {
      if (e.kind === 'join') await repo.join(e.user, meta(e.sid, e.at, gatewayOf(e.sid)));
      else if (e.kind === 'update') await repo.update(e.user, e.sid, e.status!, iso(e.at));
      else await repo.leave(e.user, e.sid, e.at, e.at + 1000, reasons[rnd(reasons.length)]);
      const r = rnd(10);
      if (r === 0) {
        // A cleanup job, with the right epoch or a stale one.
        const epoch = Number((await redis.hget(repo.keys.state(e.user), 'epoch')) ?? 0) - rnd(2);
        await repo.cleanup(e.user, epoch);
      } else if (r === 1) {
        await repo.adoptOrphan(`orphan-${rnd(3)}`, T0 + 10_000);
      }
      if (++step % 25 === 0) await expectCountersExact(`after ${step} events`, GATEWAYS);
    }
    await expectCountersExact('at the end', GATEWAYS);
    // Whatever the order, each session ends where the gateway left it.
    for (const [sid, t] of truth) {
      const m = (await repo.user(t.user)).metas.find((x) => x.sessionId === sid);
      expect([sid, m ? [m.status, Date.parse(m.statusAt!)] : 'gone']).toEqual([sid, t.open ? [t.status, t.statusAt] : 'gone']);
    }
  });

  it("a gateway's digest in every bucket: kept by joins and leaves, dropped with its last session, rebuilt by a reconcile when missing", async () => {
    const gw = 'gw-digest';
    const users = Array.from({ length: 64 }, (_, i) => `dg-${i}`);
    expect(new Set(users.map(bucketOf)).size).toBe(BUCKETS.length);
    const sids = users.map((u) => `${u}-s`);
    for (const [i, u] of users.entries()) await repo.join(u, meta(sids[i], T0, gw));
    expect(await gateways.held(gw)).toEqual({ sessions: 64, digest: sessionDigest(sids) });
    // A repeated join changes nothing; a leave that names another gateway finds the stored one.
    await repo.join(users[0], meta(sids[0], T0, gw));
    await repo.leave(users[1], sids[1], T0 + 1, T0 + 1000, 'closed', 'gw-elsewhere');
    expect(await gateways.held(gw)).toEqual({ sessions: 63, digest: sessionDigest(sids.slice(2).concat(sids[0])) });
    // A digest an earlier version never kept: a reconcile rebuilds it from the index.
    for (const b of BUCKETS) await redis.del(repo.keys.gatewayDigest(b, gw));
    expect((await gateways.held(gw)).digest).not.toBe(sessionDigest(sids.slice(2).concat(sids[0])));
    await gateways.redigest(gw);
    expect(await gateways.held(gw)).toEqual({ sessions: 63, digest: sessionDigest(sids.slice(2).concat(sids[0])) });
    for (const [i, u] of users.entries()) await repo.leave(u, sids[i], T0 + 2, T0 + 1000, 'closed', gw);
    expect(await gateways.held(gw)).toEqual({ sessions: 0, digest: 0 });
    expect(await keysMatching(redis, `{${prefix}:b*}:gw:${gw}:*`)).toEqual([]);
  });
});

describe("the user's epoch, as events and the user query carry it", () => {
  it('each transition answers its epoch, one past the last, and the query reads the same status and epoch', async () => {
    const u = 'epoch-reader';
    const online = await repo.join(u, meta('e1', T0));
    expect(online.kind).toBe('online');
    const first = (online as { epoch: number }).epoch;
    expect(await repo.user(u)).toMatchObject({ status: 'online', epoch: first, cleanupAt: null });
    const left = await repo.leave(u, 'e1', T0 + 100, T0 + 5100, 'closed');
    expect(left).toMatchObject({ kind: 'scheduled', epoch: first + 1 });
    expect(await repo.user(u)).toMatchObject({ status: 'grace', epoch: first + 1, cleanupAt: new Date(T0 + 5100).toISOString() });
    expect(await repo.join(u, meta('e2', T0 + 200))).toEqual({ kind: 'cancelled', cancelledEpoch: first + 1, epoch: first + 2 });
    expect(await repo.user(u)).toMatchObject({ status: 'online', epoch: first + 2, cleanupAt: null });
  });

  it('a user presence has no state for answers no status and no epoch', async () => {
    const answer = await repo.user('never-seen');
    expect(answer).not.toHaveProperty('epoch');
    expect(answer).not.toHaveProperty('status');
  });
});

describe('an offline user leaves nothing behind for ever', () => {
  it('the state of a user gone offline expires USER_STATE_TTL_MS later; coming back keeps it again', async () => {
    const u = 'ttl-user';
    await repo.join(u, meta('t1', T0));
    expect(await redis.pttl(repo.keys.state(u))).toBe(-1);
    const left = await repo.leave(u, 't1', T0 + 500, T0 + 1000, 'closed');
    expect(left.kind).toBe('scheduled');
    expect(await repo.cleanup(u, left.kind === 'scheduled' ? left.epoch : -1)).toEqual({ kind: 'offline', epoch: (left as { epoch: number }).epoch + 1 });
    const ttl = await redis.pttl(repo.keys.state(u));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    expect(await redis.exists(repo.keys.sessions(u))).toBe(0);
    await repo.join(u, meta('t2', T0 + 2000));
    expect(await redis.pttl(repo.keys.state(u))).toBe(-1);
  });
});

describe('orphanManagers (one script per batch of registered managers)', () => {
  it('lists exactly the registered managers whose user has no state at all, across batches', async () => {
    const k = repo.keys;
    const users = Array.from({ length: 1300 }, (_, i) => `orphan-u${i}`);
    for (const [i, u] of users.entries()) {
      await redis.hset(k.managers(bucketOf(u)), u, JSON.stringify({ workerId: 'w1', startedAt: iso(T0) }));
      if (i % 5 !== 0) await redis.hset(k.state(u), 'status', i % 2 ? 'online' : 'grace');
    }
    const orphans = await repo.orphanManagers();
    const expected = users.filter((_, i) => i % 5 === 0);
    expect(orphans.filter((u) => u.startsWith('orphan-u')).sort()).toEqual(expected.sort());
  });
});
