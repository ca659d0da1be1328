import type { LeaseHold } from '../manager/child-context.js';

/**
 * This worker's hold on one user's lease, by this process's monotonic clock. Redis expires the
 * lease `leaseMs` after the last renewal it applied; a renewal sent at `sentAt` was applied after
 * it, so until `sentAt + leaseMs` nobody else can hold the lease. Past that, unconfirmed, the hold
 * is in doubt: a process paused (SIGSTOP, a long GC pause) past its lease wakes up with overdue
 * timers, and its periodic work must wait for a renewal rather than run beside the new holder's.
 * `marginMs` covers clock rate differences and timer slop.
 */
export class Lease implements LeaseHold {
  generation = 0;
  private validUntil = 0;

  constructor(
    private readonly leaseMs: number,
    private readonly marginMs: number,
    private readonly onDoubt: () => void,
  ) {}

  /** A renewal (or the acquisition) sent at `sentAt` (performance.now()) succeeded. */
  confirm(sentAt: number): void {
    this.validUntil = Math.max(this.validUntil, sentAt + this.leaseMs - this.marginMs);
  }

  valid(): boolean {
    return performance.now() < this.validUntil;
  }

  doubt(): void {
    this.onDoubt();
  }
}
