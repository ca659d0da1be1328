import { SESSION_DIGEST_LUA } from '#libs/contracts/index.js';

/**
 * The presence transitions, each one atomic Lua script: the session set, the user's state and
 * epoch, the active/grace/online indexes and the counters of the user's bucket change together or
 * not at all. Every key a script touches is given to it (KEYS), all of one bucket (one Cluster slot). The
 * first element of the answer says what happened; the caller turns that into events and jobs.
 */

/**
 * Every transition bumps the user's epoch; a cleanup (its job, its timer) names the epoch it was
 * scheduled at and does nothing if it moved. A user's first epoch starts from Redis's clock in
 * microseconds, not from 1: after Redis lost its data (or an offline user's state expired) the new
 * epochs are past every old one, so a cleanup scheduled before cannot match a new grace (ABA).
 */
const BUMP_EPOCH = `
local function bumpEpoch(key)
  if redis.call('HEXISTS', key, 'epoch') == 0 then
    local t = redis.call('TIME')
    -- %.0f: Lua's own number formatting keeps 14 digits, and these have 16.
    redis.call('HSET', key, 'epoch', string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2])))
  end
  return redis.call('HINCRBY', key, 'epoch', 1)
end
`;

/**
 * The gateway's session index of the bucket and its digest change together, here and only here
 * (JOIN and LEAVE are its only writers), so the digest is always the one of the index: presence
 * compares it with the gateway's heartbeat (see libs/contracts/session-digest.ts).
 * `gatewayIndex(op, index, digest, userId, sessionId)`: op is SADD or SREM; the digest moves only
 * when the index did. A digest of 0 is not stored (missing reads as 0), so nothing outlives the index.
 */
const GATEWAY_INDEX = SESSION_DIGEST_LUA + `
local function gatewayIndex(op, index, digest, userId, sessionId)
  if redis.call(op, index, userId .. ' ' .. sessionId) == 0 then return end
  local d = sessionDigestStep(redis.call('GET', digest), sessionId)
  if d == 0 then redis.call('DEL', digest) else redis.call('SET', digest, d) end
end
`;

/**
 * The session's record (KEYS[3] of JOIN, LEAVE and UPDATE): what the state knows of a session
 * outside its life, as JetStream may apply a session's events in another order than they happened
 * (redeliveries after a crash). A hash holding either `left` (its leave was applied: a later join
 * is ignored, a later status change unknown) or the newest status change that came before its join
 * (`status`, `statusAt`: the join takes it if newer than its own). The join removes it; the leave
 * replaces it with `left`. It lives this long after its last write: longer than any redelivery.
 */
export const SESSION_RECORD_TTL_MS = 60 * 60 * 1000;

/** KEYS: sessions, state, record, active, grace, online, stats, gatewaySessions, gatewayDigest, block
 *  ARGV: sessionId, metaJson, status, userId, maxSessions
 *  A user an operator ended is kept out while their block lives: the join changes nothing. */
export const JOIN = BUMP_EPOCH + GATEWAY_INDEX + `
local rec = redis.call('HMGET', KEYS[3], 'left', 'status', 'statusAt')
if rec[1] then return {'ignored'} end
if redis.call('EXISTS', KEYS[10]) == 1 then return {'blocked'} end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {'duplicate'} end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then return {'capped'} end
local meta = ARGV[2]
local status = ARGV[3]
if rec[2] then
  local m = cjson.decode(meta)
  if rec[3] > (m.statusAt or '') then
    m.status = rec[2]
    m.statusAt = rec[3]
    meta = cjson.encode(m)
    status = rec[2]
  end
  redis.call('DEL', KEYS[3])
end
redis.call('HSET', KEYS[1], ARGV[1], meta)
gatewayIndex('SADD', KEYS[8], KEYS[9], ARGV[4], ARGV[1])
redis.call('HINCRBY', KEYS[7], 'sessions', 1)
redis.call('HINCRBY', KEYS[7], 'status:' .. status, 1)
if redis.call('HLEN', KEYS[1]) > 1 then return {'none'} end
redis.call('SADD', KEYS[6], ARGV[4])
-- Back before the state of an offline user expired: it is kept again (HSET would keep the TTL).
redis.call('PERSIST', KEYS[2])
local prev = redis.call('HGET', KEYS[2], 'status')
if prev == 'online' then return {'none'} end
local epoch = bumpEpoch(KEYS[2])
redis.call('HSET', KEYS[2], 'status', 'online')
redis.call('SADD', KEYS[4], ARGV[4])
if prev == 'grace' then
  redis.call('ZREM', KEYS[5], ARGV[4])
  redis.call('HDEL', KEYS[2], 'cleanupAt', 'reason', 'graceLeftAt')
  return {'cancelled', epoch - 1}
end
return {'online', epoch}
`;

/** KEYS: sessions, state, record, active, grace, online, stats, gatewaySessions, gatewayDigest
 *  ARGV: sessionId, userId, runAtMs, reason, recordTtlMs, gatewayId, leftAtMs
 *  The gateway's session index is the one of the stored meta's gateway, not the message's: when
 *  they differ, nothing changes and the answer names the stored gateway, for the caller to call
 *  again with that index (a script is given its keys, it never names one).
 *  Leaves can be applied in another order than they happened (a replica paused with one, which
 *  JetStream then redelivers to another): the grace runs from the leave that happened last in the
 *  user's online spell (kept in lastLeft*), with that leave's own reason and timeout, whatever the
 *  order of application. A leave of a session never seen (its join lost, or coming later and
 *  ignored) counts too; one that happened after the leave a pending cleanup runs from moves that
 *  cleanup (a new epoch, so the old job and timer find theirs stale). */
export const LEAVE = BUMP_EPOCH + GATEWAY_INDEX + `
local meta = redis.call('HGET', KEYS[1], ARGV[1])
local m = meta and cjson.decode(meta)
if m and m.gatewayId ~= ARGV[6] then return {'gateway', m.gatewayId} end
local seen = redis.call('HEXISTS', KEYS[3], 'left')
-- An early status waited for a join that will now be ignored: the record keeps only that it left.
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'left', '1')
redis.call('PEXPIRE', KEYS[3], ARGV[5])
local leftAt, runAt, reason = tonumber(ARGV[7]), ARGV[3], ARGV[4]
local last = redis.call('HMGET', KEYS[2], 'lastLeftAt', 'lastRunAt', 'lastReason')
if last[1] and tonumber(last[1]) > leftAt then leftAt, runAt, reason = tonumber(last[1]), last[2], last[3] end
local status = redis.call('HGET', KEYS[2], 'status')
if not meta then
  if seen == 1 then return {'unknown'} end
  if redis.call('HLEN', KEYS[1]) > 0 then
    if status == 'online' then redis.call('HSET', KEYS[2], 'lastLeftAt', leftAt, 'lastRunAt', runAt, 'lastReason', reason) end
    return {'unknown'}
  end
  if status ~= 'grace' then return {'unknown'} end
  local grace = redis.call('HMGET', KEYS[2], 'graceLeftAt', 'cleanupAt')
  -- Never earlier: an adopted orphan's grace (no leave of its own) must still run its whole time.
  if tonumber(grace[1] or '0') >= tonumber(ARGV[7]) or tonumber(grace[2] or '0') >= tonumber(ARGV[3]) then return {'unknown'} end
  local moved = bumpEpoch(KEYS[2])
  redis.call('HSET', KEYS[2], 'cleanupAt', ARGV[3], 'reason', ARGV[4], 'graceLeftAt', ARGV[7])
  redis.call('ZADD', KEYS[5], ARGV[3], ARGV[2])
  return {'scheduled', moved, ARGV[3], ARGV[4]}
end
redis.call('HDEL', KEYS[1], ARGV[1])
gatewayIndex('SREM', KEYS[8], KEYS[9], ARGV[2], ARGV[1])
redis.call('HINCRBY', KEYS[7], 'sessions', -1)
redis.call('HINCRBY', KEYS[7], 'status:' .. m.status, -1)
if redis.call('HLEN', KEYS[1]) > 0 then
  redis.call('HSET', KEYS[2], 'lastLeftAt', leftAt, 'lastRunAt', runAt, 'lastReason', reason)
  return {'none'}
end
redis.call('HDEL', KEYS[2], 'lastLeftAt', 'lastRunAt', 'lastReason')
redis.call('SREM', KEYS[6], ARGV[2])
if status ~= 'online' then return {'none'} end
local epoch = bumpEpoch(KEYS[2])
redis.call('HSET', KEYS[2], 'status', 'grace', 'cleanupAt', runAt, 'reason', reason, 'graceLeftAt', leftAt)
redis.call('ZADD', KEYS[5], runAt, ARGV[2])
return {'scheduled', epoch, runAt, reason}
`;

/** KEYS: sessions, stats, record
 *  ARGV: sessionId, status, statusAt (canonical ISO, so strings compare as times), recordTtlMs
 *  After a crash JetStream redelivers what the dead process held only after its ack wait, so a
 *  status change can come before its join (kept in the session's record for the join), or after a
 *  newer change (stale: ignored). */
export const UPDATE = `
local meta = redis.call('HGET', KEYS[1], ARGV[1])
if not meta then
  local rec = redis.call('HMGET', KEYS[3], 'left', 'statusAt')
  if rec[1] then return {'unknown'} end
  if rec[2] and ARGV[3] <= rec[2] then return {'stale'} end
  redis.call('HSET', KEYS[3], 'status', ARGV[2], 'statusAt', ARGV[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
  return {'early'}
end
local m = cjson.decode(meta)
if m.statusAt and ARGV[3] < m.statusAt then return {'stale'} end
if m.status == ARGV[2] then
  if m.statusAt ~= ARGV[3] then
    m.statusAt = ARGV[3]
    redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(m))
  end
  return {'none'}
end
redis.call('HINCRBY', KEYS[2], 'status:' .. m.status, -1)
redis.call('HINCRBY', KEYS[2], 'status:' .. ARGV[2], 1)
m.status = ARGV[2]
m.statusAt = ARGV[3]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(m))
return {'updated'}
`;

/**
 * The cleanup job's re-check. KEYS: sessions, state, active, grace   ARGV: userId, epoch, nowMs, stateTtlMs
 * An offline user's state (its epoch, offlineAt) expires stateTtlMs later (0: never), so users
 * who never come back leave nothing behind; long after any cleanup job of theirs could still run.
 */
export const CLEANUP = BUMP_EPOCH + `
local status = redis.call('HGET', KEYS[2], 'status')
local cur = tonumber(redis.call('HGET', KEYS[2], 'epoch') or '0')
-- This cleanup already ran (the offline transition is the one right after its epoch): say so.
if status == 'offline' and cur == tonumber(ARGV[2]) + 1 then return {'done', redis.call('HGET', KEYS[2], 'offlineAt') or ''} end
if status ~= 'grace' then return {'stale'} end
if cur ~= tonumber(ARGV[2]) then return {'stale'} end
if redis.call('HLEN', KEYS[1]) > 0 then return {'stale'} end
local epoch = bumpEpoch(KEYS[2])
redis.call('HSET', KEYS[2], 'status', 'offline', 'offlineAt', ARGV[3])
redis.call('HDEL', KEYS[2], 'cleanupAt', 'reason', 'graceLeftAt')
local ttl = tonumber(ARGV[4] or '0')
if ttl and ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return {'offline', epoch}
`;

/**
 * A running manager whose user has no state at all (Redis lost its data while the user was away):
 * give the user a fresh grace period, so the manager stops one timeout from now, never earlier.
 * KEYS: sessions, state, active, grace   ARGV: userId, runAtMs
 */
export const ADOPT_ORPHAN = BUMP_EPOCH + `
if redis.call('EXISTS', KEYS[2]) == 1 then return {'none'} end
if redis.call('HLEN', KEYS[1]) > 0 then return {'none'} end
local epoch = bumpEpoch(KEYS[2])
redis.call('HSET', KEYS[2], 'status', 'grace', 'cleanupAt', ARGV[2], 'reason', 'closed')
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
return {'scheduled', epoch, ARGV[2]}
`;

/**
 * Which of these users have no state at all. KEYS: state1..stateN (one bucket's); answers their 1-based indexes.
 * One script per batch instead of one EXISTS per registered manager: the orphan sweep runs every
 * second over every manager, and ten thousand commands a second were most of presence's idle CPU.
 */
export const MISSING_AMONG = `
local out = {}
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then out[#out + 1] = i end
end
return out
`;

/**
 * A gateway's digest of one bucket recomputed from its index: KEYS: gatewaySessions, gatewayDigest.
 * O(sessions of the gateway in the bucket), so only a reconcile runs it (it reads the whole index
 * anyway): it heals a digest an earlier version never kept (the index alone was kept then).
 */
export const REDIGEST = SESSION_DIGEST_LUA + `
local d = 0
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  d = sessionDigestStep(d, string.sub(m, string.find(m, ' ', 1, true) + 1))
end
if d == 0 then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], d) end
return d
`;
