import { Logger } from '@nestjs/common';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { parseRedisUrl } from './redis-url.js';

/**
 * The apps' Redis connection, whichever form REDIS_URL takes: one server or a Sentinel-managed
 * primary (an ioredis Redis), or a Redis Cluster (an ioredis Cluster, which routes each command to
 * the primary of its slot). Code that uses it touches one slot per script, MULTI or pipeline (see
 * keys.ts), which both forms run alike.
 */
export type RedisClient = Redis | Cluster;

/** When each client last met a READONLY answer (see readOnlyAt). */
const readOnlySeen = new WeakMap<RedisClient, number>();

/**
 * When this client last found itself connected to a read-only replica, or 0: a failover demoted
 * the server it writes to. Each such answer makes it reconnect and send the command again, so the
 * command waits for a writable primary instead of failing.
 */
export function readOnlyAt(redis: RedisClient): number {
  return readOnlySeen.get(redis) ?? 0;
}

/** What a caller may add to the connection: both forms take these. */
export interface RedisExtraOptions {
  enableAutoPipelining?: boolean;
}

/**
 * How long a Sentinel has to answer a command (the primary's address; the failover detector's
 * subscribe) before the client gives up on it and asks the next one. A hung or stopped Sentinel
 * still has its connections accepted by the kernel, so without a limit a connect or reconnect that
 * asks it first waits for good. A live Sentinel answers from memory: 2 s leaves room for a loaded
 * machine and costs at most that much per hung Sentinel asked.
 */
const SENTINEL_COMMAND_TIMEOUT_MS = 2000;

/**
 * One ioredis client from REDIS_URL (see redis-url.ts: one server, db number, password and
 * rediss:// honoured; a Sentinel-managed primary; or a Cluster from its seed nodes). Commands wait
 * through a Redis restart, a failover or a Cluster's resharding instead of failing (BullMQ requires
 * maxRetriesPerRequest: null), so a blip delays work rather than dropping it. BullMQ is given
 * clients made here too, so its connections follow the same primaries as the apps' own.
 */
export function createRedis(redisUrl: string, connectionName: string, extra: RedisExtraOptions = {}): RedisClient {
  const target = parseRedisUrl(redisUrl);
  let client: RedisClient;
  const base: RedisOptions = {
    connectionName,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    reconnectOnError: (err) => {
      if (!err.message.startsWith('READONLY')) return false;
      readOnlySeen.set(client, Date.now());
      return 2;
    },
  };
  const retryStrategy = (times: number) => Math.min(50 * times, 1000);
  if (target.kind === 'server') {
    client = new Redis(redisUrl, { ...base, retryStrategy, ...(target.tls ? { tls: {} } : {}), ...extra });
  } else if (target.kind === 'sentinel') {
    client = new Redis({
      ...base,
      retryStrategy,
      sentinels: target.sentinels,
      name: target.masterName,
      username: target.username,
      password: target.password,
      // Sentinels tell every client of a new primary (+switch-master): reconnect at once rather
      // than at the next failed command.
      failoverDetector: true,
      // Kept retrying while every Sentinel is away; they are asked again each time.
      sentinelRetryStrategy: (times) => Math.min(100 * times, 1000),
      sentinelCommandTimeout: SENTINEL_COMMAND_TIMEOUT_MS,
      ...extra,
    });
  } else {
    client = new Cluster(target.nodes, {
      redisOptions: { ...base, username: target.username, password: target.password },
      // Kept retrying while no seed node answers; each retry asks the seeds for the slots again.
      clusterRetryStrategy: retryStrategy,
      enableReadyCheck: true,
      // A failover or resharding moves slots: commands wait and follow (MOVED, ASK, CLUSTERDOWN)
      // rather than fail.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      retryDelayOnTryAgain: 100,
      maxRedirections: 32,
      // No auto-pipelining on a Cluster: ioredis follows a MOVED inside a pipeline only when every
      // command of it failed alike, and an automatic pipeline mixes a node's slots and writes, so
      // after a node came back (its slots briefly unmapped) the redirections came back as errors
      // to the callers, for as long as the slot map stayed stale.
      enableAutoPipelining: false,
    });
  }
  if (client instanceof Redis) undoUnaskedEnd(client);
  return client;
}

/**
 * ioredis ends a Sentinel client for good when its failover detector disconnects it while a
 * reconnect is still asking the Sentinels for the primary (a primary killed, then +switch-master):
 * from then on every command answers "Connection is closed.". An end nobody asked for (no quit, no
 * disconnect without reconnect) is undone: the client connects again, asking the Sentinels afresh.
 * The commands queued at the end still fail once (ioredis rejects its queue as it ends); the ones
 * after it wait and run. test/ha/redis-sentinel-detector.e2e.ts drives a client into that end.
 */
function undoUnaskedEnd(client: Redis) {
  let closing = false;
  const quit = client.quit.bind(client);
  const disconnect = client.disconnect.bind(client);
  client.quit = ((...args: Parameters<Redis['quit']>) => {
    closing = true;
    return quit(...args);
  }) as Redis['quit'];
  client.disconnect = (reconnect = false) => {
    if (!reconnect) closing = true;
    disconnect(reconnect);
  };
  client.on('end', () => {
    if (closing) return;
    new Logger('Redis').warn(`${client.options.connectionName ?? 'redis'}: the connection ended without being closed; connecting again`);
    setTimeout(() => {
      if (!closing && client.status === 'end') client.connect().catch(() => undefined);
    }, 100).unref();
  });
}

export const REDIS = Symbol('REDIS');
