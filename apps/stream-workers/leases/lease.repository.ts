import { Inject, Injectable } from '@nestjs/common';
import type { Redis, Result } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { REDIS, redisKeys, type RedisKeys } from '#libs/redis/index.js';

/** KEYS: lease, active, managers  ARGV: workerId, ttlMs, userId, managerJson */
const ACQUIRE = `
if redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 0 then return 'inactive' end
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 'taken' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
if cur then return 'mine' end
return 'acquired'
`;

/** Keeps a lease this worker holds, or takes it back if Redis lost it. KEYS: lease, managers */
const REASSERT = `
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('HSETNX', KEYS[2], ARGV[3], ARGV[4])
  return 'renewed'
end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
  return 'reclaimed'
end
return 'lost'
`;

/** KEYS: lease, managers  ARGV: workerId, userId */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
local m = redis.call('HGET', KEYS[2], ARGV[2])
if m and cjson.decode(m).workerId == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[2]) end
return 1
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    swAcquire(...args: (string | number)[]): Result<string, Context>;
    swReassert(...args: (string | number)[]): Result<string, Context>;
    swRelease(...args: (string | number)[]): Result<number, Context>;
  }
}

export type AcquireResult = 'acquired' | 'mine' | 'taken' | 'inactive';
export type ReassertResult = 'renewed' | 'reclaimed' | 'lost';

/**
 * Single activation: a user's manager runs only on the worker holding the user's lease, a Redis
 * key with a TTL of WORKER_TTL_MS that its holder renews. A dead worker's leases lapse and another
 * worker takes the user; a live worker that finds its lease held by another stops its manager.
 */
@Injectable()
export class LeaseRepository {
  readonly keys: RedisKeys;

  constructor(
    @Inject(REDIS) readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.keys = redisKeys(config.redisPrefix);
    redis.defineCommand('swAcquire', { numberOfKeys: 3, lua: ACQUIRE });
    redis.defineCommand('swReassert', { numberOfKeys: 2, lua: REASSERT });
    redis.defineCommand('swRelease', { numberOfKeys: 2, lua: RELEASE });
  }

  private managerJson(workerId: string, startedAt: Date) {
    return JSON.stringify({ workerId, startedAt: startedAt.toISOString() });
  }

  async acquire(userId: string, workerId: string, startedAt: Date): Promise<AcquireResult> {
    const k = this.keys;
    return (await this.redis.swAcquire(k.lease(userId), k.active, k.managers, workerId, this.config.workerTtlMs, userId, this.managerJson(workerId, startedAt))) as AcquireResult;
  }

  /** Renews many leases in one round trip. */
  async reassert(workerId: string, managers: Array<{ userId: string; startedAt: Date }>): Promise<Map<string, ReassertResult>> {
    const out = new Map<string, ReassertResult>();
    for (let i = 0; i < managers.length; i += 1000) {
      const chunk = managers.slice(i, i + 1000);
      const pipe = this.redis.pipeline();
      for (const m of chunk) {
        pipe.swReassert(this.keys.lease(m.userId), this.keys.managers, workerId, this.config.workerTtlMs, m.userId, this.managerJson(workerId, m.startedAt));
      }
      const rows = (await pipe.exec()) ?? [];
      chunk.forEach((m, j) => {
        const [err, v] = rows[j] ?? [];
        if (!err) out.set(m.userId, v as ReassertResult);
      });
    }
    return out;
  }

  async release(userId: string, workerId: string): Promise<void> {
    await this.redis.swRelease(this.keys.lease(userId), this.keys.managers, workerId, userId);
  }

  /** The presence status of each user ('online', 'grace', 'offline', or null: no state at all). */
  async statuses(userIds: string[]): Promise<Map<string, string | null>> {
    const out = new Map<string, string | null>();
    for (let i = 0; i < userIds.length; i += 1000) {
      const chunk = userIds.slice(i, i + 1000);
      const pipe = this.redis.pipeline();
      for (const u of chunk) pipe.hget(this.keys.state(u), 'status');
      const rows = (await pipe.exec()) ?? [];
      chunk.forEach((u, j) => out.set(u, (rows[j]?.[1] as string | null) ?? null));
    }
    return out;
  }

  async isActive(userId: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys.active, userId)) === 1;
  }

  /** Users who should have a manager and whose lease nobody holds. */
  async *unleasedActiveUsers(): AsyncGenerator<string[]> {
    let cursor = '0';
    do {
      const [next, users] = await this.redis.sscan(this.keys.active, cursor, 'COUNT', 1000);
      cursor = next;
      if (users.length === 0) continue;
      const leases = await this.redis.mget(users.map((u) => this.keys.lease(u)));
      const free = users.filter((_, i) => leases[i] === null);
      if (free.length > 0) yield free;
    } while (cursor !== '0');
  }

  async heartbeat(workerId: string) {
    await this.redis.zadd(this.keys.workers, Date.now(), workerId);
  }

  async liveWorkers(): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.workers, Date.now() - this.config.workerTtlMs, '+inf');
  }

  async forgetWorker(workerId: string) {
    await this.redis.zrem(this.keys.workers, workerId);
  }

  async marker(): Promise<string | null> {
    return this.redis.get(this.keys.marker);
  }
}
