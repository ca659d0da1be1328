import type { LeaveReason, PresenceMap, PresenceStats, SessionMeta } from '#libs/contracts/index.js';
import { SESSION_STATUSES, withRef } from '#libs/contracts/index.js';
import { bucketGroups, type RedisClient, type RedisKeys } from '#libs/redis/index.js';

/**
 * Presence state read one bucket, or one group of buckets, at a time (see libs/redis/keys.ts): on a
 * Cluster each bucket is one slot, so a pipeline or MULTI stays on one slot; the readers of "all"
 * call these per bucket or per group.
 */

export interface DueCleanup {
  userId: string;
  epoch: number;
  runAt: number;
  reason: LeaveReason;
}

/**
 * The users whose cleanup time is at or before a moment: KEYS: grace of each bucket of one group
 * (bucketGroups)  ARGV: beforeMs, limit (per bucket). The sweep runs every second: on one server
 * it is one command, not one per bucket.
 */
export const DUE_IN = `
local out = {}
for i = 1, #KEYS do
  for _, u in ipairs(redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])) do out[#out + 1] = u end
end
return out
`;

/**
 * The users of a group of buckets (bucketGroups) whose cleanup time is at or before `beforeMs` (at
 * most `limit` per bucket), with their epoch. Needs the client's `plDueIn` (PresenceStateRepository).
 */
export async function dueInGroup(redis: RedisClient, keys: RedisKeys, group: readonly number[], beforeMs: number, limit: number): Promise<DueCleanup[]> {
  const users = await redis.plDueIn(group.length, ...group.map((b) => keys.grace(b)), beforeMs, limit);
  if (users.length === 0) return [];
  const pipe = redis.pipeline();
  for (const u of users) pipe.hmget(keys.state(u), 'epoch', 'cleanupAt', 'reason');
  const rows = (await pipe.exec()) ?? [];
  return users.flatMap((userId, i) => {
    const [err, v] = rows[i] ?? [];
    const [epoch, cleanupAt, reason] = (v as (string | null)[]) ?? [];
    if (err || !epoch || !cleanupAt) return [];
    return [{ userId, epoch: Number(epoch), runAt: Number(cleanupAt), reason: (reason ?? 'closed') as LeaveReason }];
  });
}

/** Adds the bucket's present users to `map`, with their metas. */
export async function presentInBucket(redis: RedisClient, keys: RedisKeys, bucket: number, map: PresenceMap): Promise<void> {
  const users: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.sscan(keys.online(bucket), cursor, 'COUNT', 1000);
    users.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  for (let i = 0; i < users.length; i += 500) {
    const chunk = users.slice(i, i + 500);
    const pipe = redis.pipeline();
    for (const u of chunk) pipe.hvals(keys.sessions(u));
    const rows = (await pipe.exec()) ?? [];
    chunk.forEach((u, j) => {
      const metas = ((rows[j]?.[1] as string[]) ?? []).map((s) => JSON.parse(s) as SessionMeta);
      if (metas.length > 0) map[u] = { metas: sortMetas(metas) };
    });
  }
}

/** Every bucket's counters, each group of buckets (bucketGroups) read in one MULTI (consistent), summed. */
export async function sumBucketStats(redis: RedisClient, keys: RedisKeys): Promise<PresenceStats> {
  const byStatus = Object.fromEntries(SESSION_STATUSES.map((st) => [st, 0])) as PresenceStats['byStatus'];
  const total: PresenceStats = { users: 0, sessions: 0, byStatus, pendingCleanups: 0, managers: 0 };
  const groups = await Promise.all(
    bucketGroups(redis.isCluster).map((g) => {
      const multi = redis.multi();
      for (const b of g) multi.scard(keys.online(b)).hgetall(keys.stats(b)).zcard(keys.grace(b)).hlen(keys.managers(b));
      return multi.exec();
    }),
  );
  const rows = groups.flatMap((g) => (g ?? []) as [unknown, unknown][]);
  for (let i = 0; i < rows.length; i += 4) {
    const [[, users], [, stats], [, pending], [, managers]] = rows.slice(i, i + 4);
    const s = (stats ?? {}) as Record<string, string>;
    total.users += Number(users ?? 0);
    total.sessions += Number(s.sessions ?? 0);
    for (const st of SESSION_STATUSES) byStatus[st] += Number(s[`status:${st}`] ?? 0);
    total.pendingCleanups += Number(pending ?? 0);
    total.managers += Number(managers ?? 0);
  }
  return total;
}

/** Metas as they are read: in join order, each with its Phoenix `phx_ref` (derived, never stored). */
export function sortMetas(metas: SessionMeta[]): SessionMeta[] {
  return metas.map(withRef).sort((a, b) => a.joinedAt.localeCompare(b.joinedAt) || a.sessionId.localeCompare(b.sessionId));
}
