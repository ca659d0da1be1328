import { Inject, Injectable } from '@nestjs/common';
import type { Result } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { BUCKETS, REDIS, byBucket, redisKeys, type RedisClient, type RedisKeys } from '#libs/redis/index.js';
import type { PresenceDebug, SessionMeta } from '#libs/contracts/index.js';

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

/** KEYS: marker, settling (of one bucket)  ARGV: nowIso, settleMs. 1 when the marker was missing (and is now set). */
const ENSURE_MARKER = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
  return 1
end
return 0
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    plHeartbeat(...args: (string | number)[]): Result<string | null, Context>;
    plEnsureMarker(...args: (string | number)[]): Result<number, Context>;
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
    redis.defineCommand('plEnsureMarker', { numberOfKeys: 2, lua: ENSURE_MARKER });
  }

  /** Records a heartbeat; answers the boot id previously recorded when this one differs (a restart). */
  recordHeartbeat(gatewayId: string, nowMs: number, bootId: string): Promise<string | null> {
    return this.redis.plHeartbeat(this.keys.gateways, this.keys.gatewayBoots, gatewayId, nowMs, bootId);
  }

  /** How many sessions the state holds for the gateway. */
  async sessionCount(gatewayId: string): Promise<number> {
    const counts = await Promise.all(BUCKETS.map((b) => this.redis.scard(this.keys.gatewaySessions(b, gatewayId))));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Gateways whose last heartbeat is at or before `deadline` (ms). */
  silentSince(deadline: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.gateways, '-inf', deadline);
  }

  /** Forgets a gateway whose sessions were ended. */
  async forget(gatewayId: string): Promise<void> {
    await this.redis.multi().zrem(this.keys.gateways, gatewayId).hdel(this.keys.gatewayBoots, gatewayId).exec();
  }

  /** True when this replica may reconcile the gateway now (nobody else does, for `ttlMs`). */
  async lockReconcile(gatewayId: string, holder: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.keys.gatewayReconcile(gatewayId), holder, 'PX', ttlMs, 'NX')) === 'OK';
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
    // One at a time, as the write probe (libs/redis/write-probe.ts): a burst of writes on a demoted primary.
    let missing = false;
    for (const b of BUCKETS) if ((await this.redis.plEnsureMarker(this.keys.marker(b), this.keys.settling(b), nowIso, settleMs)) === 1) missing = true;
    return missing;
  }

  /** When the dataset was last (re)created: the youngest bucket's marker (null while one is missing). */
  async marker(): Promise<string | null> {
    const markers = await Promise.all(BUCKETS.map((b) => this.redis.get(this.keys.marker(b))));
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
    const counts = await Promise.all(gatewayPairs.map(([id]) => this.sessionCount(id)));
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
