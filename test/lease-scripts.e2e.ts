import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { loadConfig } from '#libs/config/index.js';
import { LeaseRepository, leaseTimings } from '../apps/stream-workers/leases/lease.repository.js';
import { Backends, freePort } from './support/harness.js';

jest.setTimeout(60_000);

/**
 * The workers' batched lease scripts against a real Redis: a renewal of many leases in one script
 * per batch must answer exactly what one script per lease answered (renewed, reclaimed, lost),
 * across batch boundaries, and leave the same keys behind.
 */
const backends = new Backends();
let redis: Redis;
let repo: LeaseRepository;
const config = () => loadConfig({ REDIS_URL: backends.redisUrl, WORKER_TTL_MS: '15000' });

beforeAll(async () => {
  backends.redisPort = await freePort();
  await backends.startRedis();
  redis = new Redis(backends.redisUrl, { maxRetriesPerRequest: null });
  repo = new LeaseRepository(redis, config());
});
afterAll(async () => {
  redis?.disconnect();
  await backends.stop();
});

describe('LeaseRepository batched scripts (real Redis)', () => {
  it('reassert: renews ours, reclaims lapsed ones, reports the ones another worker holds, over several batches', async () => {
    const k = repo.keys;
    const startedAt = new Date('2030-01-01T00:00:00.000Z');
    const users = Array.from({ length: 1234 }, (_, i) => `lease-u${i}`);
    // Every third lease is ours already, every third lapsed (absent), every third another worker's.
    for (const [i, u] of users.entries()) {
      if (i % 3 === 0) await redis.set(k.lease(u), 'w-me', 'PX', 1000);
      if (i % 3 === 2) await redis.set(k.lease(u), 'w-other', 'PX', 60_000);
    }
    const results = await repo.reassert('w-me', users.map((userId) => ({ userId, startedAt })));

    expect(results.size).toBe(users.length);
    const { leaseMs } = leaseTimings(15_000);
    for (const [i, u] of users.entries()) {
      const expected = ['renewed', 'reclaimed', 'lost'][i % 3];
      expect([u, results.get(u)]).toEqual([u, expected]);
      const [holder, ttl, entry] = await Promise.all([redis.get(k.lease(u)), redis.pttl(k.lease(u)), redis.hget(k.managers, u)]);
      if (expected === 'lost') {
        expect(holder).toBe('w-other');
        expect(entry).toBeNull();
      } else {
        expect(holder).toBe('w-me');
        expect(ttl).toBeGreaterThan(leaseMs - 5000);
        expect(JSON.parse(entry!)).toEqual({ workerId: 'w-me', startedAt: startedAt.toISOString() });
      }
    }
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
});
