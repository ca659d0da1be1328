import { Inject, Injectable } from '@nestjs/common';
import type { Redis, Result } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { REDIS, luaUserKey, redisKeys, type RedisKeys } from '#libs/redis/index.js';

/** KEYS: lease, active, managers, settling, marker, generation, handoff  ARGV: workerId, ttlMs, userId, startedAtIso
 *  Until presence has recreated the marker after a loss, and while the dataset settles after that,
 *  only the workers already running a manager may (re)claim its lease: nobody starts a second one
 *  before they have re-asserted theirs. A taken lease gets a new generation (the fencing token),
 *  larger than any before it even when Redis lost the last one: at least Redis's clock in µs.
 *  Answers the outcome, the generation, and what a previous holder handed over on a graceful move. */
const ACQUIRE = `
if redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 0 then return {'inactive'} end
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return {'taken'} end
if not cur and (redis.call('EXISTS', KEYS[4]) == 1 or redis.call('EXISTS', KEYS[5]) == 0) then return {'settling'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local gen = math.max(tonumber(redis.call('GET', KEYS[6]) or '0') + 1, now)
-- %.0f: Lua's own number formatting keeps 14 digits, and these have 16.
redis.call('SET', KEYS[6], string.format('%.0f', gen), 'PX', 604800000)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[3], ARGV[3], cjson.encode({workerId = ARGV[1], startedAt = ARGV[4], generation = gen}))
local handoff = redis.call('GET', KEYS[7]) or ''
redis.call('DEL', KEYS[7])
if cur then return {'mine', gen, handoff} end
return {'acquired', gen, handoff}
`;

/** Many renewals in one command. KEYS: managers, then lease, generation per lease
 *  ARGV: workerId, ttlMs, then userId, managerJson, generation per lease.
 *  Answers only what was not a plain renewal, as a flat list of (1-based lease index, 'reclaimed'|'lost').
 *  A reclaimed lease (Redis lost it) keeps its holder's generation, written back so that no later
 *  holder can be given a smaller one. */
const REASSERT_MANY = `
local out = {}
for i = 2, #KEYS, 2 do
  local n = (i - 2) / 2
  local userId, json, gen = ARGV[n * 3 + 3], ARGV[n * 3 + 4], tonumber(ARGV[n * 3 + 5])
  local cur = redis.call('GET', KEYS[i])
  if cur == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    redis.call('HSETNX', KEYS[1], userId, json)
  elseif not cur then
    redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
    if tonumber(redis.call('GET', KEYS[i + 1]) or '0') < gen then redis.call('SET', KEYS[i + 1], ARGV[n * 3 + 5], 'PX', 604800000) end
    redis.call('HSET', KEYS[1], userId, json)
    out[#out + 1] = n + 1
    out[#out + 1] = 'reclaimed'
  else
    out[#out + 1] = n + 1
    out[#out + 1] = 'lost'
  end
end
return out
`;

/** ARGV: prefix, offlineBeforeMs, userId1..userIdN. Answers the 1-based indexes of the users whose
 *  presence status is 'offline' since offlineBeforeMs or earlier (a state without offlineAt counts). */
const OFFLINE_AMONG = `
local out = {}
for i = 3, #ARGV do
  local st = redis.call('HMGET', ${luaUserKey('ARGV[1]', 'ARGV[i]', 'state')}, 'status', 'offlineAt')
  if st[1] == 'offline' and (not st[2] or tonumber(st[2]) <= tonumber(ARGV[2])) then out[#out + 1] = i - 2 end
end
return out
`;

/** KEYS: active  ARGV: cursor, count, prefix. One SSCAN page of the active users; answers the next
 *  cursor, then the users of the page whose lease nobody holds (usually none). */
const UNLEASED_ACTIVE = `
local page = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local out = { page[1] }
for _, u in ipairs(page[2]) do
  if redis.call('EXISTS', ${luaUserKey('ARGV[3]', 'u', 'lease')}) == 0 then out[#out + 1] = u end
end
return out
`;

/** KEYS: lease, managers, handoff  ARGV: workerId, userId, handoffJson ('' for none), handoffTtlMs
 *  A graceful move leaves the manager's memory for the next holder, in the same step that frees the lease. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4]) end
end
local m = redis.call('HGET', KEYS[2], ARGV[2])
if m and cjson.decode(m).workerId == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[2]) end
return 1
`;

/** KEYS: managers  ARGV: cursor, count, prefix, liveWorker1..N
 *  One HSCAN page of the registry: forgets the entries of managers whose worker is not live and
 *  no longer holds the user's lease (it died without stopping them). The lease is the authority:
 *  while the dead worker's lease lives (it may be paused, not dead) the entry stays; a worker that
 *  took the user over has overwritten the entry already. Answers the next cursor and how many went. */
const FORGET_DEAD = `
local live = {}
for i = 4, #ARGV do live[ARGV[i]] = true end
local page = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local flat, dropped = page[2], 0
for i = 1, #flat, 2 do
  local ok, m = pcall(cjson.decode, flat[i + 1])
  local w = ok and type(m) == 'table' and m.workerId
  if type(w) == 'string' and not live[w] and redis.call('GET', ${luaUserKey('ARGV[3]', 'flat[i]', 'lease')}) ~= w then
    redis.call('HDEL', KEYS[1], flat[i])
    dropped = dropped + 1
  end
end
return { page[1], dropped }
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    swForgetDead(managers: string, cursor: string, count: number, prefix: string, ...liveWorkers: string[]): Result<[string, number], Context>;
    swAcquire(...args: (string | number)[]): Result<[AcquireResult, number?, string?], Context>;
    swReassertMany(numKeys: number, ...args: (string | number)[]): Result<Array<number | string>, Context>;
    swOfflineAmong(prefix: string, offlineBeforeMs: number, ...userIds: string[]): Result<number[], Context>;
    swUnleasedActive(active: string, cursor: string, count: number, prefix: string): Result<string[], Context>;
    swRelease(...args: (string | number)[]): Result<number, Context>;
  }
}

/** Users per batched script: long enough to amortise, short enough to keep Redis responsive (about a millisecond each). */
const BATCH = 500;

export type AcquireResult = 'acquired' | 'mine' | 'taken' | 'inactive' | 'settling';
export interface Acquired {
  result: AcquireResult;
  /** The lease's generation, when it was taken. */
  generation?: number;
  /** The memory a previous holder left on a graceful move, if any. */
  handoff?: Record<string, Record<string, unknown>>;
}
/** How long a graceful move's handed-over memory waits for the next holder. */
const HANDOFF_TTL_MS = 60_000;

/**
 * How WORKER_TTL_MS is spent: a dead worker's lease lapses after `leaseMs` and a peer's reconcile,
 * running every `reconcileEveryMs`, takes the user at most that much later, so the manager is
 * back within WORKER_TTL_MS. Leases are renewed three times per lease period, so one slow renewal
 * loses nothing.
 */
export function leaseTimings(workerTtlMs: number) {
  const reconcileEveryMs = Math.max(50, Math.min(1000, Math.floor(workerTtlMs / 6)));
  const leaseMs = Math.max(100, workerTtlMs - Math.ceil(reconcileEveryMs * 1.5));
  const renewEveryMs = Math.max(30, Math.floor(leaseMs / 3));
  // The reconcile's sweeps read every manager's or every active user's state. What they catch on
  // their own, a lost online or offline event (stored in JetStream, so rare), has no deadline:
  // they run this often. Every second with 10,000 users they were most of Redis's idle CPU.
  const sweepEveryMs = Math.max(reconcileEveryMs, Math.min(5000, Math.floor(workerTtlMs / 3)));
  // What has one, a dead worker's users taken within WORKER_TTL_MS, is sensed first: a worker
  // that has not heartbeaten (with its renewal) for this long is quiet, its leases lapse soon, and
  // while one is, the look for users nobody runs is made at every reconcile.
  const quietAfterMs = 2 * renewEveryMs;
  return { leaseMs, renewEveryMs, reconcileEveryMs, sweepEveryMs, quietAfterMs };
}
export type ReassertResult = 'renewed' | 'reclaimed' | 'lost';

/** A running manager as its lease renewal sees it. */
export interface HeldManager {
  userId: string;
  startedAt: number;
  lease: { generation: number };
}

function parseHandoff(raw: string | undefined): Acquired['handoff'] {
  if (!raw) return undefined;
  try {
    const v: unknown = JSON.parse(raw);
    return v && typeof v === 'object' ? (v as Acquired['handoff']) : undefined;
  } catch {
    return undefined;
  }
}

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
    redis.defineCommand('swAcquire', { numberOfKeys: 7, lua: ACQUIRE });
    redis.defineCommand('swReassertMany', { lua: REASSERT_MANY });
    redis.defineCommand('swOfflineAmong', { numberOfKeys: 0, lua: OFFLINE_AMONG });
    redis.defineCommand('swUnleasedActive', { numberOfKeys: 1, lua: UNLEASED_ACTIVE });
    redis.defineCommand('swRelease', { numberOfKeys: 3, lua: RELEASE });
    redis.defineCommand('swForgetDead', { numberOfKeys: 1, lua: FORGET_DEAD });
  }

  /** `startedAt`: epoch ms. */
  private managerJson(workerId: string, startedAt: number, generation: number) {
    return JSON.stringify({ workerId, startedAt: new Date(startedAt).toISOString(), generation });
  }

  async acquire(userId: string, workerId: string, startedAt: number): Promise<Acquired> {
    const k = this.keys;
    const [result, generation, handoff] = await this.redis.swAcquire(
      k.lease(userId), k.active, k.managers, k.settling, k.marker, k.leaseGeneration(userId), k.handoff(userId),
      workerId, this.leaseMs, userId, new Date(startedAt).toISOString(),
    );
    return { result, generation: generation === undefined ? undefined : Number(generation), handoff: parseHandoff(handoff) };
  }

  /**
   * Renews many leases: one script per BATCH leases, answering only the exceptions (a lease that
   * was gone and is reclaimed, or one another worker holds); a plain renewal is not in the answer.
   * Every few seconds over every manager of the worker, so it allocates per batch, not per manager:
   * with one command per lease, ten thousand in-flight commands outlived the young generation and
   * grew the heap by tens of MiB between collections. `managers` is walked, not copied.
   */
  async reassert(workerId: string, managers: Iterable<HeldManager>): Promise<Map<string, Exclude<ReassertResult, 'renewed'>>> {
    const out = new Map<string, Exclude<ReassertResult, 'renewed'>>();
    let chunk: HeldManager[] = [];
    const send = async () => {
      const keys = [this.keys.managers];
      const args: Array<string | number> = [workerId, this.leaseMs];
      for (const m of chunk) {
        keys.push(this.keys.lease(m.userId), this.keys.leaseGeneration(m.userId));
        args.push(m.userId, this.managerJson(workerId, m.startedAt, m.lease.generation), m.lease.generation);
      }
      const flat = await this.redis.swReassertMany(keys.length, ...keys, ...args);
      for (let j = 0; j < flat.length; j += 2) out.set(chunk[Number(flat[j]) - 1].userId, flat[j + 1] as Exclude<ReassertResult, 'renewed'>);
      chunk = [];
    };
    for (const m of managers) {
      chunk.push(m);
      if (chunk.length === BATCH) await send();
    }
    if (chunk.length > 0) await send();
    return out;
  }

  /** `handoff`: the manager's memory, left for the next holder (a graceful move). */
  async release(userId: string, workerId: string, handoff?: Record<string, Record<string, unknown>>): Promise<void> {
    const json = handoff && Object.keys(handoff).length > 0 ? JSON.stringify(handoff) : '';
    await this.redis.swRelease(this.keys.lease(userId), this.keys.managers, this.keys.handoff(userId), workerId, userId, json, HANDOFF_TTL_MS);
  }

  /**
   * The users among these whose presence status is 'offline', and has been since `offlineBeforeMs`
   * (presence's clock) or earlier (one script per BATCH users, see reassert). Every second over
   * every manager: the script is given user ids and builds the keys itself, so this allocates
   * nothing per user.
   */
  async offlineAmong(userIds: string[], offlineBeforeMs = Number.MAX_SAFE_INTEGER): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < userIds.length; i += BATCH) {
      const chunk = userIds.slice(i, i + BATCH);
      const idx = await this.redis.swOfflineAmong(this.config.redisPrefix, offlineBeforeMs, ...chunk);
      for (const j of idx) out.push(chunk[j - 1]);
    }
    return out;
  }

  async isActive(userId: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys.active, userId)) === 1;
  }

  /**
   * Users who should have a manager and whose lease nobody holds. Every second, over every active
   * user: the script answers only the free ones, not a page of ids and a page of leases.
   */
  async *unleasedActiveUsers(): AsyncGenerator<string[]> {
    let cursor = '0';
    do {
      const [next, ...free] = await this.redis.swUnleasedActive(this.keys.active, cursor, 1000, this.config.redisPrefix);
      cursor = next;
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
    // Checked in Redis, a page at a time: reading every entry out to check it here brought ten
    // thousand JSON strings into each worker every few seconds.
    const live = await this.liveWorkers();
    let cursor = '0';
    let dropped = 0;
    do {
      const [next, n] = await this.redis.swForgetDead(this.keys.managers, cursor, 1000, this.config.redisPrefix, ...live);
      cursor = next;
      dropped += n;
    } while (cursor !== '0');
    return dropped;
  }

  async heartbeat(workerId: string) {
    await this.redis.zadd(this.keys.workers, Date.now(), workerId);
  }

  /**
   * Whether a worker went quiet lately: no heartbeat for `quietAfterMs`, yet one within twice
   * WORKER_TTL_MS (by then its leases have long lapsed and its users are taken; a worker killed
   * last week stays in the set and must not count).
   */
  async someWorkerQuiet(quietAfterMs: number): Promise<boolean> {
    const now = Date.now();
    return (await this.redis.zcount(this.keys.workers, now - 2 * this.config.workerTtlMs, now - quietAfterMs)) > 0;
  }

  async liveWorkers(): Promise<string[]> {
    return this.recentWorkers(this.config.workerTtlMs);
  }

  /** Workers that heartbeat within the last `withinMs`. */
  async recentWorkers(withinMs: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.workers, Date.now() - withinMs, '+inf');
  }

  async forgetWorker(workerId: string) {
    await this.redis.zrem(this.keys.workers, workerId);
  }

  async marker(): Promise<string | null> {
    return this.redis.get(this.keys.marker);
  }
}
