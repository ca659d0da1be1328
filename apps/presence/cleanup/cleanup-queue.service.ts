import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { createRedis, redisKeys } from '#libs/redis/index.js';
import { CLEANUP_QUEUE, cleanupJobId, cleanupJobName, type CleanupJobData } from '#libs/contracts/index.js';

/** Past this, a job that starts early is put back; under it, it just waits. */
const EARLY_DEFER_MS = 20;

/** `timer`: this replica's in-process timer at runAt; `job`: BullMQ's delayed job (the safety net). */
export type CleanupSource = 'timer' | 'job';
export type CleanupProcessor = (data: CleanupJobData, source: CleanupSource) => Promise<{ outcome: string }>;

/** How much later than its time the BullMQ job of a cleanup fires: it is only the safety net. */
export const FALLBACK_DELAY_MS = 1000;

/**
 * The BullMQ side of cleanups: one delayed job per pending cleanup, visible on the board.
 * The replica that scheduled a cleanup runs it itself from an in-process timer at runAt: going
 * through BullMQ first (promote, wake a worker, move to active, complete) costs several Redis round
 * trips per cleanup, and with thousands of users leaving at once that queue was the lateness. The
 * job fires FALLBACK_DELAY_MS after runAt, so it runs only when that replica died (or its run
 * failed): the timer's run removes it. Completing it as a record instead cost Redis more than every
 * other step of a leave together (BullMQ's moveToFinished with the fetch of the next job: 473 µs a
 * cleanup, against 29 µs for a removal); the stream keeps `presence.user.<u>.offline` as the record.
 * So the board's Completed list holds the cleanups the safety net ran. A restarted replica re-arms
 * timers for every pending cleanup (`watch`), so a quick restart does not make one late by the delay.
 */
@Injectable()
export class CleanupQueueService implements OnApplicationShutdown {
  private readonly logger = new Logger('CleanupQueue');
  readonly queue: Queue<CleanupJobData>;
  private worker?: Worker<CleanupJobData>;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Cleanups whose timer fired and whose run here has not finished. */
  private readonly running = new Set<string>();
  private readonly prefix: string;
  private processor?: CleanupProcessor;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.prefix = redisKeys(config.redisPrefix).bullPrefix;
    this.queue = new Queue<CleanupJobData>(CLEANUP_QUEUE, {
      // Adds and removes come in bursts too (see REDIS in CoreModule); the worker's connection blocks, so not there.
      connection: createRedis(config.redisUrl, `presence:${config.instanceId}:queue`, { enableAutoPipelining: true }),
      prefix: this.prefix,
    });
    this.queue.on('error', (err) => this.logger.warn(`queue: ${err.message}`));
  }

  startWorker(processor: CleanupProcessor) {
    this.processor = processor;
    this.worker = new Worker<CleanupJobData>(CLEANUP_QUEUE, (job: Job<CleanupJobData>, token?: string) => this.process(job, processor, token), {
      connection: createRedis(this.config.redisUrl, `presence:${this.config.instanceId}:worker`),
      prefix: this.prefix,
      concurrency: 200,
    });
    this.worker.on('error', (err) => this.logger.warn(`worker: ${err.message}`));
    this.worker.on('failed', (job, err) => this.logger.error(`cleanup ${job?.id} failed: ${err.message}`));
  }

  /**
   * Guarantee 3 says never earlier: a job promoted by hand on the board (or by anything else)
   * before its time goes back to waiting until runAt instead of stopping the manager early.
   */
  private async process(job: Job<CleanupJobData>, processor: CleanupProcessor, token?: string) {
    const early = Date.parse(job.data.runAt) - Date.now();
    if (early > EARLY_DEFER_MS) {
      this.logger.log(`cleanup ${job.id} ran ${early} ms before its time: delayed until ${job.data.runAt}`);
      await job.moveToDelayed(Date.parse(job.data.runAt), token);
      throw new DelayedError();
    }
    // Clocks of two replicas, or a timer firing on another clock, can be a few ms apart.
    if (early > 0) await new Promise((r) => setTimeout(r, early));
    return processor(job.data, 'job');
  }

  /**
   * Idempotent: the job id carries the epoch, so a repeated schedule adds nothing. With `revive`
   * (the overdue sweep), a job that failed all its attempts is retried: an add under its id would
   * otherwise be ignored for as long as BullMQ keeps the failed job.
   */
  async schedule(data: CleanupJobData, opts: { revive?: boolean } = {}): Promise<void> {
    const runAt = Date.parse(data.runAt);
    const id = cleanupJobId(data.userId, data.epoch);
    if (opts.revive) {
      const existing = await this.queue.getJob(id);
      if (existing && (await existing.isFailed())) {
        this.logger.warn(`cleanup ${id} had failed every attempt: retrying it`);
        await existing.retry('failed');
        return;
      }
    }
    await this.queue.add(cleanupJobName(data.userId), data, {
      jobId: id,
      delay: Math.max(0, runAt - Date.now()) + FALLBACK_DELAY_MS,
      attempts: 5,
      backoff: { type: 'exponential', delay: 200 },
      removeOnComplete: { age: 24 * 3600, count: 1000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 1000 },
    });
    this.arm(id, data, runAt);
  }

  /** The fast path of a return; the epoch check in the cleanup is what makes it safe. */
  async cancel(userId: string, epoch: number): Promise<void> {
    const id = cleanupJobId(userId, epoch);
    this.disarm(id);
    await this.queue.remove(id).catch((err: Error) => this.logger.debug(`remove ${id}: ${err.message}`));
  }

  private arm(id: string, data: CleanupJobData, runAt: number) {
    this.disarm(id);
    const timer = setTimeout(() => {
      // Node's timers may fire a millisecond before Date.now() reaches runAt: never run early.
      if (Date.now() < runAt) return this.arm(id, data, runAt);
      this.timers.delete(id);
      this.running.add(id);
      void this.runDue(id, data).finally(() => this.running.delete(id));
    }, Math.max(0, runAt - Date.now()));
    timer.unref();
    this.timers.set(id, timer);
  }

  private disarm(id: string) {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
  }

  /** Whether this replica's timer runs the cleanup: armed, or fired and still running it. */
  isWatched(userId: string, epoch: number): boolean {
    const id = cleanupJobId(userId, epoch);
    return this.timers.has(id) || this.running.has(id);
  }

  /** Arms the in-process timer of a cleanup whose job exists already (pending at our start). */
  watch(data: CleanupJobData) {
    this.arm(cleanupJobId(data.userId, data.epoch), data, Date.parse(data.runAt));
  }

  /** The cleanup at its time, here; then its job has nothing left to do. On failure, BullMQ retries it. */
  private async runDue(id: string, data: CleanupJobData) {
    if (!this.processor) return this.promote(id);
    try {
      await this.processor(data, 'timer');
    } catch (err) {
      this.logger.warn(`cleanup ${id} failed here (${(err as Error).message}); BullMQ retries it`);
      return this.promote(id);
    }
    // Whatever it found (offline now, or stale: the user came back), the question is settled. A job
    // BullMQ has taken already (this run was over FALLBACK_DELAY_MS late) is locked: it finishes as done.
    await this.queue.remove(id).catch((err: Error) => this.logger.debug(`remove ${id}: ${err.message}`));
  }

  private async promote(id: string) {
    try {
      const job = await this.queue.getJob(id);
      if (job && (await job.isDelayed())) await job.promote();
    } catch {
      // Already running or gone: BullMQ got there first, which is fine.
    }
  }

  async onApplicationShutdown() {
    for (const t of this.timers.values()) clearTimeout(t);
    await this.worker?.close();
    await this.queue.close();
  }
}
