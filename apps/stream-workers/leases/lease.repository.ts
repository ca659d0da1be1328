import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { BUCKETS, REDIS, bucketOf, byBucket, readMarkers, redisKeys, type RedisClient, type RedisKeys } from '#libs/redis/index.js';
import { leaseTimings } from '#libs/config/timings.js';
import { ACQUIRE, BATCH, DEAD_AMONG, DROP_DEAD, OFFLINE_AMONG, RELEASE, RENEW_MANY, UNLEASED_AMONG, perBucket, unleasedAmong } from './lease-scripts.js';

export type AcquireResult = 'acquired' | 'mine' | 'taken' | 'inactive' | 'settling';
export interface Acquired {
  result: AcquireResult;
  /** The lease's generation, when it was taken. */
  generation?: number;
  /** The memory a previous holder left on a graceful move, if any. */
  handoff?: Record<string, Record<string, unknown>>;
}
/** How long a graceful move's handed-over memory waits for the next holder. */
const HANDOFF_TTL_MS = 60_000;

/** What a renewal found, when it was not a plain renewal: nobody holds the lease, or another worker does. */
export type RenewException = 'missing' | 'lost';
/** What a take-back did, when it was not a plain renewal (the lease was ours after all). */
export type ReclaimException = 'reclaimed' | 'lost';

/** A running manager as its lease renewal sees it. */
export interface HeldManager {
  userId: string;
  startedAt: number;
  lease: { generation: number };
}

function parseHandoff(raw: string | undefined): Acquired['handoff'] {
  if (!raw) return undefined;
  try {
    const v: unknown = JSON.parse(raw);
    return v && typeof v === 'object' ? (v as Acquired['handoff']) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Single activation: a user's manager runs only on the worker holding the user's lease, a Redis
 * key with a TTL of WORKER_TTL_MS that its holder renews. A dead worker's leases lapse and another
 * worker takes the user; a live worker that finds its lease held by another stops its manager.
 */
@Injectable()
export class LeaseRepository {
  readonly keys: RedisKeys;
  private readonly leaseMs: number;

  constructor(
    @Inject(REDIS) readonly redis: RedisClient,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.keys = redisKeys(config.redisPrefix);
    this.leaseMs = leaseTimings(config.workerTtlMs).leaseMs;
    redis.defineCommand('swAcquire', { numberOfKeys: 7, lua: ACQUIRE });
    redis.defineCommand('swRenewMany', { lua: RENEW_MANY });
    redis.defineCommand('swOfflineAmong', { lua: OFFLINE_AMONG });
    redis.defineCommand('swUnleasedAmong', { lua: UNLEASED_AMONG });
    redis.defineCommand('swRelease', { numberOfKeys: 3, lua: RELEASE });
    redis.defineCommand('swDeadAmong', { numberOfKeys: 1, lua: DEAD_AMONG });
    redis.defineCommand('swDropDead', { lua: DROP_DEAD });
  }

  /** `startedAt`: epoch ms. */
  private managerJson(workerId: string, startedAt: number, generation: number) {
    return JSON.stringify({ workerId, startedAt: new Date(startedAt).toISOString(), generation });
  }

  async acquire(userId: string, workerId: string, startedAt: number): Promise<Acquired> {
    const k = this.keys;
    const b = bucketOf(userId);
    const [result, generation, handoff] = await this.redis.swAcquire(
      k.lease(userId), k.active(b), k.managers(b), k.settling(b), k.marker(b), k.leaseGeneration(userId), k.handoff(userId),
      workerId, this.leaseMs, userId, new Date(startedAt).toISOString(),
    );
    return { result, generation: generation === undefined ? undefined : Number(generation), handoff: parseHandoff(handoff) };
  }

  /**
   * Renews many leases: one script per bucket and BATCH leases, answering only the exceptions (a
   * lease nobody holds, or one another worker holds); a plain renewal is not in the answer. A
   * renewal never re-creates a lease (see RENEW_MANY; `reclaim` does). Every few seconds over every
   * manager of the worker, so it sends batches, not a command per manager: ten thousand in-flight
   * commands outlived the young generation and grew the heap by tens of MiB between collections.
   */
  async renew(workerId: string, managers: Iterable<HeldManager>): Promise<Map<string, RenewException>> {
    const out = new Map<string, RenewException>();
    for (const [bucket, held] of byBucket(managers, (m) => m.userId)) {
      for (let i = 0; i < held.length; i += BATCH) {
        for (const [userId, r] of await this.renewBatch(workerId, bucket, held.slice(i, i + BATCH), false)) out.set(userId, r as RenewException);
      }
    }
    return out;
  }

  /**
   * Takes back the leases of managers that still run here and that nobody holds (they lapsed, or
   * Redis lost them), answering the ones another worker took meanwhile ('lost') and the ones taken
   * back ('reclaimed'); a lease found ours is simply renewed. Every batch is sent before this
   * returns its promise: the caller checked, synchronously, that no transition of these users is
   * under way, and a stop that comes later sends its release after them on this connection.
   */
  async reclaim(workerId: string, managers: readonly HeldManager[]): Promise<Map<string, ReclaimException>> {
    const sent: Array<Promise<Array<[string, string]>>> = [];
    for (const [bucket, held] of byBucket(managers, (m) => m.userId)) {
      for (let i = 0; i < held.length; i += BATCH) sent.push(this.renewBatch(workerId, bucket, held.slice(i, i + BATCH), true));
    }
    return new Map((await Promise.all(sent)).flat() as Array<[string, ReclaimException]>);
  }

  private async renewBatch(workerId: string, bucket: number, chunk: HeldManager[], reclaim: boolean): Promise<Array<[string, string]>> {
    const keys = [this.keys.managers(bucket)];
    const args: Array<string | number> = [workerId, this.leaseMs, reclaim ? '1' : '0'];
    for (const m of chunk) {
      keys.push(this.keys.lease(m.userId), this.keys.leaseGeneration(m.userId));
      args.push(m.userId, this.managerJson(workerId, m.startedAt, m.lease.generation), m.lease.generation);
    }
    const flat = await this.redis.swRenewMany(keys.length, ...keys, ...args);
    const out: Array<[string, string]> = [];
    for (let j = 0; j < flat.length; j += 2) out.push([chunk[Number(flat[j]) - 1].userId, String(flat[j + 1])]);
    return out;
  }

  /** `handoff`: the manager's memory, left for the next holder (a graceful move). */
  async release(userId: string, workerId: string, handoff?: Record<string, Record<string, unknown>>): Promise<void> {
    const json = handoff && Object.keys(handoff).length > 0 ? JSON.stringify(handoff) : '';
    await this.redis.swRelease(this.keys.lease(userId), this.keys.managers(bucketOf(userId)), this.keys.handoff(userId), workerId, userId, json, HANDOFF_TTL_MS);
  }

  /**
   * The users among these whose presence status is 'offline', and has been since `offlineBeforeMs`
   * (presence's clock) or earlier (one script per bucket and BATCH users, see renew).
   */
  offlineAmong(userIds: string[], offlineBeforeMs = Number.MAX_SAFE_INTEGER): Promise<string[]> {
    return perBucket(userIds, (users) => this.redis.swOfflineAmong(users.length, ...users.map((u) => this.keys.state(u)), offlineBeforeMs));
  }

  async isActive(userId: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys.active(bucketOf(userId)), userId)) === 1;
  }

  /**
   * Users who should have a manager and whose lease nobody holds, a page of a bucket's active
   * users at a time (every second, over every active user of every bucket).
   */
  async *unleasedActiveUsers(): AsyncGenerator<string[]> {
    for (const b of BUCKETS) {
      let cursor = '0';
      do {
        const [next, page] = await this.redis.sscan(this.keys.active(b), cursor, 'COUNT', 1000);
        cursor = next;
        const free = page.length > 0 ? await unleasedAmong(this.redis, this.keys, page) : [];
        if (free.length > 0) yield free;
      } while (cursor !== '0');
    }
  }

  /**
   * Managers registry entries of workers that stopped heartbeating and no longer hold the user's lease:
   * a worker killed with -9 never released them. Its active users were taken over (the entry now
   * names the new worker); the others (the user left meanwhile) would stay registered forever and
   * count in presence's stats. Answers how many entries were dropped.
   */
  async forgetDeadWorkersManagers(): Promise<number> {
    // Checked in Redis, a page at a time, answering only the dead workers' entries: reading every
    // entry out to check it here brought ten thousand JSON strings into each worker every few seconds.
    const live = await this.liveWorkers();
    let dropped = 0;
    for (const b of BUCKETS) {
      let cursor = '0';
      do {
        const [next, ...dead] = await this.redis.swDeadAmong(this.keys.managers(b), cursor, 1000, ...live);
        cursor = next;
        const users = dead.filter((_, i) => i % 2 === 0);
        if (users.length > 0) dropped += await this.redis.swDropDead(1 + users.length, this.keys.managers(b), ...users.map((u) => this.keys.lease(u)), ...dead);
      } while (cursor !== '0');
    }
    return dropped;
  }

  async heartbeat(workerId: string) {
    await this.redis.zadd(this.keys.workers, Date.now(), workerId);
  }

  /**
   * Whether a worker went quiet lately: no heartbeat for `quietAfterMs`, yet one within twice
   * WORKER_TTL_MS (by then its leases have long lapsed and its users are taken; a worker killed
   * last week stays in the set and must not count).
   */
  async someWorkerQuiet(quietAfterMs: number): Promise<boolean> {
    const now = Date.now();
    return (await this.redis.zcount(this.keys.workers, now - 2 * this.config.workerTtlMs, now - quietAfterMs)) > 0;
  }

  async liveWorkers(): Promise<string[]> {
    return this.recentWorkers(this.config.workerTtlMs);
  }

  /** Workers that heartbeat within the last `withinMs`. */
  async recentWorkers(withinMs: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.workers, Date.now() - withinMs, '+inf');
  }

  async forgetWorker(workerId: string) {
    await this.redis.zrem(this.keys.workers, workerId);
  }

  /** The buckets' dataset markers, as one string: it changes when any bucket's data was lost and recreated. */
  async marker(): Promise<string> {
    return (await readMarkers(this.redis, this.keys)).map((m) => m ?? '-').join(' ');
  }
}
