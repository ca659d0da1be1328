import { Inject, Injectable } from '@nestjs/common';
import type { Result } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { BUCKETS, REDIS, bucketGroups, byBucket, readMarkers, redisKeys, type RedisClient, type RedisKeys } from '#libs/redis/index.js';
import { storedDigest, xorDigest, type GatewayHeartbeat, type PresenceDebug, type SessionMeta } from '#libs/contracts/index.js';
import { REDIGEST } from './scripts.js';

/** What the state holds for a gateway: its session count and their digest. */
export interface HeldSessions {
  sessions: number;
  digest: number;
}

/** True when the state holds what the heartbeat says; a gateway of an earlier version sends no digest: its count alone is compared. */
export function heldMatches(held: HeldSessions, hb: Pick<GatewayHeartbeat, 'sessions' | 'digest'>): boolean {
  return held.sessions === hb.sessions && (hb.digest === undefined || held.digest === hb.digest);
}

/** KEYS: gateways, gatewayBoots  ARGV: gatewayId, nowMs, bootId ('' when the gateway sent none)
 *  Records the heartbeat; answers the boot id previously recorded when this one differs. */
const HEARTBEAT = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if ARGV[3] == '' then return false end
local prev = redis.call('HGET', KEYS[2], ARGV[1])
if prev == ARGV[3] then return false end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
if not prev then return false end
return prev
`;

/**
 * KEYS: marker, settling of each bucket of one group (bucketGroups)  ARGV: nowIso, settleMs.
 * Sets each missing marker and opens that bucket's settle window; 1 when one was missing.
 */
const ENSURE_MARKER = `
local missing = 0
for i = 1, #KEYS, 2 do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX') then
    redis.call('SET', KEYS[i + 1], '1', 'PX', ARGV[2])
    missing = 1
  end
end
return missing
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    plHeartbeat(...args: (string | number)[]): Result<string | null, Context>;
    plEnsureMarker(numKeys: number, ...args: (string | number)[]): Result<number, Context>;
    plRedigest(...args: (string | number)[]): Result<number, Context>;
  }
}

/**
 * What presence records of the gateways in Redis: their heartbeats and boot ids, the dataset
 * marker, the lock of one replica reconciling a gateway, and the liveness readout of gateways and
 * workers for inspection. The policy is GatewayLivenessService's.
 */
@Injectable()
export class GatewayRegistry {
  private readonly keys: RedisKeys;

  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.keys = redisKeys(config.redisPrefix);
    redis.defineCommand('plHeartbeat', { numberOfKeys: 2, lua: HEARTBEAT });
    redis.defineCommand('plEnsureMarker', { lua: ENSURE_MARKER });
    redis.defineCommand('plRedigest', { numberOfKeys: 2, lua: REDIGEST });
  }

  /** Records a heartbeat; answers the boot id previously recorded when this one differs (a restart). */
  recordHeartbeat(gatewayId: string, nowMs: number, bootId: string): Promise<string | null> {
    return this.redis.plHeartbeat(this.keys.gateways, this.keys.gatewayBoots, gatewayId, nowMs, bootId);
  }

  /**
   * How many sessions the state holds for the gateway, and the digest of their ids (see
   * libs/contracts/session-digest.ts): each group of buckets' pairs (bucketGroups) read in one MULTI,
   * so each count agrees with its digest. Read at every heartbeat of every gateway.
   */
  async held(gatewayId: string): Promise<HeldSessions> {
    const groups = await Promise.all(
      bucketGroups(this.redis.isCluster).map(async (g) => {
        const multi = this.redis.multi();
        for (const b of g) multi.scard(this.keys.gatewaySessions(b, gatewayId)).get(this.keys.gatewayDigest(b, gatewayId));
        const r = await multi.exec();
        if (!r) throw new Error(`reading gateway ${gatewayId}'s sessions: transaction aborted`);
        for (const [err] of r) if (err) throw err;
        return r;
      }),
    );
    const held: HeldSessions = { sessions: 0, digest: 0 };
    for (const r of groups) {
      for (let i = 0; i < r.length; i += 2) {
        held.sessions += Number(r[i][1]);
        held.digest = xorDigest(held.digest, storedDigest(r[i + 1][1] as string | null));
      }
    }
    return held;
  }

  /** Recomputes the gateway's digest from its index, one bucket at a time (a reconcile's: see REDIGEST). */
  async redigest(gatewayId: string): Promise<void> {
    for (const b of BUCKETS) await this.redis.plRedigest(this.keys.gatewaySessions(b, gatewayId), this.keys.gatewayDigest(b, gatewayId));
  }

  /** Gateways whose last heartbeat is at or before `deadline` (ms). */
  silentSince(deadline: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.gateways, '-inf', deadline);
  }

  /** Forgets a gateway whose sessions were ended. */
  async forget(gatewayId: string): Promise<void> {
    await this.redis.multi().zrem(this.keys.gateways, gatewayId).hdel(this.keys.gatewayBoots, gatewayId).exec();
  }

  /** One round trip per bucket: a gateway's whole list can be thousands of sessions. In the given order. */
  async sessionMetas(sessions: Array<{ userId: string; sessionId: string }>): Promise<Array<SessionMeta | null>> {
    const out = new Array<SessionMeta | null>(sessions.length).fill(null);
    const groups = byBucket(sessions.map((s, i) => ({ ...s, i })), (s) => s.userId);
    await Promise.all(
      [...groups.values()].map(async (group) => {
        const pipe = this.redis.pipeline();
        for (const { userId, sessionId } of group) pipe.hget(this.keys.sessions(userId), sessionId);
        const results = (await pipe.exec()) ?? [];
        results.forEach(([err, raw], j) => {
          if (!err && typeof raw === 'string') out[group[j].i] = JSON.parse(raw) as SessionMeta;
        });
      }),
    );
    return out;
  }

  /**
   * Sets every bucket's dataset marker that is missing, opening that bucket's settle window; true
   * when one was missing (Redis, or on a Cluster one of its shards, lost its data).
   */
  async ensureMarker(nowIso: string, settleMs: number): Promise<boolean> {
    // One group at a time, as the write probe (libs/redis/write-probe.ts): a burst of writes on a demoted primary.
    let missing = false;
    for (const group of bucketGroups(this.redis.isCluster)) {
      const keys = group.flatMap((b) => [this.keys.marker(b), this.keys.settling(b)]);
      if ((await this.redis.plEnsureMarker(keys.length, ...keys, nowIso, settleMs)) === 1) missing = true;
    }
    return missing;
  }

  /** When the dataset was last (re)created: the youngest bucket's marker (null while one is missing). */
  async marker(): Promise<string | null> {
    const markers = await readMarkers(this.redis, this.keys);
    if (markers.some((m) => m === null)) return null;
    return (markers as string[]).reduce((a, b) => (Date.parse(b) > Date.parse(a) ? b : a));
  }

  /** Gateways and stream workers by last heartbeat; alive when heard within their TTL. */
  async liveness(): Promise<Pick<PresenceDebug, 'gateways' | 'workers'>> {
    const [gw, wk] = await Promise.all([
      this.redis.zrange(this.keys.gateways, 0, -1, 'WITHSCORES'),
      this.redis.zrange(this.keys.workers, 0, -1, 'WITHSCORES'),
    ]);
    const now = Date.now();
    const pairs = (flat: string[]) => Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], Number(flat[2 * i + 1])] as const);
    const gatewayPairs = pairs(gw);
    const counts = await Promise.all(gatewayPairs.map(async ([id]) => (await this.held(id)).sessions));
    return {
      gateways: gatewayPairs.map(([gatewayId, seen], i) => ({
        gatewayId,
        lastSeenAt: new Date(seen).toISOString(),
        alive: now - seen < this.config.gatewayTtlMs,
        sessions: counts[i],
      })),
      workers: pairs(wk).map(([workerId, seen]) => ({ workerId, lastSeenAt: new Date(seen).toISOString(), alive: now - seen < this.config.workerTtlMs })),
    };
  }
}
