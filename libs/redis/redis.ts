import { Redis, type RedisOptions } from 'ioredis';
import { parseRedisUrl } from './redis-url.js';

/** When each client last met a READONLY answer (see readOnlyAt). */
const readOnlySeen = new WeakMap<Redis, number>();

/**
 * When this client last found itself connected to a read-only replica, or 0: a failover demoted
 * the server it writes to. Each such answer makes it reconnect and send the command again, so the
 * command waits for a writable primary instead of failing.
 */
export function readOnlyAt(redis: Redis): number {
  return readOnlySeen.get(redis) ?? 0;
}

/**
 * One ioredis client from REDIS_URL (see redis-url.ts: one server, db number, password and
 * rediss:// honoured; or a Sentinel-managed primary). Commands wait through a Redis restart or a
 * failover instead of failing (BullMQ requires maxRetriesPerRequest: null), so a blip delays work
 * rather than dropping it. BullMQ is given clients made here too, so its connections follow the
 * same primary as the apps' own.
 */
export function createRedis(redisUrl: string, connectionName: string, extra: RedisOptions = {}): Redis {
  const target = parseRedisUrl(redisUrl);
  const base: RedisOptions = {
    connectionName,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(50 * times, 1000),
    reconnectOnError: (err) => {
      if (!err.message.startsWith('READONLY')) return false;
      readOnlySeen.set(client, Date.now());
      return 2;
    },
  };
  let client: Redis;
  if (target.kind === 'server') {
    client = new Redis(redisUrl, { ...base, ...(target.tls ? { tls: {} } : {}), ...extra });
  } else if (target.kind === 'sentinel') {
    client = new Redis({
      ...base,
      sentinels: target.sentinels,
      name: target.masterName,
      username: target.username,
      password: target.password,
      // Sentinels tell every client of a new primary (+switch-master): reconnect at once rather
      // than at the next failed command.
      failoverDetector: true,
      // Kept retrying while every Sentinel is away; they are asked again each time.
      sentinelRetryStrategy: (times) => Math.min(100 * times, 1000),
      ...extra,
    });
  } else {
    throw new Error('REDIS_URL redis-cluster:// is not supported by this build: use redis:// or redis-sentinel://');
  }
  return client;
}

export const REDIS = Symbol('REDIS');
