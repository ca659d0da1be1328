import { PeriodicProbe, PROBE_EVERY_MS, PROBE_FRESH_MS } from '#libs/observability/periodic-probe.js';
import { REDIS_BUCKETS, bucketGroups } from './keys.js';
import { readOnlyAt, type RedisClient } from './redis.js';

/**
 * Whether this app can write to Redis now: a connection can be up while every write fails (a
 * primary demoted to a read-only replica by a failover, a server out of memory or refusing writes).
 * A small write with a TTL, once a second; health is down when the last success is stale, and says
 * why.
 */
export class RedisWriteProbe extends PeriodicProbe {
  private readonly keys: string[];

  constructor(
    private readonly redis: RedisClient,
    /**
     * One key per bucket, written one per group of buckets (bucketGroups): on a Cluster every
     * bucket's, so a primary that refuses writes fails the probe; one server (alone or behind
     * Sentinel) holds every bucket, so there the first key tells as much as all.
     */
    keys: string[],
  ) {
    super();
    if (keys.length !== REDIS_BUCKETS) throw new Error(`RedisWriteProbe wants one key per bucket (${REDIS_BUCKETS}), got ${keys.length}`);
    this.keys = bucketGroups(redis.isCluster).map((g) => keys[g[0]]);
  }

  /** null when writes work; otherwise why not. */
  problem(): string | null {
    if (this.fresh()) return null;
    if (Date.now() - readOnlyAt(this.redis) <= PROBE_FRESH_MS) return 'READONLY: the server is a read-only replica (demoted by a failover?); reconnecting';
    return this.redis.status === 'ready' ? this.lastError : `connection ${this.redis.status}`;
  }

  protected async check(): Promise<void> {
    // One at a time: on a primary a failover just demoted, each READONLY answer makes the client
    // reconnect, and a burst of them (one per bucket at once) made ioredis end the connection for good.
    const now = String(Date.now());
    for (const key of this.keys) await this.redis.set(key, now, 'PX', 10 * PROBE_EVERY_MS);
  }
}
