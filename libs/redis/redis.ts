import { Redis, type RedisOptions } from 'ioredis';

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
 * One ioredis client from REDIS_URL (db number, password and rediss:// honoured). Commands wait
 * through a Redis restart instead of failing (BullMQ requires maxRetriesPerRequest: null), so a
 * blip delays work rather than dropping it.
 */
export function createRedis(redisUrl: string, connectionName: string, extra: RedisOptions = {}): Redis {
  const client: Redis = new Redis(redisUrl, {
    connectionName,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(50 * times, 1000),
    reconnectOnError: (err) => {
      if (!err.message.startsWith('READONLY')) return false;
      readOnlySeen.set(client, Date.now());
      return 2;
    },
    ...(redisUrl.startsWith('rediss:') ? { tls: {} } : {}),
    ...extra,
  });
  return client;
}

export const REDIS = Symbol('REDIS');
