import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { loadConfig } from '#libs/config/index.js';
import { BUCKETS, bucketOf, createRedis, type RedisClient } from '#libs/redis/index.js';
import { leaseTimings } from '../libs/config/timings.js';
import { LeaseRepository } from '../apps/stream-workers/leases/lease.repository.js';
import { Backends, freePort } from './support/harness.js';

jest.setTimeout(60_000);

/**
 * The workers' batched lease scripts against a real Redis: a renewal of many leases in one script
 * per batch must answer exactly what one script per lease answered (renewed, missing, lost),
 * across batch boundaries, and leave the same keys behind.
 */
const backends = new Backends();
let redis: RedisClient;
let repo: LeaseRepository;
const config = () => loadConfig({ NODE_ENV: 'development', REDIS_URL: backends.redisUrl, WORKER_TTL_MS: '15000' });

beforeAll(async () => {
  backends.redisPort = await freePort();
  await backends.startRedis();
  redis = createRedis(backends.redisUrl, 'e2e');
  repo = new LeaseRepository(redis, config());
});
afterAll(async () => {
  redis?.disconnect();
  await backends.stop();
});

describe('LeaseRepository batched scripts (real Redis)', () => {
  it('renew: extends ours and leaves the rest alone, answering the lapsed ones (missing) and the ones another worker holds (lost), over several batches', async () => {
    const k = repo.keys;
    const startedAt = Date.parse('2030-01-01T00:00:00.000Z');
    const users = Array.from({ length: 1234 }, (_, i) => `lease-u${i}`);
    // Every third lease is ours already, every third lapsed (absent), every third another worker's.
    for (const [i, u] of users.entries()) {
      if (i % 3 === 0) await redis.set(k.lease(u), 'w-me', 'PX', 1000);
      if (i % 3 === 2) await redis.set(k.lease(u), 'w-other', 'PX', 60_000);
    }
    const held = users.map((userId, i) => ({ userId, startedAt, lease: { generation: 1000 + i } }));
    const results = await repo.renew('w-me', held);

    // Only the exceptions are answered: a plain renewal is the absence of an answer.
    expect(results.size).toBe(users.filter((_, i) => i % 3 !== 0).length);
    const { leaseMs } = leaseTimings(15_000);
    for (const [i, u] of users.entries()) {
      const expected = ['renewed', 'missing', 'lost'][i % 3];
      expect([u, results.get(u) ?? 'renewed']).toEqual([u, expected]);
      const [holder, ttl, entry] = await Promise.all([redis.get(k.lease(u)), redis.pttl(k.lease(u)), redis.hget(k.managers(bucketOf(u)), u)]);
      if (expected === 'renewed') {
        expect(holder).toBe('w-me');
        expect(ttl).toBeGreaterThan(leaseMs - 5000);
        expect(JSON.parse(entry!)).toEqual({ workerId: 'w-me', startedAt: '2030-01-01T00:00:00.000Z', generation: 1000 + i });
      } else {
        // A renewal never re-creates a lease, nor its registry entry: the manager may have stopped meanwhile.
        expect(holder).toBe(expected === 'lost' ? 'w-other' : null);
        expect(entry).toBeNull();
      }
    }

    // The take-back of a lapsed lease, one of the user's transitions: the lease, its entry, and the
    // holder's generation written back, so that no later holder can be given a smaller one.
    const lapsed = held[1];
    expect(await repo.reclaim('w-me', [lapsed, held[0], held[2]])).toEqual(new Map([[lapsed.userId, 'reclaimed'], [held[2].userId, 'lost']]));
    expect(await redis.get(k.lease(lapsed.userId))).toBe('w-me');
    expect(await redis.pttl(k.lease(lapsed.userId))).toBeGreaterThan(leaseMs - 5000);
    expect(JSON.parse((await redis.hget(k.managers(bucketOf(lapsed.userId)), lapsed.userId))!).generation).toBe(1001);
    expect(Number(await redis.get(k.leaseGeneration(lapsed.userId)))).toBe(1001);
    expect(await redis.get(k.lease(held[2].userId))).toBe('w-other');
    // Taken and let go by another worker since (a larger generation): not ours to take back.
    const since = held[4];
    await redis.set(k.leaseGeneration(since.userId), String(since.lease.generation + 7));
    expect(await repo.reclaim('w-me', [since])).toEqual(new Map([[since.userId, 'lost']]));
    expect(await redis.get(k.lease(since.userId))).toBeNull();
  });

  it("acquire: every new holder gets a larger generation, at least Redis's clock in µs, and a graceful move hands the memory over once", async () => {
    const k = repo.keys;
    const u = 'gen-u1';
    await redis.sadd(k.active(bucketOf(u)), u);
    await redis.set(k.marker(bucketOf(u)), '1');
    const first = await repo.acquire(u, 'w-a', Date.now());
    expect(first.result).toBe('acquired');
    expect(first.generation).toBeGreaterThanOrEqual((Date.now() - 60_000) * 1000);
    expect((await repo.acquire(u, 'w-b', Date.now())).result).toBe('taken');

    // A graceful move: the memory waits for the next holder, who takes it (once).
    await repo.release(u, 'w-a', { ConsoleLogger: { count: 41 } });
    const second = await repo.acquire(u, 'w-b', Date.now());
    expect(second).toEqual({ result: 'acquired', generation: expect.any(Number), handoff: { ConsoleLogger: { count: 41 } } });
    expect(second.generation!).toBeGreaterThan(first.generation!);
    // A stale holder's release frees nothing and hands nothing over.
    await repo.release(u, 'w-a', { ConsoleLogger: { count: 1 } });
    expect(await redis.get(k.lease(u))).toBe('w-b');
    expect(await redis.exists(k.handoff(u))).toBe(0);

    // Redis lost the generation: the next one is still larger, from Redis's clock.
    await redis.del(k.leaseGeneration(u), k.lease(u));
    const third = await repo.acquire(u, 'w-c', Date.now());
    expect(third.handoff).toBeUndefined();
    expect(third.generation!).toBeGreaterThan(second.generation!);
  });

  it('someWorkerQuiet: a worker silent past quietAfterMs counts until twice WORKER_TTL_MS; a beating one and a long-dead one do not', async () => {
    const k = repo.keys;
    const { quietAfterMs } = leaseTimings(15_000);
    const now = Date.now();
    await redis.del(k.workers);
    await redis.zadd(k.workers, now, 'w-live', now - 3 * 15_000, 'w-dead-long-ago');
    expect(await repo.someWorkerQuiet(quietAfterMs)).toBe(false);
    await redis.zadd(k.workers, now - quietAfterMs - 1000, 'w-killed');
    expect(await repo.someWorkerQuiet(quietAfterMs)).toBe(true);
    // Its users have long been taken over: the sweep goes back to its slow period.
    await redis.zadd(k.workers, now - 2 * 15_000 - 1000, 'w-killed');
    expect(await repo.someWorkerQuiet(quietAfterMs)).toBe(false);
  });

  it("offlineAmong: exactly the users whose state says offline, not grace, online or no state at all", async () => {
    const k = repo.keys;
    const users = Array.from({ length: 1100 }, (_, i) => `status-u${i}`);
    const statusOf = (i: number) => [null, 'online', 'grace', 'offline'][i % 4];
    for (const [i, u] of users.entries()) {
      const s = statusOf(i);
      if (s) await redis.hset(k.state(u), 'status', s);
    }
    const offline = await repo.offlineAmong(users);
    expect(offline).toEqual(users.filter((_, i) => statusOf(i) === 'offline'));
    expect(await repo.offlineAmong([])).toEqual([]);
  });

  it('offlineAmong with a time: only the users offline since then or earlier (their offline event has had its chance)', async () => {
    const k = repo.keys;
    const now = Date.now();
    const [old, fresh, unstamped, online] = ['old', 'fresh', 'unstamped', 'online'].map((s) => `since-${s}`);
    await redis.hset(k.state(old), 'status', 'offline', 'offlineAt', now - 5000);
    await redis.hset(k.state(fresh), 'status', 'offline', 'offlineAt', now);
    await redis.hset(k.state(unstamped), 'status', 'offline');
    await redis.hset(k.state(online), 'status', 'online', 'offlineAt', now - 5000);
    expect(await repo.offlineAmong([old, fresh, unstamped, online], now - 2000)).toEqual([old, unstamped]);
    expect(await repo.offlineAmong([old, fresh, unstamped, online], now)).toEqual([old, fresh, unstamped]);
  });

  it('unleasedActiveUsers: every active user whose lease nobody holds, across pages, and no other', async () => {
    const k = repo.keys;
    const users = Array.from({ length: 2500 }, (_, i) => `active-u${i}`);
    for (const u of users) await redis.sadd(k.active(bucketOf(u)), u);
    // Every fifth user's lease is free; the others are held, by us or by another worker.
    for (const [i, u] of users.entries()) if (i % 5 !== 0) await redis.set(k.lease(u), i % 2 ? 'w-me' : 'w-other', 'PX', 60_000);
    // A lease of a user who is not active is no business of this question.
    await redis.set(k.lease('not-active'), 'w-me', 'PX', 60_000);
    const pages: string[][] = [];
    for await (const page of repo.unleasedActiveUsers()) pages.push(page);

    expect(pages.flat().sort()).toEqual(users.filter((_, i) => i % 5 === 0).sort());
    expect(pages.every((p) => p.length > 0)).toBe(true);
  });

  it('forgetDeadWorkersManagers: drops the entries of dead workers whose lease lapsed, across pages, and nothing else', async () => {
    const k = repo.keys;
    for (const b of BUCKETS) await redis.del(k.managers(b));
    await repo.heartbeat('w-live');
    const entry = (workerId: string) => JSON.stringify({ workerId, startedAt: '2030-01-01T00:00:00.000Z' });
    const users = Array.from({ length: 2400 }, (_, i) => `reg-u${i}`);
    // 0: a dead worker's, lease lapsed (forgotten); 1: a dead worker's, its lease still held (it may
    // be paused: kept); 2: a live worker's (kept); 3: not JSON (left alone).
    const kind = (i: number) => i % 4;
    for (const [i, u] of users.entries()) {
      await redis.del(k.lease(u));
      if (kind(i) === 1) await redis.set(k.lease(u), 'w-dead', 'PX', 60_000);
      await redis.hset(k.managers(bucketOf(u)), u, kind(i) === 3 ? 'not json' : entry(kind(i) === 2 ? 'w-live' : 'w-dead'));
    }

    const dropped = await repo.forgetDeadWorkersManagers();

    expect(dropped).toBe(users.filter((_, i) => kind(i) === 0).length);
    const left = (await Promise.all(BUCKETS.map((b) => redis.hkeys(k.managers(b))))).flat();
    expect(left.sort()).toEqual(users.filter((_, i) => kind(i) !== 0).sort());
    expect(await repo.forgetDeadWorkersManagers()).toBe(0);
  });
});
