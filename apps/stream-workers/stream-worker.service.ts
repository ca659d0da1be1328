import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { REDIS, type RedisClient } from '#libs/redis/index.js';
import { nowIso, type ManagerInfo, type ManagerStopped } from '#libs/contracts/index.js';
import { NatsService, errorText } from '#libs/nats/nats.service.js';
import { Metrics } from '#libs/observability/metrics.js';
import { KeyedSerial } from '#libs/concurrency/keyed-serial.js';
import { COMPONENTS } from './components/index.js';
import { SharedTicker } from './manager/shared-ticker.js';
import { UserStreamManager, type ManagerHooks } from './manager/user-stream-manager.js';
import type { ManagerEnvironment } from './manager/child-context.js';
import { errorMessage, managerEnvironment } from './worker/manager-environment.js';
import { LeaseKeeper } from './worker/lease-keeper.js';
import { PeriodicJobs } from './worker/periodic-jobs.js';
import { Reconciler } from './worker/reconciler.js';
import { SettleRetries } from './worker/settle-retries.js';
import { leaseTimings } from '#libs/config/timings.js';
import { LeaseRepository } from './leases/lease.repository.js';
import { Lease } from './leases/lease-hold.js';
import { Placement } from './placement/placement.service.js';

/**
 * How often the dataset marker is read: a Redis that came back empty must see this worker's leases
 * re-asserted before the settle window (RESYNC_SETTLE_MS) ends and others may take them.
 */
const MARKER_POLL_MS = 250;

/**
 * Keeps this worker's managers equal to what the presence state asks for, on the users whose
 * lease it holds. Events (online, offline, handover) are the fast path; a periodic reconcile and
 * lease renewal are the safety net, so a lost message or a crashed peer still converges.
 */
@Injectable()
export class StreamWorkerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('StreamWorker');
  readonly workerId: string;
  private readonly managers = new Map<string, UserStreamManager<Lease>>();
  /** Users being started or stopped right now: one transition at a time per user. */
  private readonly transitions = new KeyedSerial((userId, err) => this.logger.error(`${userId}: ${errorText(err)}`));
  readonly ticker = new SharedTicker((err) => this.logger.error(`a ticker subscriber threw: ${errorText(err)}`));
  private readonly jobs = new PeriodicJobs(
    () => !this.shuttingDown && this.redis.status === 'ready',
    (name, err) => this.logger.warn(`${name} failed: ${errorMessage(err)}`),
  );
  private readonly keeper: LeaseKeeper;
  private readonly reconciler: Reconciler;
  private readonly timings: ReturnType<typeof leaseTimings>;
  private shuttingDown = false;
  private readonly hooks: ManagerHooks;
  private readonly env: ManagerEnvironment;
  private readonly forgetLogger: (userId: string) => void;
  private readonly settle: SettleRetries;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly leases: LeaseRepository,
    private readonly nats: NatsService,
    private readonly metrics: Metrics,
    private readonly placement: Placement,
  ) {
    this.workerId = config.instanceId;
    this.timings = leaseTimings(config.workerTtlMs);
    ({ env: this.env, hooks: this.hooks, forget: this.forgetLogger } = managerEnvironment({ workerId: this.workerId, config, redis, ticker: this.ticker, nats, metrics }));
    this.settle = new SettleRetries(
      (userId) => this.tryStart(userId),
      (userId) => this.managers.has(userId),
      () => this.shuttingDown,
    );
    this.keeper = new LeaseKeeper({
      workerId: this.workerId,
      leases,
      managers: this.managers,
      stopLost: (userId) => this.stop(userId, 'lease_lost', { release: false }),
      exclusive: (userId, fn) => this.exclusive(userId, fn),
      busy: (userId) => this.transitions.busy(userId),
    });
    this.reconciler = new Reconciler({
      workerId: this.workerId,
      timings: this.timings,
      leases,
      placement,
      running: () => [...this.managers.keys()],
      busy: (userId) => this.transitions.busy(userId),
      tryStart: (userId, since, how) => this.tryStart(userId, since, how),
      stop: (userId, reason, opts) => this.stop(userId, reason, opts),
      emit: (kind, payload) => nats.emit(kind, payload),
    });
  }

  get running(): number {
    return this.managers.size;
  }

  manager(userId: string): UserStreamManager<Lease> | undefined {
    return this.managers.get(userId);
  }

  list(): ManagerInfo[] {
    return [...this.managers.values()].map((m) => m.info());
  }

  onApplicationBootstrap() {
    const { renewEveryMs, reconcileEveryMs } = this.timings;
    this.jobs.every('renew', renewEveryMs, () => this.renew());
    this.jobs.every('reconcile', reconcileEveryMs, () => this.reconcile());
    this.jobs.every('marker', MARKER_POLL_MS, () => this.keeper.watchMarker());
    // A worker is dead once silent for WORKER_TTL_MS: soon after, its leftover registry entries go.
    this.jobs.every('forget-dead', Math.max(reconcileEveryMs, Math.floor(this.config.workerTtlMs / 2)), () => this.forgetDeadWorkersManagers());
    void this.jobs.now('heartbeat', () => this.leases.heartbeat(this.workerId));
    void this.jobs.now('reconcile', () => this.reconcile());
  }

  /** One transition at a time per user; different users proceed in parallel. */
  private exclusive(userId: string, fn: () => Promise<void>): Promise<void> {
    return this.transitions.run(userId, fn);
  }

  /** A new hold on a user's lease: a doubt about it asks for a renewal now. */
  private newLease(): Lease {
    const { leaseMs } = this.timings;
    return new Lease(leaseMs, Math.max(50, Math.floor(leaseMs / 20)), () => void this.jobs.now('renew', () => this.renew()));
  }

  /**
   * Start the user's manager here if they should have one and nobody else runs it. `placed`: only
   * if this worker is the user's home (otherwise it looks again a moment later, see Placement);
   * `now`: this worker was chosen (a move to it, or the user's home never took them).
   */
  tryStart(userId: string, since?: number, how: 'placed' | 'now' = 'placed'): Promise<void> {
    return this.exclusive(userId, async () => {
      if (this.shuttingDown || this.managers.has(userId)) return;
      if (how === 'placed' && !this.placement.isHome(userId, this.workerId)) return this.placement.defer(userId);
      since ??= this.settle.joinedAt(userId);
      const lease = this.newLease();
      const manager = new UserStreamManager(userId, this.env, COMPONENTS, this.hooks, lease);
      const sentAt = performance.now();
      const { result, generation, handoff } = await this.leases.acquire(userId, this.workerId, manager.startedAt);
      if (result === 'settling' && since !== undefined) return this.settle.wait(userId, since);
      // 'mine' with no manager here: a lease left by this worker id (a restart under the same
      // INSTANCE_ID, or a release that failed while Redis was away). It is ours to run, not a reason to wait out its TTL.
      this.settle.done(userId);
      if (result !== 'acquired' && result !== 'mine') return;
      lease.generation = generation ?? 0;
      lease.confirm(sentAt);
      if (handoff) manager.restore(handoff);
      this.managers.set(userId, manager);
      await manager.start();
      this.metrics.managersRunning.set(this.managers.size);
      this.metrics.managerStarts.inc();
      if (since !== undefined) this.metrics.joinToStarted.observe((Date.now() - since) / 1000);
      this.logger.log(`manager started for ${userId}${handoff ? ' (handed over: its components keep their memory)' : ''}`);
      this.nats.emit('manager.started', { userId, workerId: this.workerId, at: nowIso(), generation: lease.generation });
    });
  }

  /** Stop the user's manager if it runs here. `ifInactive`: only when presence no longer wants it. */
  stop(userId: string, reason: string, opts: { ifInactive?: boolean; release?: boolean; cause?: string } = {}): Promise<void> {
    return this.exclusive(userId, async () => {
      const manager = this.managers.get(userId);
      if (!manager) return;
      if (opts.ifInactive && (await this.leases.isActive(userId))) return;
      this.managers.delete(userId);
      await manager.stop();
      this.forgetLogger(userId);
      this.metrics.managersRunning.set(this.managers.size);
      this.metrics.managerStops.inc({ reason });
      this.logger.log(`manager stopped for ${userId} (${reason}${opts.cause && opts.cause !== reason ? `: ${opts.cause}` : ''})`);
      // Said before the lease is released, and whether or not the release works (Redis may be
      // away): the manager has stopped, and the lease lapses by itself.
      const stopped: ManagerStopped = {
        userId,
        workerId: this.workerId,
        reason,
        at: nowIso(),
        generation: manager.lease.generation,
        ...(opts.cause ? { cause: opts.cause } : {}),
      };
      this.nats.emit('manager.stopped', stopped);
      if (opts.release === false) return;
      await this.leases
        .release(userId, this.workerId, reason === 'handover' ? manager.snapshot() : undefined)
        .catch((err: unknown) => this.logger.warn(`could not release the lease of ${userId} (${errorText(err)}); it lapses by itself`));
    });
  }

  /** Renew leases; a lease now held by someone else means another manager runs: stop ours. */
  renew(): Promise<void> {
    return this.keeper.renew();
  }

  /** The safety net of the events (see Reconciler). */
  reconcile(): Promise<void> {
    return this.reconciler.reconcile();
  }

  /** A handover from another worker: to this one by name, or (a drained worker) to the users' homes. */
  takeOver(from: string, userIds: string[], to?: string): Promise<unknown> {
    if (to !== undefined) return to === this.workerId ? Promise.all(userIds.map((u) => this.tryStart(u, undefined, 'now'))) : Promise.resolve();
    this.placement.leaving(from);
    return Promise.all(userIds.map((u) => this.tryStart(u)));
  }

  /** Registry entries (the buckets' managers hashes) of workers killed mid-run, for users nobody took over. */
  async forgetDeadWorkersManagers() {
    const n = await this.leases.forgetDeadWorkersManagers();
    if (n > 0) this.logger.warn(`forgot ${n} registry entr(ies) of manager(s) that died with their worker and were not taken over`);
  }

  /** Graceful stop: hand every manager over at once instead of waiting for leases to lapse. */
  async beforeApplicationShutdown() {
    this.shuttingDown = true;
    this.jobs.stop();
    // Out of the live workers first, so that nobody places a user here any more; not waited for
    // long: with Redis away the command would wait for it, and the handover must not.
    const forgotten = Promise.all([this.leases.forgetWorker(this.workerId), this.placement.forget(this.workerId)]).catch(() => undefined);
    await Promise.race([forgotten, new Promise((r) => setTimeout(r, 500).unref())]);
    await this.transitions.idle();
    const users = [...this.managers.keys()];
    this.shuttingDown = false;
    await Promise.all(users.map((u) => this.stop(u, 'handover')));
    this.shuttingDown = true;
    this.ticker.stop();
    if (users.length > 0) {
      this.logger.log(`handed over ${users.length} manager(s)`);
      this.nats.emit('worker.handover', { workerId: this.workerId, userIds: users, at: nowIso() });
    }
    await this.leases.forgetWorker(this.workerId).catch(() => undefined);
  }
}

