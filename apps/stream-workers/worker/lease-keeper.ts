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
  /** Whether a transition of the user runs or waits. */
  busy(userId: string): boolean;
}

/**
 * Keeps the leases of this worker's managers: renews them (a lease now held by someone else means
 * another manager runs: ours stops), takes back the ones nobody holds, and does so at once when
 * Redis lost its data (the dataset marker changed), before any peer may start a duplicate.
 *
 * A renewal only extends leases; taking one back is ordered with the user's transitions. A renewal
 * is on its way for a while, and the user's manager may stop and release its lease meanwhile: a
 * renewal that re-created every missing lease brought such a lease back (and the registry entry
 * with it, a ghost manager in every count). A take-back is sent only for a manager that still runs
 * with no transition under way; a stop queued after that sends its release after it.
 *
 * What follows a renewal (a stop, a take-back that waits for a transition) is not waited for: one
 * user's slow start must not hold the renewals, and the heartbeat, of every other.
 */
export class LeaseKeeper {
  private readonly logger = new Logger('StreamWorker');
  private lastMarker: string | null | undefined;
  /** Users whose take-back waits for their transition, so that renewals do not queue another. */
  private readonly waitingTakeBack = new Set<string>();

  constructor(private readonly p: LeaseKeeperPorts) {}

  async renew(): Promise<void> {
    const { leases, managers, workerId } = this.p;
    await leases.heartbeat(workerId);
    if (managers.size === 0) return;
    const sentAt = performance.now();
    // Only the exceptions come back; a lease renewed in place needs nothing more.
    const exceptions = await leases.renew(workerId, managers.values());
    for (const [userId, m] of managers) if (!exceptions.has(userId)) m.lease.confirm(sentAt);
    const missing: string[] = [];
    for (const [userId, r] of exceptions) {
      if (r === 'lost') void this.p.stopLost(userId);
      else missing.push(userId);
    }
    if (missing.length > 0) await this.takeBack(missing);
  }

  /** Takes back the leases nobody holds of managers that still run here. */
  private async takeBack(userIds: string[]): Promise<void> {
    const { managers, busy } = this.p;
    const now = [];
    for (const userId of userIds) {
      const manager = managers.get(userId);
      if (!manager) continue;
      if (!busy(userId)) now.push(manager);
      else if (!this.waitingTakeBack.has(userId)) {
        this.waitingTakeBack.add(userId);
        void this.p.exclusive(userId, async () => {
          this.waitingTakeBack.delete(userId);
          const still = managers.get(userId);
          if (still) await this.send([still]);
        });
      }
    }
    // Checked and sent in one go: nothing can start a transition of these users in between.
    if (now.length > 0) await this.send(now);
  }

  private async send(held: Array<UserStreamManager<Lease>>): Promise<void> {
    const sentAt = performance.now();
    const answers = await this.p.leases.reclaim(this.p.workerId, held);
    for (const m of held) {
      const answer = answers.get(m.userId);
      if (answer === 'lost') {
        void this.p.stopLost(m.userId);
        continue;
      }
      m.lease.confirm(sentAt);
      if (answer === 'reclaimed') this.logger.warn(`lease of ${m.userId} was gone (it lapsed, or Redis lost data); reclaimed it`);
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
