/**
 * Every Redis key of the system, in one layout for the three forms of REDIS_URL (one server,
 * Sentinel, Cluster). On a Cluster a script or MULTI may touch only keys of one hash slot, so:
 * - users are spread over REDIS_BUCKETS buckets by a stable hash of their id; a user's keys and the
 *   indexes and counters of the user's bucket (active, grace, online, stats, managers, a gateway's
 *   sessions and their digest, the dataset marker) share the bucket's hash tag `{<prefix>:b<n>}`, so every
 *   transition of a user is one script on one slot;
 * - readers that need "all" (stats, sweeps, reconcile, queries) visit every bucket and sum;
 * - the few global keys (gateway and worker heartbeats) share the tag `{<prefix>}`, and nothing
 *   that touches them touches a bucket's keys;
 * - BullMQ's prefix is hash-tagged `{<prefix>:bull}`, so each of its scripts stays on one slot.
 * Lua scripts are given every key they touch (KEYS), never build one.
 */

/**
 * How many buckets users are spread over. Fixed: a user's bucket is part of every key of theirs,
 * so changing it would orphan every key. Sixteen spreads the load over up to sixteen primaries
 * (a bucket is one slot) while keeping "visit every bucket" readers at sixteen small commands.
 */
export const REDIS_BUCKETS = 16;

/** Every bucket number, 0..REDIS_BUCKETS-1. */
export const BUCKETS: readonly number[] = Array.from({ length: REDIS_BUCKETS }, (_, i) => i);

/**
 * The buckets one command may span: on a Cluster one bucket at a time (a script, MULTI, MGET or
 * pipeline stays on one slot), on one server (alone or behind Sentinel) every bucket at once. A
 * reader or writer of "every bucket" sends one command per group: sixteen on a Cluster, one on a
 * server, which keeps the per-second work of an idle stack on one server to a few commands.
 */
export function bucketGroups(cluster: boolean): ReadonlyArray<readonly number[]> {
  return cluster ? BUCKETS.map((b) => [b]) : [BUCKETS];
}

/** The user's bucket: FNV-1a (32 bits) of the id, which is ASCII (see the contract's userId pattern). */
export function bucketOf(userId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < userId.length; i++) {
    h ^= userId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % REDIS_BUCKETS;
}

/** These ids grouped by bucket (for one script or pipeline per bucket), in their given order. */
export function byBucket<T>(items: Iterable<T>, userIdOf: (item: T) => string): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const item of items) {
    const b = bucketOf(userIdOf(item));
    const list = out.get(b);
    if (list) list.push(item);
    else out.set(b, [item]);
  }
  return out;
}

export function redisKeys(prefix: string) {
  const tag = (bucket: number) => `{${prefix}:b${bucket}}`;
  const user = (userId: string) => `${tag(bucketOf(userId))}:u:${userId}`;
  const global = `{${prefix}}`;
  return {
    sessions: (userId: string) => `${user(userId)}:sessions`,
    state: (userId: string) => `${user(userId)}:state`,
    /**
     * What the state must remember of a session outside its life (redelivery order after a crash):
     * a hash of `left` (it left: a later join is ignored) or the newest status change that came
     * before its join (`status`, `statusAt`, kept for the join). One TTL; the join removes it.
     */
    sessionRecord: (userId: string, sessionId: string) => `${user(userId)}:s:${sessionId}`,
    /** Set by an operator's end_sessions: while it lives, the user's joins are refused. */
    block: (userId: string) => `${user(userId)}:block`,
    lease: (userId: string) => `${user(userId)}:lease`,
    /** The last generation (fencing token) given to a holder of the user's lease. */
    leaseGeneration: (userId: string) => `${user(userId)}:leasegen`,
    /** A gracefully moved manager's memory, waiting for its next holder. */
    handoff: (userId: string) => `${user(userId)}:handoff`,
    /** Users of the bucket whose manager should run: online or in their grace period. */
    active: (bucket: number) => `${tag(bucket)}:active`,
    /** Users of the bucket in their grace period, scored by cleanup time (ms). */
    grace: (bucket: number) => `${tag(bucket)}:grace`,
    /** Users of the bucket with at least one session. */
    online: (bucket: number) => `${tag(bucket)}:online`,
    /** The bucket's counters, kept with the state, for stats summed over the buckets. */
    stats: (bucket: number) => `${tag(bucket)}:stats`,
    /** userId -> JSON {workerId, startedAt, generation} of every running manager of the bucket's users. */
    managers: (bucket: number) => `${tag(bucket)}:managers`,
    /** The sessions of the bucket's users that a gateway holds ("userId sessionId"). */
    gatewaySessions: (bucket: number, gatewayId: string) => `${tag(bucket)}:gw:${gatewayId}:sessions`,
    /** The digest of the session ids in gatewaySessions (libs/contracts/session-digest.ts), kept by the scripts that change it; missing: 0. */
    gatewayDigest: (bucket: number, gatewayId: string) => `${tag(bucket)}:gw:${gatewayId}:digest`,
    /**
     * Set once per bucket's dataset: when it is missing, the bucket's data was lost (one server
     * restarted empty, or on a Cluster the shard holding the bucket).
     */
    marker: (bucket: number) => `${tag(bucket)}:marker`,
    /** Present for a moment after the bucket's marker was recreated: workers re-assert, nobody acquires there. */
    settling: (bucket: number) => `${tag(bucket)}:settling`,
    /** Gateways' last heartbeat (ms). */
    gateways: `${global}:gateways`,
    /** gatewayId -> boot id of the incarnation last heard from. */
    gatewayBoots: `${global}:gwboot`,
    /** Stream workers' last heartbeat (ms). */
    workers: `${global}:workers`,
    /** workerId -> how many managers it runs, written with its heartbeat (placement reads it). */
    workerLoads: `${global}:workerload`,
    /** An app's health probe writes here, in every bucket (so on a Cluster, to every primary that holds one). */
    probe: (bucket: number, app: string, instanceId: string) => `${tag(bucket)}:probe:${app}:${instanceId}`,
    /** BullMQ's prefix: its keys are `<bullPrefix>:<queue>:…`, each of its scripts on this one slot. */
    bullPrefix: `{${prefix}:bull}`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
