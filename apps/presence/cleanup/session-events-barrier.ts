import { Injectable, Logger } from '@nestjs/common';
import type { JetStreamManager } from '@nats-io/jetstream';
import { NatsService, errorText } from '#libs/nats/nats.service.js';
import { AUDIT_STREAM, PRESENCE_CONSUMER } from '#libs/nats/streams.js';
import { Metrics } from '#libs/observability/metrics.js';

/** How often the consumer's progress is read while cleanups wait, and how long one may wait. */
const POLL_MS = 10;
export const BARRIER_MAX_WAIT_MS = 1000;

interface Waiter {
  /** The stream's last sequence when the cleanup came due: every event stored before then. */
  seq?: number;
  since: number;
  resolve: () => void;
}

/**
 * A cleanup is due, but is every session event stored before its time applied? When presence is
 * behind (a burst, a GC pause, a slow Redis), a user's return can sit in JetStream while the
 * cleanup runs first: the manager would stop and start again although the user came back in
 * time (guarantee 4). So a due cleanup first waits until the durable consumer has acknowledged
 * everything stored up to the moment it came due, or BARRIER_MAX_WAIT_MS at most (a poison message
 * must not hold cleanups forever; the overdue sweep and the return's own join still converge).
 * One poll serves every waiting cleanup: two JetStream API calls per POLL_MS, whatever their count.
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
  caughtUp(): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push({ since: Date.now(), resolve });
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
    this.jsm ??= await this.nats.jsm();
    const fresh = this.waiters.filter((w) => w.seq === undefined);
    if (fresh.length > 0) {
      const stream = await this.jsm.streams.info(AUDIT_STREAM);
      for (const w of fresh) w.seq = stream.state.last_seq;
    }
    const c = await this.jsm.consumers.info(AUDIT_STREAM, PRESENCE_CONSUMER);
    const idle = c.num_pending === 0 && c.num_ack_pending === 0;
    this.release((w) => idle || c.ack_floor.stream_seq >= (w.seq ?? Infinity), 'applied');
    const now = Date.now();
    this.release((w) => now - w.since >= BARRIER_MAX_WAIT_MS, 'timeout');
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
