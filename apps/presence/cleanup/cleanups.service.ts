import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { cleanupJobId, nowIso, type CleanupJobData } from '#libs/contracts/index.js';
import { PresenceStateRepository } from '../state/presence-state.repository.js';
import { CleanupQueueService, type JobOutcome } from './cleanup-queue.service.js';
import { DueTimers } from './due-timers.js';
import { SessionEventsBarrier } from './session-events-barrier.js';

/** How far past its time a cleanup must be before adoption takes it for lost (its timer or job is late, not gone). */
export const OVERDUE_GRACE_MS = 1000;

/** At most this many pending cleanups get a timer at the first adoption. */
const ADOPT_AT_START_LIMIT = 100_000;

/** What runs a due cleanup: the atomic, epoch-checked transition to offline. */
export type CleanupHandler = (data: CleanupJobData) => Promise<{ outcome: string }>;

export interface CleanupPorts {
  jobs: Pick<CleanupQueueService, 'add' | 'remove' | 'promote' | 'startWorker'>;
  barrier: Pick<SessionEventsBarrier, 'caughtUp'>;
  state: Pick<PresenceStateRepository, 'dueCleanups' | 'cleanupState'>;
}

/**
 * When a cleanup runs, in one place: `schedule`, `cancel`, `adoptPending`, and `onDue` (what to run).
 *
 * - The replica that schedules a cleanup runs it itself from an in-process timer at its time:
 *   going through BullMQ first (promote, wake a worker, move to active, complete) costs several
 *   Redis round trips per cleanup, and with thousands of users leaving at once that queue was the
 *   lateness. Its run removes the job.
 * - The BullMQ delayed job, FALLBACK_DELAY_MS after that time, is the safety net: it runs when the
 *   replica died (or its run failed).
 * - `adoptPending`: a replica watches every pending cleanup once it starts, so a quick restart does
 *   not make one late by the delay; after that, one overdue that it does not watch was lost (a crash
 *   between the state change and the add, or Redis losing BullMQ's data): its job is added again.
 * - Neither path runs a cleanup before its time (guarantee 3): a timer or a job that fires early
 *   leaves it to this replica's timer at its time (`notYet`).
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
  private adoptedAll = false;

  constructor(jobs: CleanupQueueService, barrier: SessionEventsBarrier, state: PresenceStateRepository) {
    this.ports = { jobs, barrier, state };
  }

  static withPorts(ports: CleanupPorts): Cleanups {
    const c = Object.create(Cleanups.prototype) as Cleanups;
    Object.assign(c, { logger: new Logger('Cleanups'), timers: new DueTimers(), ports, adoptedAll: false });
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
    this.ports.jobs.startWorker((data) => this.onJob(data));
  }

  /**
   * The one check of both paths that the cleanup is due. Guarantee 3 says never earlier, and either
   * path may fire before its time: a Node timer a millisecond before Date.now() reaches it (or after
   * the clock stepped back), a job promoted by hand on the board, a job taken on a replica whose
   * clock is behind the one that added it. Then the cleanup is not run: it is armed on this
   * replica's timer for its time, and a job goes back to waiting (see CleanupQueueService).
   */
  private notYet(data: CleanupJobData, via: 'timer' | 'job'): boolean {
    const early = Date.parse(data.runAt) - Date.now();
    if (early <= 0) return false;
    if (via === 'job') {
      const id = cleanupJobId(data.userId, data.epoch);
      this.logger.log(`cleanup ${id}: its job started ${early} ms before its time (promoted by hand?); it runs at ${data.runAt} from a timer here, the job waits again as the safety net`);
    }
    this.watch(data);
    return true;
  }

  /** The job of a cleanup that the timer already ran finds it done: it skips the wait, which would otherwise look the user's joins up a second time. */
  private async onJob(data: CleanupJobData): Promise<JobOutcome> {
    if (this.notYet(data, 'job')) return 'early';
    return this.run(data, await this.stillPending(data));
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
    this.timers.arm(id, Date.parse(data.runAt), () => this.onTimer(id, data));
  }

  /** The cleanup at its time, here; then its job has nothing left to do. On failure, BullMQ retries it. */
  private async onTimer(id: string, data: CleanupJobData): Promise<void> {
    if (this.notYet(data, 'timer')) return;
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
   * Makes this replica watch the pending cleanups it does not watch yet (one armed or running here
   * is left alone). The first adoption (at start) takes every pending one, of every replica, so
   * that a quick restart does not make one late by its job's delay; after that, every pending
   * cleanup is watched here or by the replica that scheduled it, so only one overdue by more than
   * OVERDUE_GRACE_MS can be unwatched here, and it was lost: it is scheduled again (its job re-added,
   * a failed one revived; an add of a job that exists is a no-op). Answers how many it adopted.
   */
  async adoptPending(): Promise<number> {
    const first = !this.adoptedAll;
    const pending = first
      ? await this.ports.state.dueCleanups(Number.MAX_SAFE_INTEGER, ADOPT_AT_START_LIMIT)
      : await this.ports.state.dueCleanups(Date.now() - OVERDUE_GRACE_MS);
    const unwatched = pending.filter((d) => !this.timers.has(cleanupJobId(d.userId, d.epoch)));
    for (const d of unwatched) {
      const data = { userId: d.userId, epoch: d.epoch, runAt: nowIso(d.runAt), reason: d.reason };
      if (first) this.watch(data);
      else await this.schedule(data, { revive: true });
    }
    this.adoptedAll = true;
    if (unwatched.length === 0) return 0;
    if (first) this.logger.log(`watching ${unwatched.length} pending cleanup(s)`);
    else this.logger.warn(`re-queued ${unwatched.length} overdue cleanup(s)`);
    return unwatched.length;
  }

  onApplicationShutdown(): void {
    this.timers.clear();
  }
}
