import { Inject, Injectable } from '@nestjs/common';
import type { Redis, Result } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { REDIS, redisKeys, type RedisKeys } from '#libs/redis/index.js';

/** KEYS: lease, active, managers, settling, marker  ARGV: workerId, ttlMs, userId, managerJson
 *  Until presence has recreated the marker after a loss, and while the dataset settles after that,
 *  only the workers already running a manager may (re)claim its lease: nobody starts a second one
 *  before they have re-asserted theirs. */
const ACQUIRE = `
if redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 0 then return 'inactive' end
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 'taken' end
if not cur and (redis.call('EXISTS', KEYS[4]) == 1 or redis.call('EXISTS', KEYS[5]) == 0) then return 'settling' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
if cur then return 'mine' end
return 'acquired'
`;

/** Many renewals in one command. KEYS: managers, lease1..leaseN  ARGV: workerId, ttlMs, then userId, managerJson per lease.
 *  Answers only what was not a plain renewal, as a flat list of (1-based lease index, 'reclaimed'|'lost'). */
const REASSERT_MANY = `
local out = {}
for i = 2, #KEYS do
  local userId, json = ARGV[(i - 2) * 2 + 3], ARGV[(i - 2) * 2 + 4]
  local cur = redis.call('GET', KEYS[i])
  if cur == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    redis.call('HSETNX', KEYS[1], userId, json)
  elseif not cur then
    redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
    redis.call('HSET', KEYS[1], userId, json)
    out[#out + 1] = i - 1
    out[#out + 1] = 'reclaimed'
  else
    out[#out + 1] = i - 1
    out[#out + 1] = 'lost'
  end
end
return out
`;

/** KEYS: state1..stateN. Answers the 1-based indexes of the users whose presence status is 'offline'. */
const OFFLINE_AMONG = `
local out = {}
for i = 1, #KEYS do
  if redis.call('HGET', KEYS[i], 'status') == 'offline' then out[#out + 1] = i end
end
return out
`;

/** KEYS: lease, managers  ARGV: workerId, userId */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
local m = redis.call('HGET', KEYS[2], ARGV[2])
if m and cjson.decode(m).workerId == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[2]) end
return 1
`;

/** KEYS: lease, managers  ARGV: workerId (a dead one), userId
 *  Forgets the registry entry of a manager whose worker died without stopping it. The lease is the
 *  authority: while the dead worker's lease lives (it may be paused, not dead) the entry stays; a
 *  worker that took the user over has overwritten the entry already. */
const FORGET_DEAD = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return 0 end
local m = redis.call('HGET', KEYS[2], ARGV[2])
if m and cjson.decode(m).workerId == ARGV[1] then
  redis.call('HDEL', KEYS[2], ARGV[2])
  return 1
end
return 0
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    swForgetDead(...args: (string | number)[]): Result<number, Context>;
    swAcquire(...args: (string | number)[]): Result<string, Context>;
    swReassertMany(numKeys: number, ...args: (string | number)[]): Result<Array<number | string>, Context>;
    swOfflineAmong(numKeys: number, ...keys: string[]): Result<number[], Context>;
    swRelease(...args: (string | number)[]): Result<number, Context>;
  }
}

/** Users per batched script: long enough to amortise, short enough to keep Redis responsive (about a millisecond each). */
const BATCH = 500;

export type AcquireResult = 'acquired' | 'mine' | 'taken' | 'inactive' | 'settling';

/**
 * How WORKER_TTL_MS is spent: a dead worker's lease lapses after `leaseMs` and a peer's reconcile,
 * running every `reconcileEveryMs`, takes the user at most that much later, so the manager is
 * back within WORKER_TTL_MS. Leases are renewed three times per lease period, so one slow renewal
 * loses nothing.
 */
export function leaseTimings(workerTtlMs: number) {
  const reconcileEveryMs = Math.max(50, Math.min(1000, Math.floor(workerTtlMs / 6)));
  const leaseMs = Math.max(100, workerTtlMs - Math.ceil(reconcileEveryMs * 1.5));
  return { leaseMs, renewEveryMs: Math.max(30, Math.floor(leaseMs / 3)), reconcileEveryMs };
}
export type ReassertResult = 'renewed' | 'reclaimed' | 'lost';

/**
 * Single activation: a user's manager runs only on the worker holding the user's lease, a Redis
 * key with a TTL of WORKER_TTL_MS that its holder renews. A dead worker's leases lapse and another
 * worker takes the user; a live worker that finds its lease held by another stops its manager.
 */
@Injectable()
export class LeaseRepository {
  readonly keys: RedisKeys;
  private readonly leaseMs: number;

  constructor(
    @Inject(REDIS) readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.keys = redisKeys(config.redisPrefix);
    this.leaseMs = leaseTimings(config.workerTtlMs).leaseMs;
    redis.defineCommand('swAcquire', { numberOfKeys: 5, lua: ACQUIRE });
    redis.defineCommand('swReassertMany', { lua: REASSERT_MANY });
    redis.defineCommand('swOfflineAmong', { lua: OFFLINE_AMONG });
    redis.defineCommand('swRelease', { numberOfKeys: 2, lua: RELEASE });
    redis.defineCommand('swForgetDead', { numberOfKeys: 2, lua: FORGET_DEAD });
  }

  private managerJson(workerId: string, startedAt: Date) {
    return JSON.stringify({ workerId, startedAt: startedAt.toISOString() });
  }

  async acquire(userId: string, workerId: string, startedAt: Date): Promise<AcquireResult> {
    const k = this.keys;
    return (await this.redis.swAcquire(k.lease(userId), k.active, k.managers, k.settling, k.marker, workerId, this.leaseMs, userId, this.managerJson(workerId, startedAt))) as AcquireResult;
  }

  /**
   * Renews many leases: one script per BATCH leases, answering only the exceptions. Every few
   * seconds over every manager of the worker, so it allocates per batch, not per manager: with
   * one command per lease, ten thousand in-flight commands outlived the young generation and
   * grew the heap by tens of MiB between collections.
   */
  async reassert(workerId: string, managers: Array<{ userId: string; startedAt: Date }>): Promise<Map<string, ReassertResult>> {
    const out = new Map<string, ReassertResult>();
    for (let i = 0; i < managers.length; i += BATCH) {
      const chunk = managers.slice(i, i + BATCH);
      const keys = [this.keys.managers, ...chunk.map((m) => this.keys.lease(m.userId))];
      const args: Array<string | number> = [workerId, this.leaseMs];
      for (const m of chunk) args.push(m.userId, this.managerJson(workerId, m.startedAt));
      const flat = await this.redis.swReassertMany(keys.length, ...keys, ...args);
      for (const m of chunk) out.set(m.userId, 'renewed');
      for (let j = 0; j < flat.length; j += 2) out.set(chunk[Number(flat[j]) - 1].userId, flat[j + 1] as ReassertResult);
    }
    return out;
  }

  async release(userId: string, workerId: string): Promise<void> {
    await this.redis.swRelease(this.keys.lease(userId), this.keys.managers, workerId, userId);
  }

  /** The users among these whose presence status is 'offline' (one script per BATCH users, see reassert). */
  async offlineAmong(userIds: string[]): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < userIds.length; i += BATCH) {
      const chunk = userIds.slice(i, i + BATCH);
      const idx = await this.redis.swOfflineAmong(chunk.length, ...chunk.map((u) => this.keys.state(u)));
      for (const j of idx) out.push(chunk[j - 1]);
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

  /**
   * `pl:managers` entries of workers that stopped heartbeating and no longer hold the user's lease:
   * a worker killed with -9 never released them. Its active users were taken over (the entry now
   * names the new worker); the others (the user left meanwhile) would stay registered forever and
   * count in presence's stats. Answers how many entries were dropped.
   */
  async forgetDeadWorkersManagers(): Promise<number> {
    const live = new Set(await this.liveWorkers());
    let cursor = '0';
    let dropped = 0;
    do {
      const [next, flat] = await this.redis.hscan(this.keys.managers, cursor, 'COUNT', 1000);
      cursor = next;
      const pipe = this.redis.pipeline();
      let n = 0;
      for (let i = 0; i < flat.length; i += 2) {
        let workerId: unknown;
        try {
          workerId = (JSON.parse(flat[i + 1]) as { workerId?: unknown }).workerId;
        } catch {
          continue;
        }
        if (typeof workerId !== 'string' || live.has(workerId)) continue;
        pipe.swForgetDead(this.keys.lease(flat[i]), this.keys.managers, workerId, flat[i]);
        n++;
      }
      if (n > 0) for (const [err, v] of (await pipe.exec()) ?? []) if (!err && v === 1) dropped++;
    } while (cursor !== '0');
    return dropped;
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
