import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { Fifo } from './fifo.js';
import { readAck, RetryReport } from './jetstream-ack.js';

export interface DurablePublisherOptions {
  /** A publish not acknowledged this long is sent again (the message id makes the repeat harmless)... */
  timeoutMs?: number;
  /**
   * ...unless acks of other publishes arrived within that time: JetStream is then working through
   * a backlog in order, and a repeat would only add to it. Such a publish is sent again after this.
   */
  maxWaitMs?: number;
  /** Publishes awaiting JetStream's ack at once; the rest wait their turn, in order. */
  maxInFlight?: number;
  /**
   * Told about publishes that failed (each one's first failure, then every 20th), once per turn of
   * the loop and reason: `count` of them, `subject` one example. To log them without a line each.
   */
  onRetry?: (subject: string, why: string, attempt: number, count: number) => void;
}

interface Pending {
  subject: string;
  body: string;
  msgId: string;
  attempt: number;
  sentAt: number;
  /** Seen past its deadline by one sweep: the next sweep retries it if its ack still has not come. */
  overdue: boolean;
  retryAt: number;
  /** The stream sequence it was stored under; null: not stored (the connection closed). */
  resolve: (seq: number | null) => void;
}

const SWEEP_MS = 100;
const MAX_BACKOFF_MS = 2000;
const DEFAULT_MAX_WAIT_MS = 20_000;
/** Publishes sent in one write at most, and how long one may wait for its batch (see pumpSoon). */
const BATCH = 256;
const BATCH_WAIT_MS = 10;

/**
 * Publishes to JetStream and resolves once the stream stored the message, retrying until it does.
 *
 * One inbox subscription takes every ack, matched by the reply token, and one sweep times out the
 * publishes whose ack is late. `js.publish` instead makes a request per message, each with its own
 * timer and a pre-built error with a stack trace. That cost adds up when a gateway closes 10,000
 * sockets at once, and worse, if the loop is blocked for longer than the timeout while those closes
 * are handled, every timer fires before the acks, which are already waiting in the socket, are read.
 * Here a publish counts as timed out only when two sweeps in a row find it overdue: the I/O that was
 * waiting at the first sweep has been read by the second.
 *
 * Nor is a publish sent again while acks of others keep coming: when 20,000 sessions close at once,
 * JetStream acknowledges them in order over seconds, and a repeat of every publish older than the
 * timeout doubles the work of a server that is already behind (each repeat is stored once more as
 * a duplicate to drop). A publish that no ack
 * overtakes for `timeoutMs`, or that waited `maxWaitMs` whatever happens, is sent again; so is
 * everything in flight when the connection comes back (`resend`), as it may have died with the
 * old socket.
 */
export class DurablePublisher {
  private readonly inbox: string;
  private sub?: Subscription;
  private readonly inFlight = new Map<string, Pending>();
  /** Not sent yet, in order. */
  private readonly waiting = new Fifo<Pending>();
  private readonly backingOff = new Set<Pending>();
  private nextToken = 0;
  private sweeper?: NodeJS.Timeout;
  private readonly timeoutMs: number;
  private readonly maxWaitMs: number;
  private readonly maxInFlight: number;
  /** When the last ack (or error answer) arrived: JetStream is alive and working through what we sent. */
  private lastAckAt = 0;
  private readonly retries: RetryReport;
  /** Set while the app shuts down: a publish then gives up after a few attempts. */
  closing = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: DurablePublisherOptions = {},
  ) {
    // Under the connection's own inbox prefix (a role may subscribe to its own inboxes only).
    this.inbox = createInbox((nc as unknown as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.maxWaitMs = Math.max(this.timeoutMs, opts.maxWaitMs ?? DEFAULT_MAX_WAIT_MS);
    this.maxInFlight = opts.maxInFlight ?? 10_000;
    this.retries = new RetryReport(opts.onRetry);
  }

  /** Resolves true once stored (or found a duplicate of one stored), false if the connection closed. */
  publish(subject: string, body: string, msgId: string): Promise<boolean> {
    return this.publishStored(subject, body, msgId).then((seq) => seq !== null);
  }

  /** As publish(), answering the stream sequence it is stored under (a duplicate's: the original's), or null. */
  publishStored(subject: string, body: string, msgId: string): Promise<number | null> {
    if (this.nc.isClosed()) return Promise.resolve(null);
    this.subscribe();
    // Only while something is pending: an idle gateway should not wake up ten times a second.
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
      this.sweeper.unref();
    }
    return new Promise((resolve) => {
      this.waiting.push({ subject, body, msgId, attempt: 0, sentAt: 0, overdue: false, retryAt: 0, resolve });
      // A full batch, or one that has waited long enough, leaves now (see pumpSoon).
      if (this.waiting.size >= BATCH || (this.pumpScheduled && Date.now() - this.pumpScheduledAt >= BATCH_WAIT_MS)) {
        this.pump();
        // The next batch waits its own BATCH_WAIT_MS, not one write per publish from now on.
        this.pumpScheduledAt = Date.now();
      } else this.pumpSoon();
    });
  }

  /**
   * Sends what waits once the current I/O callbacks are done, not at once: when a gateway handles
   * a thousand socket closes in one turn of the loop, their publishes leave in a few writes instead
   * of one write (and one read at the server) each. But a turn that handles a mass close can last
   * seconds, and publishes held to its end would be seconds late (a leave's `at` starts its grace),
   * so a batch of BATCH, or one older than BATCH_WAIT_MS, is sent at once.
   */
  private pumpSoon() {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    this.pumpScheduledAt = Date.now();
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }
  private pumpScheduled = false;
  private pumpScheduledAt = 0;

  /** Publishes waiting for a slot or an ack. */
  get pending(): number {
    return this.inFlight.size + this.waiting.size + this.backingOff.size;
  }

  private subscribe() {
    this.sub ??= this.nc.subscribe(`${this.inbox}.*`, {
      callback: (err, msg) => {
        if (!err) this.acked(msg);
      },
    });
  }

  private pump() {
    while (this.inFlight.size < this.maxInFlight) {
      const p = this.waiting.take();
      if (!p) break;
      if (this.nc.isClosed()) {
        p.resolve(null);
        continue;
      }
      const token = String(this.nextToken++);
      const h = headers();
      h.set('Nats-Msg-Id', p.msgId);
      p.sentAt = Date.now();
      p.overdue = false;
      this.inFlight.set(token, p);
      try {
        this.nc.publish(p.subject, p.body, { reply: `${this.inbox}.${token}`, headers: h });
      } catch (err) {
        this.inFlight.delete(token);
        this.failed(p, (err as Error).message);
      }
    }
  }

  private acked(msg: Msg) {
    this.lastAckAt = Date.now();
    const token = msg.subject.slice(this.inbox.length + 1);
    const p = this.inFlight.get(token);
    if (!p) return; // a late ack of a publish already retried: the retry's own ack settles it
    this.inFlight.delete(token);
    const ack = readAck(msg);
    if ('error' in ack) this.failed(p, ack.error);
    else p.resolve(ack.seq);
    if (this.waiting.size > 0) this.pumpSoon();
  }

  private failed(p: Pending, why: string) {
    if (this.nc.isClosed() || (this.closing && p.attempt >= 2)) return p.resolve(null);
    if (p.attempt === 0 || p.attempt % 20 === 0) this.retries.note(p.subject, why, p.attempt);
    p.retryAt = Date.now() + Math.min(100 * 2 ** p.attempt, MAX_BACKOFF_MS);
    p.attempt++;
    this.backingOff.add(p);
  }

  /** The connection came back: what was in flight may have been lost with the old socket. Sent again now. */
  resend() {
    if (this.nc.isClosed() || this.inFlight.size === 0) return;
    // Ahead of what waits, in the order they were first sent (the map's order).
    this.waiting.pushFront(this.inFlight.values());
    this.inFlight.clear();
    this.pumpSoon();
  }

  private sweep() {
    const now = Date.now();
    if (this.nc.isClosed()) return this.closeAll();
    const acksFlowing = now - this.lastAckAt < this.timeoutMs;
    for (const [token, p] of this.inFlight) {
      const waited = now - p.sentAt;
      if (waited < this.timeoutMs || (acksFlowing && waited < this.maxWaitMs)) {
        p.overdue = false;
        continue;
      }
      if (!p.overdue) {
        p.overdue = true;
        continue;
      }
      this.inFlight.delete(token);
      this.failed(p, acksFlowing ? `no ack within ${this.maxWaitMs} ms` : `no ack within ${this.timeoutMs} ms`);
    }
    for (const p of this.backingOff) {
      if (p.retryAt > now) continue;
      this.backingOff.delete(p);
      this.waiting.push(p);
    }
    this.pump();
    if (this.pending === 0) this.stopSweeper();
  }

  private stopSweeper() {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  private closeAll() {
    for (const p of [...this.inFlight.values(), ...this.waiting.drain(), ...this.backingOff]) p.resolve(null);
    this.inFlight.clear();
    this.backingOff.clear();
    this.stopSweeper();
  }

  close() {
    this.closeAll();
    if (this.sub && !this.sub.isClosed()) this.sub.unsubscribe();
  }
}
