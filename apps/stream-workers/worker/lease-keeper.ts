import { Logger } from '@nestjs/common';
import type { LeaseRepository } from '../leases/lease.repository.js';
import type { Lease } from '../leases/lease-hold.js';
import type { UserStreamManager } from '../manager/user-stream-manager.js';

/** What the keeper needs of its worker. */
export interface LeaseKeeperPorts {
  workerId: string;
  leases: Pick<LeaseRepository, 'heartbeat' | 'renew' | 'reclaim' | 'marker'>;
  managers: ReadonlyMap<string, UserStreamManager<Lease>>;
  /** Stops a manager whose lease another worker now holds (its lease is not ours to release). */
  stopLost(userId: string): Promise<void>;
  /** Runs `fn` as the user's one transition at a time. */
  exclusive(userId: string, fn: () => Promise<void>): Promise<void>;
}

/**
 * Keeps the leases of this worker's managers: renews them (a lease now held by someone else means
 * another manager runs: ours stops), takes back the ones nobody holds, and does so at once when
 * Redis lost its data (the dataset marker changed), before any peer may start a duplicate.
 *
 * A renewal only extends leases; taking one back is a transition of its user. A renewal is on its
 * way for a while, and the user's manager may stop and release its lease meanwhile: a renewal that
 * re-created every missing lease brought such a lease back (and the registry entry with it, a
 * ghost manager in every count). Run in the user's order, the take-back sees whether the manager
 * still runs.
 */
export class LeaseKeeper {
  private readonly logger = new Logger('StreamWorker');
  private lastMarker: string | null | undefined;

  constructor(private readonly p: LeaseKeeperPorts) {}

  async renew(): Promise<void> {
    const { leases, managers, workerId } = this.p;
    await leases.heartbeat(workerId);
    if (managers.size === 0) return;
    const sentAt = performance.now();
    // Only the exceptions come back; a lease renewed in place needs nothing more.
    const exceptions = await leases.renew(workerId, managers.values());
    for (const [userId, m] of managers) if (!exceptions.has(userId)) m.lease.confirm(sentAt);
    await Promise.all([...exceptions].map(([userId, r]) => (r === 'lost' ? this.p.stopLost(userId) : this.reclaim(userId))));
  }

  /** Takes back a lease nobody holds, if its manager still runs here. */
  private async reclaim(userId: string): Promise<void> {
    let lost = false;
    await this.p.exclusive(userId, async () => {
      const manager = this.p.managers.get(userId);
      if (!manager) return;
      const sentAt = performance.now();
      const result = await this.p.leases.reclaim(this.p.workerId, manager);
      if (result === 'lost') lost = true;
      else manager.lease.confirm(sentAt);
      if (result === 'reclaimed') this.logger.warn(`lease of ${userId} was gone (it lapsed, or Redis lost data); reclaimed it`);
    });
    // After the transition: the stop is the user's next one.
    if (lost) await this.p.stopLost(userId);
  }

  /** Reads the dataset marker; a new one means Redis came back empty. */
  async watchMarker(): Promise<void> {
    const marker = await this.p.leases.marker();
    if (this.lastMarker !== undefined && marker !== this.lastMarker && this.p.managers.size > 0) {
      this.logger.warn('presence state was reset (Redis lost its data): re-asserting leases');
      await this.renew();
    }
    this.lastMarker = marker;
  }
}
