import { Injectable, Logger } from '@nestjs/common';
import type { JetStreamManager } from '@nats-io/jetstream';
import { NatsService, errorText } from '#libs/nats/nats.service.js';
import { AUDIT_STREAM, auditLastSeq, presenceProgress } from '#libs/nats/streams.js';
import { MAX_REDELIVERY_DELAY_MS } from '#libs/nats/events.transport.js';
import { SessionSubjects, userIdFromSubject } from '#libs/contracts/index.js';
import { Metrics } from '#libs/observability/metrics.js';

/** How often the consumer's progress is read while cleanups wait, and how long one may wait. */
const POLL_MS = 10;
export const BARRIER_MAX_WAIT_MS = 1000;
/**
 * How long a cleanup waits for a return that is known to be stored and not applied yet: after a
 * Redis outage, a failed join comes back only after its redelivery back-off, and running the
 * cleanup first stops a manager whose user came back. Past a few back-off steps the join is taken
 * for stuck (a message that fails forever must not keep a manager forever).
 */
export const PENDING_JOIN_MAX_WAIT_MS = 3 * MAX_REDELIVERY_DELAY_MS;
/**
 * From this many new waiters in one round, the joins stored past the ack floor are walked once for
 * all of them (at most WALK_MAX reads, one after another) instead of one lookup per waiter.
 */
export const WALK_FROM_WAITERS = 8;
const WALK_MAX = 16;

type StoredJoin = { seq: number; time: number };
const TOO_MANY = 'too many';

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
 * PENDING_JOIN_MAX_WAIT_MS at most (a poison message must not hold cleanups forever); a lookup
 * that does not answer holds it BARRIER_MAX_WAIT_MS at most. Only the user's
 * own join is waited for, so a backlog of other users' events costs a lookup, not the backlog.
 * One consumer-info poll serves every waiting cleanup. When many cleanups come due together (a
 * mass leave), one walk over the joins stored past the ack floor answers all of them: after a mass
 * leave there are none, and one read replaces a lookup per cleanup, each of which would wait for its
 * own answer from a NATS that is busiest exactly then.
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

  /**
   * Resolves once presence has applied every session event stored before the call, or after
   * BARRIER_MAX_WAIT_MS (a backlog must not hold a query forever), or at once when NATS cannot tell.
   * A snapshot read after it holds every session whose join was stored before it was asked for.
   */
  async storedApplied(): Promise<void> {
    const deadline = Date.now() + BARRIER_MAX_WAIT_MS;
    try {
      const jsm = (this.jsm ??= await this.nats.jsm());
      const last = await auditLastSeq(jsm);
      for (;;) {
        const { floor, idle } = await presenceProgress(jsm);
        // The floor stops short of `last` when the newest messages are not session events: idle then.
        if (floor >= last || idle) return;
        if (Date.now() >= deadline) {
          this.logger.warn(`answering with state that may miss session events: presence is still applying those stored before the request after ${BARRIER_MAX_WAIT_MS} ms`);
          return;
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    } catch (err) {
      this.logger.debug(`cannot read the consumer's progress: ${errorText(err)}`);
    }
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
        // Cleanups that came due during the round are looked at at once; the rest wait for the floor to move.
        if (this.waiters.length > 0 && this.waiters.every((w) => w.looked)) await new Promise((r) => setTimeout(r, POLL_MS));
      }
    } finally {
      this.polling = false;
    }
  }

  private async round() {
    const jsm = (this.jsm ??= await this.nats.jsm());
    const { floor, idle } = await presenceProgress(jsm);
    if (!idle) {
      const fresh = this.waiters.filter((w) => !w.looked);
      const walked = fresh.length >= WALK_FROM_WAITERS ? await this.joinsPast(jsm, floor, SessionSubjects.anyJoined, 'walk') : undefined;
      await Promise.all(
        fresh.map(async (w) => {
          w.looked = true;
          // A join stored after the cleanup came due does not cancel it; one already applied is done.
          const joins = walked instanceof Map ? walked : await this.joinsPast(jsm, floor, SessionSubjects.joined(w.userId), 'user');
          if (joins instanceof Map) {
            w.seq = lastBefore(joins.get(w.userId), w.since);
          } else if (joins === TOO_MANY) {
            // More of this user's joins past the floor than a walk reads: wait for the last, if it came before.
            const last = await this.lastJoin(jsm, w.userId);
            if (last && last.time.getTime() <= w.since && last.seq > floor) w.seq = last.seq;
          }
          // Otherwise the stream cannot tell: the cleanup is not held on it.
        }),
      );
    }
    this.release((w) => idle || (w.looked && (w.seq === undefined || floor >= w.seq)), 'applied');
    const now = Date.now();
    this.release((w) => now - w.since >= (w.seq === undefined ? BARRIER_MAX_WAIT_MS : PENDING_JOIN_MAX_WAIT_MS), 'timeout');
  }

  /**
   * Every join on `subject` (every user's, or one user's) stored past the consumer's ack floor, by
   * user: each may still be unapplied. TOO_MANY past WALK_MAX of them; undefined when the stream
   * cannot tell.
   */
  private async joinsPast(jsm: JetStreamManager, floor: number, subject: string, kind: 'walk' | 'user'): Promise<Map<string, StoredJoin[]> | typeof TOO_MANY | undefined> {
    const joins = new Map<string, StoredJoin[]>();
    let seq = floor + 1;
    for (let n = 0; n <= WALK_MAX; n++) {
      this.metrics.cleanupBarrierLookups.inc({ kind });
      const m = await this.read(jsm, { next_by_subj: subject, seq });
      if (m === undefined) return undefined;
      if (m === null) return joins;
      const userId = userIdFromSubject(m.subject);
      if (userId) {
        const list = joins.get(userId) ?? [];
        list.push({ seq: m.seq, time: m.time.getTime() });
        joins.set(userId, list);
      }
      seq = m.seq + 1;
    }
    return TOO_MANY;
  }

  private lastJoin(jsm: JetStreamManager, userId: string) {
    this.metrics.cleanupBarrierLookups.inc({ kind: 'user' });
    return this.read(jsm, { last_by_subj: SessionSubjects.joined(userId) }).then((m) => m ?? null);
  }

  /**
   * One stored message; null: there is none; undefined: the stream cannot tell (a cleanup is then
   * not held on it). Direct get: served by the stream itself, not queued behind the JetStream API
   * (10,000 at once, in a burst); the API when nobody answers direct gets.
   */
  private noDirect = false;
  private async read(jsm: JetStreamManager, query: { next_by_subj: string; seq: number } | { last_by_subj: string }) {
    if (!this.noDirect) {
      try {
        return await jsm.direct.getMessage(AUDIT_STREAM, query);
      } catch (err) {
        if (!/no responders|503/i.test((err as Error).message)) return undefined;
        this.noDirect = true;
        this.logger.warn(`direct get unavailable (${(err as Error).message}); looking joins up through the JetStream API`);
      }
    }
    return jsm.streams.getMessage(AUDIT_STREAM, query).catch(() => undefined);
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
      this.logger.warn(`${this.waiters.length - keep.length} cleanup(s) ran without their user's stored join applied: it did not come within ${PENDING_JOIN_MAX_WAIT_MS} ms`);
    }
    this.waiters = keep;
  }
}

/** The last of a user's joins stored before `since` (ms), if any: the one a cleanup due then waits for. */
function lastBefore(joins: StoredJoin[] | undefined, since: number): number | undefined {
  let seq: number | undefined;
  for (const j of joins ?? []) if (j.time <= since && (seq === undefined || j.seq > seq)) seq = j.seq;
  return seq;
}
