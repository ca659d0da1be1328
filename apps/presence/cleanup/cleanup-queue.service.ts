import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { createRedis, redisKeys } from '#libs/redis/index.js';
import { CLEANUP_QUEUE, cleanupJobId, cleanupJobName, type CleanupJobData } from '#libs/contracts/index.js';

/**
 * How much later than its time the BullMQ job of a cleanup fires. The job is only the safety net
 * of the replica's in-process timer (see Cleanups): it must not race that timer, yet it must run
 * soon after a replica that died with the cleanup armed.
 */
export const FALLBACK_DELAY_MS = 1000;

/**
 * What a job's processor answers: the cleanup's outcome, or `early`: the job started before its
 * cleanup's time and did not run it (Cleanups decides that), so it goes back to waiting.
 */
export type JobOutcome = { outcome: string } | 'early';

/**
 * The BullMQ side of cleanups (the technology behind Cleanups): one delayed job per pending
 * cleanup, visible on the board. A job that has done its work is removed rather than completed:
 * completing it costs Redis far more than a removal, and the stream keeps
 * `presence.user.<u>.offline` as the record. So the board's Completed list holds the cleanups the
 * safety net ran.
 */
@Injectable()
export class CleanupQueueService implements OnApplicationShutdown {
  private readonly logger = new Logger('CleanupQueue');
  readonly queue: Queue<CleanupJobData>;
  private worker?: Worker<CleanupJobData>;
  private readonly prefix: string;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.prefix = redisKeys(config.redisPrefix).bullPrefix;
    this.queue = new Queue<CleanupJobData>(CLEANUP_QUEUE, {
      // Adds and removes come in bursts too (see REDIS in CoreModule); the worker's connection blocks, so not there.
      connection: createRedis(config.redisUrl, `presence:${config.instanceId}:queue`, { enableAutoPipelining: true }),
      prefix: this.prefix,
    });
    this.queue.on('error', (err) => this.logger.warn(`queue: ${err.message}`));
  }

  /** Runs `processor` for every job that comes due. */
  startWorker(processor: (data: CleanupJobData) => Promise<JobOutcome>) {
    this.worker = new Worker<CleanupJobData>(CLEANUP_QUEUE, (job: Job<CleanupJobData>, token?: string) => this.process(job, processor, token), {
      connection: createRedis(this.config.redisUrl, `presence:${this.config.instanceId}:worker`),
      prefix: this.prefix,
      concurrency: 200,
    });
    this.worker.on('error', (err) => this.logger.warn(`worker: ${err.message}`));
    this.worker.on('failed', (job, err) => this.logger.error(`cleanup ${job?.id} failed: ${err.message}`));
  }

  /**
   * An early job goes back to delayed, FALLBACK_DELAY_MS after its cleanup's time as when it was
   * added: still the safety net, should the replica that now watches it die. On the board it shows
   * as delayed again, not as completed nor failed.
   */
  private async process(job: Job<CleanupJobData>, processor: (data: CleanupJobData) => Promise<JobOutcome>, token?: string) {
    const result = await processor(job.data);
    if (result !== 'early') return result;
    await job.moveToDelayed(Date.parse(job.data.runAt) + FALLBACK_DELAY_MS, token);
    throw new DelayedError();
  }

  /**
   * Idempotent: the job id carries the epoch, so a repeated add adds nothing. With `revive`
   * (a lost cleanup adopted), a job that failed all its attempts is retried: an add under its id would
   * otherwise be ignored for as long as BullMQ keeps the failed job. Answers false when it did
   * that instead of an add: BullMQ runs the job now.
   */
  async add(data: CleanupJobData, opts: { revive?: boolean } = {}): Promise<boolean> {
    const id = cleanupJobId(data.userId, data.epoch);
    if (opts.revive) {
      const existing = await this.queue.getJob(id);
      if (existing && (await existing.isFailed())) {
        this.logger.warn(`cleanup ${id} had failed every attempt: retrying it`);
        await existing.retry('failed');
        return false;
      }
    }
    await this.queue.add(cleanupJobName(data.userId), data, {
      jobId: id,
      delay: Math.max(0, Date.parse(data.runAt) - Date.now()) + FALLBACK_DELAY_MS,
      attempts: 5,
      backoff: { type: 'exponential', delay: 200 },
      removeOnComplete: { age: 24 * 3600, count: 1000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 1000 },
    });
    return true;
  }

  /** A job BullMQ has taken already is locked: it finishes as done. */
  async remove(id: string): Promise<void> {
    await this.queue.remove(id).catch((err: Error) => this.logger.debug(`remove ${id}: ${err.message}`));
  }

  /** Runs a delayed job now (its timer's run failed here): BullMQ then retries it with back-off. */
  async promote(id: string): Promise<void> {
    try {
      const job = await this.queue.getJob(id);
      if (job && (await job.isDelayed())) await job.promote();
    } catch {
      // Already running or gone: BullMQ got there first, which is fine.
    }
  }

  async onApplicationShutdown() {
    await this.worker?.close();
    await this.queue.close();
  }
}
