import { Redis, type RedisOptions } from 'ioredis';

/**
 * One ioredis client from REDIS_URL (db number, password and rediss:// honoured). Commands wait
 * through a Redis restart instead of failing (BullMQ requires maxRetriesPerRequest: null), so a
 * blip delays work rather than dropping it.
 */
export function createRedis(redisUrl: string, connectionName: string, extra: RedisOptions = {}): Redis {
  return new Redis(redisUrl, {
    connectionName,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(50 * times, 1000),
    ...(redisUrl.startsWith('rediss:') ? { tls: {} } : {}),
    ...extra,
  });
}

export const REDIS = Symbol('REDIS');
