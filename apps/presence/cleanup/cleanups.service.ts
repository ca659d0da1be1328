import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { cleanupJobId, nowIso, type CleanupJobData } from '#libs/contracts/index.js';
import { PresenceStateRepository } from '../state/presence-state.repository.js';
import { CleanupQueueService } from './cleanup-queue.service.js';
import { DueTimers } from './due-timers.js';
import { SessionEventsBarrier } from './session-events-barrier.js';

/** How far past its time a cleanup must be before a sweep takes it for lost (its timer or job is late, not gone). */
export const OVERDUE_GRACE_MS = 1000;

/** What runs a due cleanup: the atomic, epoch-checked transition to offline. */
export type CleanupHandler = (data: CleanupJobData) => Promise<{ outcome: string }>;

export interface CleanupPorts {
  jobs: Pick<CleanupQueueService, 'add' | 'remove' | 'promote' | 'startWorker'>;
  barrier: Pick<SessionEventsBarrier, 'caughtUp'>;
  state: Pick<PresenceStateRepository, 'dueCleanups' | 'cleanupState'>;
}

/**
 * When a cleanup runs, in one place: `schedule`, `cancel`, and `onDue` (what to run).
 *
 * - The replica that schedules a cleanup runs it itself from an in-process timer at its time:
 *   going through BullMQ first (promote, wake a worker, move to active, complete) costs several
 *   Redis round trips per cleanup, and with thousands of users leaving at once that queue was the
 *   lateness. Its run removes the job.
 * - The BullMQ delayed job, FALLBACK_DELAY_MS after that time, is the safety net: it runs when the
 *   replica died (or its run failed). A restarted replica arms timers for every pending cleanup
 *   (`watchPending`), so a quick restart does not make one late by the delay.
 * - The periodic sweep re-adds a cleanup whose job was lost (a crash between the state change and
 *   the add, or Redis losing BullMQ's data).
 * - A due cleanup first waits for the user's session events stored before it (the barrier): when
 *   presence is behind, a return sitting in the stream must win over the cleanup (guarantee 4).
 *
 * Whichever path runs a cleanup, the handler's epoch check makes a second run, or a run after the
 * user came back, a no-op: the paths only decide how soon, never whether.
 */
@Injectable()
export class Cleanups implements OnApplicationShutdown {
  private readonly logger = new Logger('Cleanups');
  private readonly timers = new DueTimers();
  private readonly ports: CleanupPorts;
  private handler?: CleanupHandler;

  constructor(jobs: CleanupQueueService, barrier: SessionEventsBarrier, state: PresenceStateRepository) {
    this.ports = { jobs, barrier, state };
  }

  static withPorts(ports: CleanupPorts): Cleanups {
    const c = Object.create(Cleanups.prototype) as Cleanups;
    Object.assign(c, { logger: new Logger('Cleanups'), timers: new DueTimers(), ports });
    return c;
  }

  /** Idempotent: a repeated schedule of one epoch adds nothing. `revive`: see CleanupQueueService.add. */
  async schedule(data: CleanupJobData, opts: { revive?: boolean } = {}): Promise<void> {
    if (!(await this.ports.jobs.add(data, opts))) return;
    this.watch(data);
  }

  /** The fast path of a return; the epoch check in the handler is what makes it safe. */
  async cancel(userId: string, epoch: number): Promise<void> {
    const id = cleanupJobId(userId, epoch);
    this.timers.disarm(id);
    await this.ports.jobs.remove(id);
  }

  /** Sets what runs a due cleanup, from either path, and starts taking BullMQ's jobs. */
  onDue(handler: CleanupHandler): void {
    this.handler = handler;
    // The job of a cleanup that the timer already ran finds it done: it skips the wait, which would
    // otherwise look the user's joins up a second time.
    this.ports.jobs.startWorker(async (data) => this.run(data, await this.stillPending(data)));
  }

  /** The timer's run is at the cleanup's time, when it is nearly always still pending: asking Redis first would cost a round trip per cleanup. */
  private async run(data: CleanupJobData, ordered: boolean): Promise<{ outcome: string }> {
    if (ordered) await this.ports.barrier.caughtUp(data.userId);
    return this.handler!(data);
  }

  private async stillPending(data: CleanupJobData): Promise<boolean> {
    const state = await this.ports.state.cleanupState(data.userId);
    return state.status === 'grace' && state.epoch === data.epoch;
  }

  /** Arms the in-process timer of a cleanup whose job exists already. */
  private watch(data: CleanupJobData): void {
    const id = cleanupJobId(data.userId, data.epoch);
    this.timers.arm(id, Date.parse(data.runAt), () => this.runDue(id, data));
  }

  /** The cleanup at its time, here; then its job has nothing left to do. On failure, BullMQ retries it. */
  private async runDue(id: string, data: CleanupJobData): Promise<void> {
    if (!this.handler) return this.ports.jobs.promote(id);
    try {
      await this.run(data, true);
    } catch (err) {
      this.logger.warn(`cleanup ${id} failed here (${(err as Error).message}); BullMQ retries it`);
      return this.ports.jobs.promote(id);
    }
    // Whatever it found (offline now, or stale: the user came back), the question is settled.
    await this.ports.jobs.remove(id);
  }

  /**
   * Safety net for a cleanup whose job was lost: re-adds every one overdue by more than
   * OVERDUE_GRACE_MS; an add of a job that exists is a no-op. One whose timer is armed or running
   * here is being run (a restart arms the timers of every pending cleanup, overdue ones included,
   * just before the first sweep): counting it as lost would warn after every such restart.
   */
  async sweepOverdue(): Promise<number> {
    const due = await this.ports.state.dueCleanups(Date.now() - OVERDUE_GRACE_MS);
    const lost = due.filter((d) => !this.timers.isWatched(cleanupJobId(d.userId, d.epoch)));
    for (const d of lost) await this.schedule({ userId: d.userId, epoch: d.epoch, runAt: nowIso(d.runAt), reason: d.reason }, { revive: true });
    return lost.length;
  }

  /** At start: this replica's timers cover every pending cleanup, not only those it scheduled. */
  async watchPending(limit = 100_000): Promise<number> {
    const pending = await this.ports.state.dueCleanups(Number.MAX_SAFE_INTEGER, limit);
    for (const d of pending) this.watch({ userId: d.userId, epoch: d.epoch, runAt: nowIso(d.runAt), reason: d.reason });
    return pending.length;
  }

  onApplicationShutdown(): void {
    this.timers.clear();
  }
}
