import { Logger } from '@nestjs/common';
import type { LeaseRepository } from '../leases/lease.repository.js';
import type { Lease } from '../leases/lease-hold.js';
import type { UserStreamManager } from '../manager/user-stream-manager.js';

/** What the keeper needs of its worker. */
export interface LeaseKeeperPorts {
  workerId: string;
  leases: Pick<LeaseRepository, 'heartbeat' | 'reassert' | 'release' | 'marker'>;
  managers: ReadonlyMap<string, UserStreamManager<Lease>>;
  /** Stops a manager whose lease another worker now holds (its lease is not ours to release). */
  stopLost(userId: string): Promise<void>;
  /** Runs `fn` as the user's one transition at a time. */
  exclusive(userId: string, fn: () => Promise<void>): Promise<void>;
}

/**
 * Keeps the leases of this worker's managers: renews them (a lease now held by someone else means
 * another manager runs: ours stops), and re-asserts them at once when Redis lost its data (the
 * dataset marker changed), before any peer may start a duplicate.
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
    const exceptions = await leases.reassert(workerId, managers.values());
    for (const [userId, m] of managers) if (exceptions.get(userId) !== 'lost') m.lease.confirm(sentAt);
    for (const [userId, r] of exceptions) {
      if (r === 'lost') await this.p.stopLost(userId);
      else if (!managers.has(userId)) {
        // Stopped while this renewal was in flight: the renewal re-created the lease and the
        // managers entry that the stop had just released (a ghost manager in every count). Undo it.
        await this.p.exclusive(userId, async () => {
          if (!managers.has(userId)) await leases.release(userId, workerId);
        });
      } else this.logger.warn(`lease of ${userId} was gone (Redis lost data?); reclaimed it`);
    }
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
