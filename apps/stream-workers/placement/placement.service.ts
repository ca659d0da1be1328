import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { REDIS, redisKeys, type RedisClient, type RedisKeys } from '#libs/redis/index.js';
import { leaseTimings } from '#libs/config/timings.js';
import { home } from './rendezvous.js';
import { planMoves, type Move } from './rebalance.js';
import { UNLEASED_AMONG, unleasedAmong } from '../leases/lease-scripts.js';


/**
 * Where managers run. A free user (just online, handed over by a drained worker, or left by a dead
 * one) is taken by its rendezvous home among the live workers; the others wait a moment and take
 * it only if it is still free then (the home may be paused, or see the workers differently for an
 * instant), so nobody is ever left without a manager. Running managers are evened out by the
 * workers themselves: one that runs more than its share hands some over to the least loaded, at
 * most PLACEMENT_MOVES_PER_S a second, each a graceful move (stopped `handover`, then started on
 * the target with its components' memory).
 */
@Injectable()
export class Placement {
  private readonly keys: RedisKeys;
  private live: string[] = [];
  private loads = new Map<string, number>();
  /** Users another worker should have taken, and when to look whether one did. */
  private readonly deferred = new Map<string, number>();
  private tokens = 0;
  private lastPlan = Date.now();
  /** A worker whose heartbeat is older than this is not placed on (its leases lapse soon after). */
  private readonly liveWindowMs: number;
  /** How long a non-home worker leaves a free user to its home. */
  readonly fallbackMs: number;

  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.keys = redisKeys(config.redisPrefix);
    const t = leaseTimings(config.workerTtlMs);
    this.liveWindowMs = Math.max(2 * t.renewEveryMs, t.leaseMs - t.reconcileEveryMs);
    this.fallbackMs = 2 * t.reconcileEveryMs;
    // The same command as LeaseRepository's: whichever defines it first, the other redefines it alike.
    redis.defineCommand('swUnleasedAmong', { lua: UNLEASED_AMONG });
  }

  /** Says this worker's load and reads the live workers' (every reconcile). */
  async refresh(self: string, myLoad: number): Promise<void> {
    const [, live, loads] = (await this.redis
      .multi()
      .hset(this.keys.workerLoads, self, myLoad)
      .zrangebyscore(this.keys.workers, Date.now() - this.liveWindowMs, '+inf')
      .hgetall(this.keys.workerLoads)
      .exec())!.map(([err, v]) => {
      if (err) throw err;
      return v;
    }) as [unknown, string[], Record<string, string>];
    this.live = live.includes(self) ? live : [...live, self];
    this.loads = new Map(this.live.map((w) => [w, w === self ? myLoad : Number(loads[w] ?? 0)]));
  }

  /** Whether this worker is the user's home (before the first refresh, anyone is). */
  isHome(userId: string, self: string): boolean {
    return this.live.length === 0 || home(userId, this.live) === self;
  }

  /** A worker said it is leaving (drained): its users' homes are among the others from now on. */
  leaving(workerId: string) {
    this.live = this.live.filter((w) => w !== workerId);
    this.loads.delete(workerId);
  }

  defer(userId: string) {
    if (!this.deferred.has(userId)) this.deferred.set(userId, Date.now() + this.fallbackMs);
  }

  /** Deferred users now due whose lease nobody took meanwhile: this worker takes them. */
  async dueAndFree(): Promise<string[]> {
    const now = Date.now();
    const due: string[] = [];
    for (const [u, at] of this.deferred) {
      if (at > now) continue;
      this.deferred.delete(u);
      due.push(u);
    }
    return unleasedAmong(this.redis, this.keys, due);
  }

  /** The moves to make now, within the rate's budget (a token bucket of one second). */
  plan(self: string, movable: string[]): Move[] {
    const rate = this.config.placementMovesPerS;
    const now = Date.now();
    this.tokens = Math.min(rate, this.tokens + (rate * (now - this.lastPlan)) / 1000);
    this.lastPlan = now;
    const moves = planMoves(self, movable, this.loads, Math.floor(this.tokens));
    this.tokens -= moves.length;
    return moves;
  }

  /** A move just made: counted before the next refresh says so. */
  moved(to: string) {
    this.loads.set(to, (this.loads.get(to) ?? 0) + 1);
  }

  async forget(self: string) {
    await this.redis.hdel(this.keys.workerLoads, self);
  }
}
