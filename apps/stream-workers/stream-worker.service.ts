import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { REDIS } from '#libs/redis/index.js';
import { nowIso, type ManagerInfo, type ManagerStopped } from '#libs/contracts/index.js';
import { NatsService, errorText } from '#libs/nats/nats.service.js';
import { Metrics } from '#libs/observability/metrics.js';
import { COMPONENTS } from './components/index.js';
import { SharedTicker } from './manager/shared-ticker.js';
import { UserStreamManager, type ManagerHooks } from './manager/user-stream-manager.js';
import type { ManagerEnvironment } from './manager/child-context.js';
import { LeaseRepository, leaseTimings } from './leases/lease.repository.js';
import { Lease } from './leases/lease-hold.js';
import { Placement } from './placement/placement.service.js';

/** While the dataset settles, a joined user is retried this often, for at most this long. */
const SETTLE_RETRY_EVERY_MS = 100;
const SETTLE_RETRY_FOR_MS = 10_000;
/** The reconcile leaves a user offline for less than this to their offline event (see reconcile). */
const OFFLINE_EVENT_GRACE_MS = 2000;

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
  private readonly busy = new Map<string, Promise<void>>();
  readonly ticker = new SharedTicker((err) => this.logger.error(`a ticker subscriber threw: ${errorText(err)}`));
  private timers: NodeJS.Timeout[] = [];
  private lastMarker: string | null | undefined;
  private lastOfflineSweep = 0;
  private lastUnleasedSweep = 0;
  private readonly timings: ReturnType<typeof leaseTimings>;
  private shuttingDown = false;
  private readonly hooks: ManagerHooks;
  private readonly env: ManagerEnvironment;
  /** One tagged logger per running manager; dropped when it stops, or every user ever seen stays. */
  private readonly loggers = new Map<string, Logger>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly leases: LeaseRepository,
    private readonly nats: NatsService,
    private readonly metrics: Metrics,
    private readonly placement: Placement,
  ) {
    this.workerId = config.instanceId;
    this.timings = leaseTimings(config.workerTtlMs);
    const loggers = this.loggers;
    const loggerFor = (userId: string) => {
      let l = loggers.get(userId);
      if (!l) {
        l = new Logger(`UserStreamManager:${userId}`);
        loggers.set(userId, l);
      }
      return l;
    };
    const quiet = () => undefined;
    this.env = {
      workerId: this.workerId,
      config,
      redis,
      ticker: this.ticker,
      // Asked at each start, after bootstrap has set the level. Ten thousand managers tick ten
      // thousand times a second: below info, the trip through Nest's logger to drop each line
      // was a fifth of a tick's cost.
      log: (userId) => (Logger.isLevelEnabled('log') ? (m: string) => loggerFor(userId).log(m) : quiet),
      emit: (kind, payload) => this.nats.emit(kind, payload),
    };
    this.hooks = {
      onComponentRestart: (userId, component, err) => {
        this.metrics.componentRestarts.inc({ component });
        loggerFor(userId).warn(`${component} crashed, restarting it: ${errorMessage(err)}`);
      },
      onManagerRestart: (userId, err) => loggerFor(userId).error(`components crash too often, restarting the manager: ${errorMessage(err)}`),
      onComponentFailed: (userId, component, err) =>
        loggerFor(userId).error(`${component} keeps crashing; left stopped until the manager restarts: ${errorMessage(err)}`),
    };
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
    this.timers.push(setInterval(() => void this.guard('renew', () => this.renew()), renewEveryMs));
    this.timers.push(setInterval(() => void this.guard('reconcile', () => this.reconcile()), reconcileEveryMs));
    this.timers.push(setInterval(() => void this.guard('marker', () => this.watchMarker()), 250));
    // A worker is dead once silent for WORKER_TTL_MS: soon after, its leftover registry entries go.
    const forgetEveryMs = Math.max(reconcileEveryMs, Math.floor(this.config.workerTtlMs / 2));
    this.timers.push(setInterval(() => void this.guard('forget-dead', () => this.forgetDeadWorkersManagers()), forgetEveryMs));
    void this.guard('heartbeat', () => this.leases.heartbeat(this.workerId));
    void this.guard('reconcile', () => this.reconcile());
  }

  /** Periodic jobs in flight: a slow one is skipped, not stacked. */
  private readonly inFlight = new Set<string>();
  private async guard(name: string, fn: () => Promise<unknown>) {
    if (this.inFlight.has(name) || this.shuttingDown || this.redis.status !== 'ready') return;
    this.inFlight.add(name);
    try {
      await fn();
    } catch (err) {
      this.logger.warn(`${name} failed: ${errorMessage(err)}`);
    } finally {
      this.inFlight.delete(name);
    }
  }

  /** Serialises transitions per user; different users proceed in parallel. */
  private exclusive(userId: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.busy.get(userId) ?? Promise.resolve();
    const next = prev.then(fn).catch((err: unknown) => this.logger.error(`${userId}: ${errorText(err)}`));
    this.busy.set(userId, next);
    void next.then(() => {
      if (this.busy.get(userId) === next) this.busy.delete(userId);
    });
    return next;
  }

  /** A new hold on a user's lease: a doubt about it asks for a renewal now. */
  private newLease(): Lease {
    const { leaseMs } = this.timings;
    return new Lease(leaseMs, Math.max(50, Math.floor(leaseMs / 20)), () => void this.guard('renew', () => this.renew()));
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
      since ??= this.waitingSince.get(userId);
      const lease = this.newLease();
      const manager = new UserStreamManager(userId, this.env, COMPONENTS, this.hooks, lease);
      const sentAt = performance.now();
      const { result, generation, handoff } = await this.leases.acquire(userId, this.workerId, manager.startedAt);
      if (result === 'settling' && since !== undefined) return this.retryAfterSettle(userId, since);
      // 'mine' with no manager here: a lease left by this worker id (a restart under the same
      // INSTANCE_ID, or a renewal that raced a stop). It is ours to run, not a reason to wait out its TTL.
      if (result !== 'acquired' && result !== 'mine') {
        this.waitingSince.delete(userId);
        return;
      }
      this.waitingSince.delete(userId);
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

  /**
   * A join while the dataset settles (first start, or Redis lost its data) cannot take a lease
   * yet: try again shortly rather than wait for the next reconcile, and keep when the user joined
   * so the join-to-started latency stays honest whichever path starts the manager.
   */
  private readonly waitingSince = new Map<string, number>();
  private retryAfterSettle(userId: string, since: number) {
    const first = !this.waitingSince.has(userId);
    this.waitingSince.set(userId, since);
    if (!first) return;
    const retry = () => {
      if (!this.waitingSince.has(userId) || this.shuttingDown) return;
      if (Date.now() - since > SETTLE_RETRY_FOR_MS) return void this.waitingSince.delete(userId);
      void this.tryStart(userId).then(() => {
        if (this.waitingSince.has(userId) && !this.managers.has(userId)) setTimeout(retry, SETTLE_RETRY_EVERY_MS).unref();
      });
    };
    setTimeout(retry, SETTLE_RETRY_EVERY_MS).unref();
  }

  /** Stop the user's manager if it runs here. `ifInactive`: only when presence no longer wants it. */
  stop(userId: string, reason: string, opts: { ifInactive?: boolean; release?: boolean; cause?: string } = {}): Promise<void> {
    return this.exclusive(userId, async () => {
      const manager = this.managers.get(userId);
      if (!manager) return;
      if (opts.ifInactive && (await this.leases.isActive(userId))) return;
      this.managers.delete(userId);
      await manager.stop();
      this.loggers.delete(userId);
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
  async renew() {
    await this.leases.heartbeat(this.workerId);
    if (this.managers.size === 0) return;
    const sentAt = performance.now();
    // Only the exceptions come back; a lease renewed in place needs nothing more.
    const exceptions = await this.leases.reassert(this.workerId, this.managers.values());
    for (const [userId, m] of this.managers) if (exceptions.get(userId) !== 'lost') m.lease.confirm(sentAt);
    for (const [userId, r] of exceptions) {
      if (r === 'lost') await this.stop(userId, 'lease_lost', { release: false });
      else if (!this.managers.has(userId)) {
        // Stopped while this renewal was in flight: the renewal re-created the lease and the
        // managers entry that the stop had just released (a ghost manager in every count). Undo it.
        await this.exclusive(userId, async () => {
          if (!this.managers.has(userId)) await this.leases.release(userId, this.workerId);
        });
      } else this.logger.warn(`lease of ${userId} was gone (Redis lost data?); reclaimed it`);
    }
  }

  /**
   * The safety net: stop managers whose user went offline (a lost offline event), start managers
   * for users who should have one and whose lease nobody holds (a lost online event, a dead worker).
   * A user with no state at all (Redis lost its data) is left running: presence adopts it.
   */
  async reconcile() {
    const t = this.timings;
    await this.placement.refresh(this.workerId, this.managers.size);
    for (const u of await this.placement.dueAndFree()) await this.tryStart(u, undefined, 'now');
    await this.rebalance();
    if (Date.now() - this.lastOfflineSweep >= t.sweepEveryMs) {
      this.lastOfflineSweep = Date.now();
      // A user who went offline a moment ago has their offline event on its way: stopping for it
      // here labelled an ordinary cleanup's stop `reconcile` (in `stream.manager.<u>.stopped` and
      // the stops metric) whenever this pass fell between presence's write and that event.
      for (const userId of await this.leases.offlineAmong([...this.managers.keys()], Date.now() - OFFLINE_EVENT_GRACE_MS)) {
        await this.stop(userId, 'reconcile', { ifInactive: true });
      }
    }
    // A dead worker's users must be taken within WORKER_TTL_MS: while a worker is quiet, at every
    // reconcile; otherwise only a lost online event is left to find (see leaseTimings).
    if (Date.now() - this.lastUnleasedSweep >= t.sweepEveryMs || (await this.leases.someWorkerQuiet(t.quietAfterMs))) {
      this.lastUnleasedSweep = Date.now();
      for await (const users of this.leases.unleasedActiveUsers()) {
        await Promise.all(users.map((u) => this.tryStart(u)));
      }
    }
  }

  /**
   * Evens out the managers across workers: a few of ours, within the rate, go to the least loaded
   * worker, each a graceful move (stopped `handover`, its memory left for the target).
   */
  private async rebalance() {
    const moves = this.placement.plan(this.workerId, [...this.managers.keys()].filter((u) => !this.busy.has(u)));
    const byTarget = new Map<string, string[]>();
    for (const m of moves) {
      await this.stop(m.userId, 'handover');
      if (this.managers.has(m.userId)) continue;
      this.placement.moved(m.to);
      byTarget.set(m.to, [...(byTarget.get(m.to) ?? []), m.userId]);
    }
    for (const [to, userIds] of byTarget) {
      this.logger.log(`moved ${userIds.length} manager(s) to ${to} to even out the load`);
      this.nats.emit('worker.handover', { workerId: this.workerId, userIds, to, at: nowIso() });
    }
  }

  /** A handover from another worker: to this one by name, or (a drained worker) to the users' homes. */
  takeOver(from: string, userIds: string[], to?: string): Promise<unknown> {
    if (to !== undefined) return to === this.workerId ? Promise.all(userIds.map((u) => this.tryStart(u, undefined, 'now'))) : Promise.resolve();
    this.placement.leaving(from);
    return Promise.all(userIds.map((u) => this.tryStart(u)));
  }

  /** Registry entries (`pl:managers`) of workers killed mid-run, for users nobody took over. */
  async forgetDeadWorkersManagers() {
    const n = await this.leases.forgetDeadWorkersManagers();
    if (n > 0) this.logger.warn(`forgot ${n} registry entr(ies) of manager(s) that died with their worker and were not taken over`);
  }

  /** Redis came back empty: re-assert our leases at once, before any peer starts a duplicate. */
  private async watchMarker() {
    const marker = await this.leases.marker();
    if (this.lastMarker !== undefined && marker !== this.lastMarker && this.managers.size > 0) {
      this.logger.warn('presence state was reset (Redis lost its data): re-asserting leases');
      await this.renew();
    }
    this.lastMarker = marker;
  }

  /** Graceful stop: hand every manager over at once instead of waiting for leases to lapse. */
  async beforeApplicationShutdown() {
    this.shuttingDown = true;
    for (const t of this.timers) clearInterval(t);
    // Out of the live workers first, so that nobody places a user here any more; not waited for
    // long: with Redis away the command would wait for it, and the handover must not.
    const forgotten = Promise.all([this.leases.forgetWorker(this.workerId), this.placement.forget(this.workerId)]).catch(() => undefined);
    await Promise.race([forgotten, new Promise((r) => setTimeout(r, 500).unref())]);
    await Promise.allSettled(this.busy.values());
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

function errorMessage(err: unknown) {
  return err instanceof Error ? err.message : String(err);
}
