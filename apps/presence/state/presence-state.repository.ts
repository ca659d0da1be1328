import { Inject, Injectable } from '@nestjs/common';
import type { Result } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { BUCKETS, REDIS, bucketGroups, bucketOf, redisKeys, type RedisClient, type RedisKeys } from '#libs/redis/index.js';
import {
  USER_STATUSES,
  type LeaveReason,
  type PresenceDebug,
  type PresenceMap,
  type PresenceStats,
  type SessionMeta,
  type SessionStatus,
  type UserPresence,
  type UserStatus,
} from '#libs/contracts/index.js';
import { ADOPT_ORPHAN, CLEANUP, JOIN, LEAVE, MISSING_AMONG, SESSION_RECORD_TTL_MS, UPDATE } from './scripts.js';
import { DUE_IN, dueInGroup, presentInBucket, sortMetas, sumBucketStats, type DueCleanup } from './bucket-readers.js';

export type { DueCleanup } from './bucket-readers.js';

export type JoinOutcome =
  | { kind: 'online'; epoch: number }
  | { kind: 'cancelled'; cancelledEpoch: number; epoch: number }
  | { kind: 'none' | 'duplicate' | 'ignored' | 'capped' | 'blocked' };
/** `reason`: of the leave the grace runs from (the latest of the user's last sessions, not the last applied). */
export type LeaveOutcome = { kind: 'scheduled'; epoch: number; runAt: number; reason?: LeaveReason } | { kind: 'none' | 'unknown' };
/** `done`: this very cleanup already ran (its other runner got there first). */
export type CleanupOutcome = { kind: 'offline'; epoch: number } | { kind: 'stale' } | { kind: 'done'; offlineAt?: number };

declare module 'ioredis' {
  interface RedisCommander<Context> {
    plJoin(...args: (string | number)[]): Result<[string, ...(string | number)[]], Context>;
    plLeave(...args: (string | number)[]): Result<[string, ...(string | number)[]], Context>;
    plUpdate(...args: (string | number)[]): Result<[string], Context>;
    plCleanup(...args: (string | number)[]): Result<[string, (number | string)?], Context>;
    plAdopt(...args: (string | number)[]): Result<[string, ...(string | number)[]], Context>;
    plMissingAmong(numKeys: number, ...keys: string[]): Result<number[], Context>;
    plDueIn(numKeys: number, ...args: (string | number)[]): Result<string[], Context>;
  }
}

/**
 * Presence state in Redis. Presence is its only writer; every transition is one script on the
 * user's bucket (see libs/redis/keys.ts); readers of "all" visit every bucket.
 */
@Injectable()
export class PresenceStateRepository {
  readonly keys: RedisKeys;

  constructor(
    @Inject(REDIS) readonly redis: RedisClient,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.keys = redisKeys(config.redisPrefix);
    redis.defineCommand('plJoin', { numberOfKeys: 10, lua: JOIN });
    redis.defineCommand('plLeave', { numberOfKeys: 9, lua: LEAVE });
    redis.defineCommand('plUpdate', { numberOfKeys: 3, lua: UPDATE });
    redis.defineCommand('plCleanup', { numberOfKeys: 4, lua: CLEANUP });
    redis.defineCommand('plAdopt', { numberOfKeys: 4, lua: ADOPT_ORPHAN });
    redis.defineCommand('plMissingAmong', { lua: MISSING_AMONG });
    redis.defineCommand('plDueIn', { lua: DUE_IN });
  }

  private userKeys(userId: string, sessionId: string, gatewayId: string) {
    const k = this.keys;
    const b = bucketOf(userId);
    return [k.sessions(userId), k.state(userId), k.sessionRecord(userId, sessionId), k.active(b), k.grace(b), k.online(b), k.stats(b), k.gatewaySessions(b, gatewayId), k.gatewayDigest(b, gatewayId)];
  }

  async join(userId: string, meta: SessionMeta): Promise<JoinOutcome> {
    // A gateway that dies before its first heartbeat must still be noticed as dead. Its own key
    // (global, not the user's bucket): recorded before the join, so a redelivered join repeats it.
    await this.redis.zadd(this.keys.gateways, 'NX', Date.now(), meta.gatewayId);
    const r = await this.redis.plJoin(
      ...this.userKeys(userId, meta.sessionId, meta.gatewayId),
      this.keys.block(userId),
      meta.sessionId,
      JSON.stringify(meta),
      meta.status,
      userId,
      this.config.maxSessionsPerUser,
    );
    if (r[0] === 'online') return { kind: 'online', epoch: Number(r[1]) };
    // The return is the transition right after the grace it cancels: one epoch on.
    if (r[0] === 'cancelled') return { kind: 'cancelled', cancelledEpoch: Number(r[1]), epoch: Number(r[1]) + 1 };
    return { kind: r[0] as 'none' };
  }

  /**
   * `leftAt`: when the session ended at the gateway (orders leaves applied out of order); `runAt`:
   * its cleanup time; `gatewayId`: the session's gateway as the leave says (the stored one wins).
   */
  async leave(userId: string, sessionId: string, leftAt: number, runAt: number, reason: LeaveReason, gatewayId = ''): Promise<LeaveOutcome> {
    let r = await this.redis.plLeave(...this.userKeys(userId, sessionId, gatewayId), sessionId, userId, runAt, reason, SESSION_RECORD_TTL_MS, gatewayId, leftAt);
    // The session was stored under another gateway than the leave names: again, with its index.
    if (r[0] === 'gateway') {
      const stored = String(r[1]);
      r = await this.redis.plLeave(...this.userKeys(userId, sessionId, stored), sessionId, userId, runAt, reason, SESSION_RECORD_TTL_MS, stored, leftAt);
    }
    if (r[0] === 'scheduled') return { kind: 'scheduled', epoch: Number(r[1]), runAt: Number(r[2]), reason: (r[3] as LeaveReason | undefined) ?? reason };
    return { kind: r[0] as 'none' };
  }

  /** `at`: when the status changed at the gateway; an older change than the stored one is stale. */
  async update(userId: string, sessionId: string, status: SessionStatus, at: string): Promise<'updated' | 'none' | 'unknown' | 'stale' | 'early'> {
    const k = this.keys;
    const r = await this.redis.plUpdate(k.sessions(userId), k.stats(bucketOf(userId)), k.sessionRecord(userId, sessionId), sessionId, status, canonicalIso(at), SESSION_RECORD_TTL_MS);
    return r[0] as 'updated';
  }

  async cleanup(userId: string, epoch: number): Promise<CleanupOutcome> {
    const k = this.keys;
    const b = bucketOf(userId);
    const r = await this.redis.plCleanup(k.sessions(userId), k.state(userId), k.active(b), k.grace(b), userId, epoch, Date.now(), this.config.userStateTtlMs);
    if (r[0] === 'done') return { kind: 'done', offlineAt: Number(r[1]) || undefined };
    return r[0] === 'offline' ? { kind: 'offline', epoch: Number(r[1]) } : { kind: 'stale' };
  }

  async adoptOrphan(userId: string, runAt: number): Promise<LeaveOutcome> {
    const k = this.keys;
    const b = bucketOf(userId);
    const r = await this.redis.plAdopt(k.sessions(userId), k.state(userId), k.active(b), k.grace(b), userId, runAt);
    if (r[0] === 'scheduled') return { kind: 'scheduled', epoch: Number(r[1]), runAt: Number(r[2]) };
    return { kind: 'none' };
  }

  /** Users the stream workers run a manager for while the state knows nothing of them. */
  async orphanManagers(): Promise<string[]> {
    // Every bucket at once (reads only): on one server the buckets' pages share a round trip.
    const perBucket = await Promise.all(
      BUCKETS.map(async (b) => {
        const orphans: string[] = [];
        let cursor = '0';
        do {
          const [next, flat] = await this.redis.hscan(this.keys.managers(b), cursor, 'COUNT', 500);
          cursor = next;
          const users = flat.filter((_, i) => i % 2 === 0);
          if (users.length === 0) continue;
          const missing = await this.redis.plMissingAmong(users.length, ...users.map((u) => this.keys.state(u)));
          for (const i of missing) orphans.push(users[i - 1]);
        } while (cursor !== '0');
        return orphans;
      }),
    );
    return perBucket.flat();
  }

  async isActive(userId: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys.active(bucketOf(userId)), userId)) === 1;
  }

  /** Users whose cleanup time is at or before `beforeMs`, with their epoch: the soonest `limit` of them. */
  async dueCleanups(beforeMs: number, limit = 500): Promise<DueCleanup[]> {
    const perGroup = await Promise.all(bucketGroups(this.redis.isCluster).map((g) => dueInGroup(this.redis, this.keys, g, beforeMs, limit)));
    const all = perGroup.flat();
    return all.length <= limit ? all : all.sort((a, b) => a.runAt - b.runAt).slice(0, limit);
  }

  async user(userId: string): Promise<UserPresence> {
    const [sessions, [cleanupAt, status, epoch], manager] = await Promise.all([
      this.redis.hvals(this.keys.sessions(userId)),
      this.redis.hmget(this.keys.state(userId), 'cleanupAt', 'status', 'epoch'),
      this.redis.hget(this.keys.managers(bucketOf(userId)), userId),
    ]);
    return {
      userId,
      metas: sortMetas(sessions.map((s) => JSON.parse(s) as SessionMeta)),
      cleanupAt: status === 'grace' && cleanupAt ? new Date(Number(cleanupAt)).toISOString() : null,
      manager: manager ? (JSON.parse(manager) as UserPresence['manager']) : null,
      // Read in one step with cleanupAt: a reader orders this answer against the events by the epoch.
      ...(epoch && isUserStatus(status) ? { status, epoch: Number(epoch) } : {}),
    };
  }

  async all(): Promise<PresenceMap> {
    const map: PresenceMap = {};
    for (const b of BUCKETS) await presentInBucket(this.redis, this.keys, b, map);
    return map;
  }

  /** The buckets' counters, each read in one MULTI (a consistent bucket), summed. */
  stats(): Promise<PresenceStats> {
    return sumBucketStats(this.redis, this.keys);
  }

  /** The user's presence status ('online', 'grace', 'offline'; null: never seen) and epoch. */
  async cleanupState(userId: string): Promise<{ status: string | null; epoch: number }> {
    const [status, epoch] = await this.redis.hmget(this.keys.state(userId), 'status', 'epoch');
    return { status, epoch: Number(epoch ?? 0) };
  }

  async managerOf(userId: string): Promise<UserPresence['manager']> {
    const m = await this.redis.hget(this.keys.managers(bucketOf(userId)), userId);
    return m ? (JSON.parse(m) as UserPresence['manager']) : null;
  }

  /** Scheduled cleanups, soonest first. */
  async pendingCleanups(limit = 1000): Promise<PresenceDebug['pendingCleanups']> {
    const due = await this.dueCleanups(Number.MAX_SAFE_INTEGER, limit);
    return due.sort((a, b) => a.runAt - b.runAt).map((d) => ({ userId: d.userId, runAt: new Date(d.runAt).toISOString(), reason: d.reason }));
  }

  /** Sessions a gateway holds according to the state: "userId sessionId" pairs. */
  async gatewaySessions(gatewayId: string): Promise<Array<{ userId: string; sessionId: string }>> {
    const members = (await Promise.all(BUCKETS.map((b) => this.redis.smembers(this.keys.gatewaySessions(b, gatewayId))))).flat();
    return members.map((m) => {
      const [userId, sessionId] = m.split(' ');
      return { userId, sessionId };
    });
  }
}

function isUserStatus(s: string | null): s is UserStatus {
  return (USER_STATUSES as readonly (string | null)[]).includes(s);
}

/** One fixed ISO format (UTC, milliseconds), so that Lua can order times as strings. */
export function canonicalIso(at: string): string {
  return new Date(Date.parse(at)).toISOString();
}
