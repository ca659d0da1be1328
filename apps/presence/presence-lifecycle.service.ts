import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { presenceCheckEveryMs } from '#libs/config/timings.js';
import { REDIS, type RedisClient } from '#libs/redis/index.js';
import { Metrics } from '#libs/observability/metrics.js';
import { Readiness } from '#libs/runtime/readiness.js';
import { errorText } from '#libs/nats/nats.service.js';
import { PresenceService } from './presence.service.js';
import { Cleanups } from './cleanup/cleanups.service.js';
import { PresenceStateRepository } from './state/presence-state.repository.js';
import { GatewayLivenessService, RESYNC_SETTLE_MS } from './gateway-liveness.service.js';

/**
 * An orphan (a registered manager whose user has no state at all) comes from a lost dataset, so
 * the sweep runs at every tick for this long once the gateways have had their chance to resync,
 * and only every ORPHAN_SWEEP_EVERY_MS after that (a worker that re-asserts its leases late, a key
 * deleted by hand). Each sweep reads every registered manager: every second, with 10,000 managers,
 * it was a fifth of Redis's idle CPU.
 */
export const ORPHAN_WATCH_MS = 60_000;
export const ORPHAN_SWEEP_EVERY_MS = 10_000;

/** Starts the cleanups and the periodic safety nets; wires health and stats gauges. */
@Injectable()
export class PresenceLifecycleService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Presence');
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private lastOrphanSweep = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly presence: PresenceService,
    private readonly cleanups: Cleanups,
    private readonly state: PresenceStateRepository,
    private readonly liveness: GatewayLivenessService,
    private readonly readiness: Readiness,
    metrics: Metrics,
  ) {
    const stat = (pick: (s: Awaited<ReturnType<PresenceStateRepository['stats']>>) => number) => async () =>
      redis.status === 'ready' ? pick(await state.stats()) : 0;
    metrics.gauge('presence_users_online', 'Users with at least one session', stat((s) => s.users));
    metrics.gauge('presence_sessions', 'Live dashboard sessions', stat((s) => s.sessions));
    metrics.gauge('presence_cleanups_pending', 'Cleanups scheduled and not yet run', stat((s) => s.pendingCleanups));
    metrics.gauge('presence_managers', 'Managers registered by the stream workers', stat((s) => s.managers));
    metrics.labelledGauge('presence_sessions_by_status', 'Live dashboard sessions by tab status', 'status', async () =>
      redis.status === 'ready' ? (await state.stats()).byStatus : {},
    );
  }

  async onApplicationBootstrap() {
    this.cleanups.onDue((data) => this.presence.runCleanup(data));
    // Pending cleanups of a previous run (or of another replica) get a precise timer here too; when
    // Redis is away now, the first tick that finds it does this.
    if (this.redis.status === 'ready') {
      await this.cleanups.adoptPending().catch((err: unknown) => this.logger.warn(`could not read pending cleanups: ${errorText(err)}`));
    }
    this.timer = setInterval(() => void this.tick(), presenceCheckEveryMs(this.config.gatewayTtlMs));
    // Notice a lost dataset now, not one period from now.
    void this.tick();
    this.readiness.markReady();
  }

  private async tick() {
    if (this.ticking || this.redis.status !== 'ready') return;
    this.ticking = true;
    try {
      const datasetAge = await this.liveness.checkDataLoss();
      await this.liveness.expireDeadGateways();
      await this.cleanups.adoptPending();
      // After a data loss, wait for the gateways' resync (and the heartbeat check behind it) before
      // calling a manager an orphan: its user may be present and just not announced yet.
      const settledFor = datasetAge - (RESYNC_SETTLE_MS + this.config.gatewayTtlMs);
      if (settledFor >= 0 && (settledFor < ORPHAN_WATCH_MS || Date.now() - this.lastOrphanSweep >= ORPHAN_SWEEP_EVERY_MS)) {
        await this.sweepOrphans();
        this.lastOrphanSweep = Date.now();
      }
    } catch (err) {
      this.logger.error(`periodic check failed: ${errorText(err)}`);
    } finally {
      this.ticking = false;
    }
  }

  /** Managers whose user the state has never heard of get a grace period, then stop. */
  private async sweepOrphans() {
    const orphans = await this.state.orphanManagers();
    for (const userId of orphans) await this.presence.adoptOrphan(userId);
    if (orphans.length > 0) this.logger.warn(`adopted ${orphans.length} orphan manager(s): ${orphans.slice(0, 10).join(', ')}`);
  }

  onApplicationShutdown() {
    if (this.timer) clearInterval(this.timer);
  }
}
