import { Injectable, Logger } from '@nestjs/common';
import type { JetStreamManager } from '@nats-io/jetstream';
import { NatsService, errorText } from '#libs/nats/nats.service.js';
import { AUDIT_STREAM, PRESENCE_CONSUMER } from '#libs/nats/streams.js';
import { SessionSubjects } from '#libs/contracts/index.js';
import { Metrics } from '#libs/observability/metrics.js';

/** How often the consumer's progress is read while cleanups wait, and how long one may wait. */
const POLL_MS = 10;
export const BARRIER_MAX_WAIT_MS = 1000;

interface Waiter {
  userId: string;
  /** The stream sequence of the user's last join, stored before the cleanup came due, not yet applied. */
  seq?: number;
  /** Whether that join was looked up yet. */
  looked: boolean;
  since: number;
  resolve: () => void;
}

/**
 * A cleanup is due, but has presence applied the user's return? When presence is behind (a burst,
 * a GC pause, a slow Redis), a user's join can sit in JetStream while the cleanup runs first: the
 * manager would stop and start again although the user came back in time (guarantee 4). So a due
 * cleanup first checks the durable consumer: idle (nothing pending) means nothing can be waiting;
 * otherwise it looks up the user's last stored join and, if that join came before the cleanup was
 * due and lies beyond the consumer's acknowledged floor, waits until the floor passes it, or
 * BARRIER_MAX_WAIT_MS at most (a poison message must not hold cleanups forever). Only the user's
 * own join is waited for, so a backlog of other users' events costs a lookup, not the backlog.
 * One consumer-info poll serves every waiting cleanup.
 */
@Injectable()
export class SessionEventsBarrier {
  private readonly logger = new Logger('CleanupBarrier');
  private waiters: Waiter[] = [];
  private polling = false;
  private jsm?: JetStreamManager;

  constructor(
    private readonly nats: NatsService,
    private readonly metrics: Metrics,
  ) {}

  /** Resolves once every session event stored before now has been applied (or after the cap). */
  caughtUp(userId: string): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push({ userId, looked: false, since: Date.now(), resolve });
      if (!this.polling) void this.poll();
    });
  }

  private async poll() {
    this.polling = true;
    try {
      while (this.waiters.length > 0) {
        await this.round().catch((err: unknown) => {
          // Cannot tell (NATS away): do not hold cleanups on it.
          this.logger.debug(`cannot read the consumer's progress: ${errorText(err)}`);
          this.release(() => true, 'unknown');
        });
        if (this.waiters.length > 0) await new Promise((r) => setTimeout(r, POLL_MS));
      }
    } finally {
      this.polling = false;
    }
  }

  private async round() {
    const jsm = (this.jsm ??= await this.nats.jsm());
    const c = await jsm.consumers.info(AUDIT_STREAM, PRESENCE_CONSUMER);
    const idle = c.num_pending === 0 && c.num_ack_pending === 0;
    if (!idle) {
      await Promise.all(
        this.waiters
          .filter((w) => !w.looked)
          .map(async (w) => {
            w.looked = true;
            const last = await this.lastJoin(jsm, w.userId);
            // A join stored after the cleanup came due does not cancel it; one already applied is done.
            if (last && last.time.getTime() <= w.since && last.seq > c.ack_floor.stream_seq) w.seq = last.seq;
          }),
      );
    }
    this.release((w) => idle || (w.looked && (w.seq === undefined || c.ack_floor.stream_seq >= w.seq)), 'applied');
    const now = Date.now();
    this.release((w) => now - w.since >= BARRIER_MAX_WAIT_MS, 'timeout');
  }

  /** Direct get: served by the stream itself, not queued behind the JetStream API (10,000 at once, in a burst). */
  private noDirect = false;
  private async lastJoin(jsm: JetStreamManager, userId: string) {
    const query = { last_by_subj: SessionSubjects.joined(userId) };
    if (!this.noDirect) {
      try {
        return await jsm.direct.getMessage(AUDIT_STREAM, query);
      } catch (err) {
        // Nobody answers direct gets: a server without them. Any other failure: as before, no join known.
        if (!/no responders|503/i.test((err as Error).message)) return null;
        this.noDirect = true;
        this.logger.warn(`direct get unavailable (${(err as Error).message}); looking joins up through the JetStream API`);
      }
    }
    return jsm.streams.getMessage(AUDIT_STREAM, query).catch(() => null);
  }

  private release(pred: (w: Waiter) => boolean, outcome: string) {
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (!pred(w)) {
        keep.push(w);
        continue;
      }
      this.metrics.cleanupBarrierWait.observe({ outcome }, (Date.now() - w.since) / 1000);
      w.resolve();
    }
    if (outcome === 'timeout' && keep.length < this.waiters.length) {
      this.logger.warn(`${this.waiters.length - keep.length} cleanup(s) ran after waiting ${BARRIER_MAX_WAIT_MS} ms for presence to catch up with session events`);
    }
    this.waiters = keep;
  }
}
