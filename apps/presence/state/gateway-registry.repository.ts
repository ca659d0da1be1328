import { Inject, Injectable } from '@nestjs/common';
import type { Redis, Result } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { REDIS, redisKeys, type RedisKeys } from '#libs/redis/index.js';
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

/** KEYS: marker, settling  ARGV: nowIso, settleMs. 1 when the marker was missing (and is now set). */
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
    @Inject(REDIS) private readonly redis: Redis,
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
  sessionCount(gatewayId: string): Promise<number> {
    return this.redis.scard(this.keys.gatewaySessions(gatewayId));
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

  /** In one round trip: a gateway's whole list can be thousands of sessions. */
  async sessionMetas(sessions: Array<{ userId: string; sessionId: string }>): Promise<Array<SessionMeta | null>> {
    if (sessions.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const { userId, sessionId } of sessions) pipe.hget(this.keys.sessions(userId), sessionId);
    const results = (await pipe.exec()) ?? [];
    return results.map(([err, raw]) => (err || typeof raw !== 'string' ? null : (JSON.parse(raw) as SessionMeta)));
  }

  /** Sets the dataset marker if it is missing, opening the settle window; true when it was missing (Redis lost its data). */
  async ensureMarker(nowIso: string, settleMs: number): Promise<boolean> {
    return (await this.redis.plEnsureMarker(this.keys.marker, this.keys.settling, nowIso, settleMs)) === 1;
  }

  /** When the dataset was (re)created, as the marker says. */
  marker(): Promise<string | null> {
    return this.redis.get(this.keys.marker);
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
    const pipe = this.redis.pipeline();
    for (const [id] of gatewayPairs) pipe.scard(this.keys.gatewaySessions(id));
    const counts = gatewayPairs.length ? ((await pipe.exec()) ?? []) : [];
    return {
      gateways: gatewayPairs.map(([gatewayId, seen], i) => ({
        gatewayId,
        lastSeenAt: new Date(seen).toISOString(),
        alive: now - seen < this.config.gatewayTtlMs,
        sessions: Number(counts[i]?.[1] ?? 0),
      })),
      workers: pairs(wk).map(([workerId, seen]) => ({ workerId, lastSeenAt: new Date(seen).toISOString(), alive: now - seen < this.config.workerTtlMs })),
    };
  }
}
