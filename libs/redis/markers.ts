import { bucketGroups, type RedisKeys } from './keys.js';
import type { RedisClient } from './redis.js';

/**
 * Every bucket's dataset marker, in bucket order (null where missing): one MGET per group of
 * buckets (see bucketGroups), all groups at once (reads only).
 */
export async function readMarkers(redis: RedisClient, keys: RedisKeys): Promise<Array<string | null>> {
  const groups = await Promise.all(bucketGroups(redis.isCluster).map((g) => redis.mget(g.map((b) => keys.marker(b)))));
  return groups.flat();
}
