import { Logger } from '@nestjs/common';
import { nowIso, type Emit } from '#libs/contracts/index.js';
import type { LeaseRepository, leaseTimings } from '../leases/lease.repository.js';
import type { Placement } from '../placement/placement.service.js';

/** The reconcile leaves a user offline for less than this to their offline event (see reconcile). */
const OFFLINE_EVENT_GRACE_MS = 2000;

/** What the reconcile needs of its worker. */
export interface ReconcilerPorts {
  workerId: string;
  timings: ReturnType<typeof leaseTimings>;
  leases: Pick<LeaseRepository, 'offlineAmong' | 'someWorkerQuiet' | 'unleasedActiveUsers'>;
  placement: Pick<Placement, 'refresh' | 'dueAndFree' | 'plan' | 'moved'>;
  /** Users whose manager runs here. */
  running(): string[];
  /** Whether a start or stop of the user is under way. */
  busy(userId: string): boolean;
  tryStart(userId: string, since?: number, how?: 'placed' | 'now'): Promise<void>;
  stop(userId: string, reason: string, opts?: { ifInactive?: boolean }): Promise<void>;
  emit: Emit;
}

/**
 * The safety net of a worker's events: stops managers whose user went offline (a lost offline
 * event), starts managers for users who should have one and whose lease nobody holds (a lost
 * online event, a dead worker), and evens out the load. A user with no state at all (Redis lost
 * its data) is left running: presence adopts it.
 */
export class Reconciler {
  private readonly logger = new Logger('StreamWorker');
  private lastOfflineSweep = 0;
  private lastUnleasedSweep = 0;

  constructor(private readonly p: ReconcilerPorts) {}

  async reconcile(): Promise<void> {
    const { timings: t, leases, placement } = this.p;
    await placement.refresh(this.p.workerId, this.p.running().length);
    for (const u of await placement.dueAndFree()) await this.p.tryStart(u, undefined, 'now');
    await this.rebalance();
    if (Date.now() - this.lastOfflineSweep >= t.sweepEveryMs) {
      this.lastOfflineSweep = Date.now();
      // A user who went offline a moment ago has their offline event on its way: stopping for it
      // here would label an ordinary cleanup's stop `reconcile` (in `stream.manager.<u>.stopped`
      // and the stops metric) whenever this pass fell between presence's write and that event.
      for (const userId of await leases.offlineAmong(this.p.running(), Date.now() - OFFLINE_EVENT_GRACE_MS)) {
        await this.p.stop(userId, 'reconcile', { ifInactive: true });
      }
    }
    // A dead worker's users must be taken within WORKER_TTL_MS: while a worker is quiet, at every
    // reconcile; otherwise only a lost online event is left to find (see leaseTimings).
    if (Date.now() - this.lastUnleasedSweep >= t.sweepEveryMs || (await leases.someWorkerQuiet(t.quietAfterMs))) {
      this.lastUnleasedSweep = Date.now();
      for await (const users of leases.unleasedActiveUsers()) {
        await Promise.all(users.map((u) => this.p.tryStart(u)));
      }
    }
  }

  /**
   * Evens out the managers across workers: a few of ours, within the rate, go to the least loaded
   * worker, each a graceful move (stopped `handover`, its memory left for the target).
   */
  private async rebalance(): Promise<void> {
    const moves = this.p.placement.plan(this.p.workerId, this.p.running().filter((u) => !this.p.busy(u)));
    const byTarget = new Map<string, string[]>();
    for (const m of moves) {
      await this.p.stop(m.userId, 'handover');
      if (this.p.running().includes(m.userId)) continue;
      this.p.placement.moved(m.to);
      byTarget.set(m.to, [...(byTarget.get(m.to) ?? []), m.userId]);
    }
    for (const [to, userIds] of byTarget) {
      this.logger.log(`moved ${userIds.length} manager(s) to ${to} to even out the load`);
      this.p.emit('worker.handover', { workerId: this.p.workerId, userIds, to, at: nowIso() });
    }
  }
}
