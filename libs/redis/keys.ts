/**
 * Every Redis key of the system. A user's keys share the `{userId}` hash tag, but the scripts also
 * touch the global indexes and counters below (`active`, `grace`, `online`, `stats`, `managers`...),
 * which hash to other slots: the scripts are not Redis Cluster-safe, and the app refuses a
 * `redis-cluster://` REDIS_URL. Running on a Cluster would need those indexes kept per bucket of
 * users, each bucket's keys under one hash tag (see docs/SCALING.md).
 */
export function redisKeys(prefix: string) {
  return {
    sessions: (userId: string) => `${prefix}:{${userId}}:sessions`,
    state: (userId: string) => `${prefix}:{${userId}}:state`,
    tombstone: (userId: string, sessionId: string) => `${prefix}:{${userId}}:gone:${sessionId}`,
    /** A status change that arrived before its session's join (redelivery order after a crash). */
    earlyStatus: (userId: string, sessionId: string) => `${prefix}:{${userId}}:early:${sessionId}`,
    /** Users whose manager should run: online or in their grace period. */
    active: `${prefix}:active`,
    /** Users in their grace period, scored by cleanup time (ms). */
    grace: `${prefix}:grace`,
    /** Users with at least one session. */
    online: `${prefix}:online`,
    /** Counters kept with the state, for O(1) stats. */
    stats: `${prefix}:stats`,
    /** Gateways' last heartbeat (ms), and the sessions each holds. */
    gateways: `${prefix}:gateways`,
    gatewaySessions: (gatewayId: string) => `${prefix}:gw:${gatewayId}:sessions`,
    /** Set once per Redis dataset: when it is missing, Redis lost its data. */
    marker: `${prefix}:marker`,
    /** Present for a moment after the marker was recreated: workers re-assert, nobody acquires. */
    settling: `${prefix}:settling`,
    /** gatewayId -> boot id of the incarnation last heard from. */
    gatewayBoots: `${prefix}:gwboot`,
    /** Held while one presence replica reconciles a gateway's sessions. */
    gatewayReconcile: (gatewayId: string) => `${prefix}:gw:${gatewayId}:reconcile`,
    /** Set by an operator's end_sessions: while it lives, the user's joins are refused. */
    block: (userId: string) => `${prefix}:{${userId}}:block`,
    lease: (userId: string) => `${prefix}:{${userId}}:lease`,
    /** The last generation (fencing token) given to a holder of the user's lease. */
    leaseGeneration: (userId: string) => `${prefix}:{${userId}}:leasegen`,
    /** A gracefully moved manager's memory, waiting for its next holder. */
    handoff: (userId: string) => `${prefix}:{${userId}}:handoff`,
    /** userId -> JSON {workerId, startedAt, generation} of every running manager. */
    managers: `${prefix}:managers`,
    workers: `${prefix}:workers`,
    /** workerId -> how many managers it runs, written with its heartbeat (placement reads it). */
    workerLoads: `${prefix}:workerload`,
    bullPrefix: `${prefix}:bull`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;

/**
 * A user's key as a Lua expression, for batched scripts that are given user ids rather than keys:
 * building ten thousand key strings a second in the workers' reconcile was most of the garbage
 * their heap promoted. `prefix` and `userId` are Lua expressions; the result equals redisKeys'.
 */
export function luaUserKey(prefix: string, userId: string, part: 'state' | 'lease'): string {
  return `${prefix} .. ':{' .. ${userId} .. '}:${part}'`;
}
