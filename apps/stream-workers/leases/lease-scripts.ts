import type { Result } from 'ioredis';
import { byBucket, type RedisClient, type RedisKeys } from '#libs/redis/index.js';
import type { AcquireResult } from './lease.repository.js';

/** Users per batched script: long enough to amortise, short enough to keep Redis responsive (about a millisecond each). */
export const BATCH = 500;

/**
 * The lease scripts: each decides one step of a user's lease atomically in Redis (see
 * LeaseRepository for what the steps are for). Registered as ioredis commands by the repository.
 * Each is given every key it touches, all of one bucket (one Cluster slot, see libs/redis/keys.ts):
 * the batched ones take one bucket's users at a time.
 */

/** KEYS: lease, active, managers, settling, marker (the last four: the user's bucket's), generation, handoff  ARGV: workerId, ttlMs, userId, startedAtIso
 *  Until presence has recreated the marker after a loss, and while the dataset settles after that,
 *  only the workers already running a manager may (re)claim its lease: nobody starts a second one
 *  before they have re-asserted theirs. A taken lease gets a new generation (the fencing token),
 *  larger than any before it even when Redis lost the last one: at least Redis's clock in µs.
 *  Answers the outcome, the generation, and what a previous holder handed over on a graceful move. */
export const ACQUIRE = `
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

/** Many renewals in one command. KEYS: managers (of the users' bucket), then lease, generation per lease
 *  ARGV: workerId, ttlMs, reclaim ('1' or '0'), then userId, managerJson, generation per lease.
 *  Answers only what was not a plain renewal, as a flat list of (1-based lease index, 'missing'|'reclaimed'|'lost').
 *  A renewal only extends: a lease nobody holds is answered 'missing' and left alone, because this
 *  worker may have stopped that manager and released the lease while the renewal was on its way.
 *  The worker re-creates it ('1': reclaim) only as one of the user's transitions, once it knows the
 *  manager still runs. A reclaimed lease (it lapsed, or Redis lost it) keeps its holder's
 *  generation, written back so that no later holder can be given a smaller one; one whose
 *  generation moved past ours was held by another worker since, and is not ours to take back. */
export const RENEW_MANY = `
local out = {}
for i = 2, #KEYS, 2 do
  local n = (i - 2) / 2
  local userId, json, gen = ARGV[n * 3 + 4], ARGV[n * 3 + 5], tonumber(ARGV[n * 3 + 6])
  local cur = redis.call('GET', KEYS[i])
  if cur == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    redis.call('HSETNX', KEYS[1], userId, json)
  elseif cur then
    out[#out + 1] = n + 1
    out[#out + 1] = 'lost'
  elseif ARGV[3] ~= '1' then
    out[#out + 1] = n + 1
    out[#out + 1] = 'missing'
  elseif tonumber(redis.call('GET', KEYS[i + 1]) or '0') > gen then
    -- Another worker held it after us (and let it go): our manager is the stale one.
    out[#out + 1] = n + 1
    out[#out + 1] = 'lost'
  else
    redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
    if tonumber(redis.call('GET', KEYS[i + 1]) or '0') < gen then redis.call('SET', KEYS[i + 1], ARGV[n * 3 + 6], 'PX', 604800000) end
    redis.call('HSET', KEYS[1], userId, json)
    out[#out + 1] = n + 1
    out[#out + 1] = 'reclaimed'
  end
end
return out
`;

/** KEYS: state1..stateN  ARGV: offlineBeforeMs. Answers the 1-based indexes of the users whose
 *  presence status is 'offline' since offlineBeforeMs or earlier (a state without offlineAt counts). */
export const OFFLINE_AMONG = `
local out = {}
for i = 1, #KEYS do
  local st = redis.call('HMGET', KEYS[i], 'status', 'offlineAt')
  if st[1] == 'offline' and (not st[2] or tonumber(st[2]) <= tonumber(ARGV[1])) then out[#out + 1] = i end
end
return out
`;

/** KEYS: lease1..leaseN. Answers the 1-based indexes of the leases nobody holds. */
export const UNLEASED_AMONG = `
local out = {}
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then out[#out + 1] = i end
end
return out
`;

/** KEYS: lease, managers, handoff  ARGV: workerId, userId, handoffJson ('' for none), handoffTtlMs
 *  A graceful move leaves the manager's memory for the next holder, in the same step that frees the lease. */
export const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4]) end
end
local m = redis.call('HGET', KEYS[2], ARGV[2])
if m and cjson.decode(m).workerId == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[2]) end
return 1
`;

/** KEYS: managers  ARGV: cursor, count, liveWorker1..N
 *  One HSCAN page of a bucket's registry: answers the next cursor, then (userId, workerId) of the
 *  entries whose worker is not live (usually none), for DROP_DEAD to check against their leases. */
export const DEAD_AMONG = `
local live = {}
for i = 3, #ARGV do live[ARGV[i]] = true end
local page = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local flat, out = page[2], { page[1] }
for i = 1, #flat, 2 do
  local ok, m = pcall(cjson.decode, flat[i + 1])
  local w = ok and type(m) == 'table' and m.workerId
  if type(w) == 'string' and not live[w] then
    out[#out + 1] = flat[i]
    out[#out + 1] = w
  end
end
return out
`;

/** KEYS: managers, lease1..leaseN  ARGV: userId1, workerId1, …
 *  Forgets each entry that still names that dead worker, unless it still holds the user's lease
 *  (it may be paused, not dead): the lease is the authority; a worker that took the user over has
 *  overwritten the entry already. Answers how many went. */
export const DROP_DEAD = `
local dropped = 0
for i = 2, #KEYS do
  local u, w = ARGV[2 * i - 3], ARGV[2 * i - 2]
  local cur = redis.call('HGET', KEYS[1], u)
  local ok, m = pcall(cjson.decode, cur or 'null')
  if ok and type(m) == 'table' and m.workerId == w and redis.call('GET', KEYS[i]) ~= w then
    redis.call('HDEL', KEYS[1], u)
    dropped = dropped + 1
  end
end
return dropped
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    swDeadAmong(managers: string, cursor: string, count: number, ...liveWorkers: string[]): Result<string[], Context>;
    swDropDead(numKeys: number, ...args: string[]): Result<number, Context>;
    swAcquire(...args: (string | number)[]): Result<[AcquireResult, number?, string?], Context>;
    swRenewMany(numKeys: number, ...args: (string | number)[]): Result<Array<number | string>, Context>;
    swOfflineAmong(numKeys: number, ...args: (string | number)[]): Result<number[], Context>;
    swUnleasedAmong(numKeys: number, ...leases: string[]): Result<number[], Context>;
    swRelease(...args: (string | number)[]): Result<number, Context>;
  }
}

/**
 * One batched script per bucket and BATCH users: `run` is given the users of one bucket and
 * answers 1-based indexes among them; answers the users so picked, in their given order.
 */
export async function perBucket(userIds: readonly string[], run: (users: string[]) => Promise<number[]>): Promise<string[]> {
  const picked = new Set<string>();
  for (const users of byBucket(userIds, (u) => u).values()) {
    for (let i = 0; i < users.length; i += BATCH) {
      const chunk = users.slice(i, i + BATCH);
      for (const j of await run(chunk)) picked.add(chunk[j - 1]);
    }
  }
  return picked.size === 0 ? [] : userIds.filter((u) => picked.has(u));
}

/** The users among these whose lease nobody holds. */
export function unleasedAmong(redis: RedisClient, keys: RedisKeys, userIds: readonly string[]): Promise<string[]> {
  return perBucket(userIds, (users) => redis.swUnleasedAmong(users.length, ...users.map((u) => keys.lease(u))));
}
