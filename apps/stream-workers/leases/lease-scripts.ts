import type { Result } from 'ioredis';
import { luaUserKey } from '#libs/redis/index.js';
import type { AcquireResult } from './lease.repository.js';

/**
 * The lease scripts: each decides one step of a user's lease atomically in Redis (see
 * LeaseRepository for what the steps are for). Registered as ioredis commands by the repository.
 */

/** KEYS: lease, active, managers, settling, marker, generation, handoff  ARGV: workerId, ttlMs, userId, startedAtIso
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

/** Many renewals in one command. KEYS: managers, then lease, generation per lease
 *  ARGV: workerId, ttlMs, then userId, managerJson, generation per lease.
 *  Answers only what was not a plain renewal, as a flat list of (1-based lease index, 'reclaimed'|'lost').
 *  A reclaimed lease (Redis lost it) keeps its holder's generation, written back so that no later
 *  holder can be given a smaller one. */
export const REASSERT_MANY = `
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
export const OFFLINE_AMONG = `
local out = {}
for i = 3, #ARGV do
  local st = redis.call('HMGET', ${luaUserKey('ARGV[1]', 'ARGV[i]', 'state')}, 'status', 'offlineAt')
  if st[1] == 'offline' and (not st[2] or tonumber(st[2]) <= tonumber(ARGV[2])) then out[#out + 1] = i - 2 end
end
return out
`;

/** KEYS: active  ARGV: cursor, count, prefix. One SSCAN page of the active users; answers the next
 *  cursor, then the users of the page whose lease nobody holds (usually none). */
export const UNLEASED_ACTIVE = `
local page = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local out = { page[1] }
for _, u in ipairs(page[2]) do
  if redis.call('EXISTS', ${luaUserKey('ARGV[3]', 'u', 'lease')}) == 0 then out[#out + 1] = u end
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

/** KEYS: managers  ARGV: cursor, count, prefix, liveWorker1..N
 *  One HSCAN page of the registry: forgets the entries of managers whose worker is not live and
 *  no longer holds the user's lease (it died without stopping them). The lease is the authority:
 *  while the dead worker's lease lives (it may be paused, not dead) the entry stays; a worker that
 *  took the user over has overwritten the entry already. Answers the next cursor and how many went. */
export const FORGET_DEAD = `
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
