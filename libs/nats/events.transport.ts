import { Logger } from '@nestjs/common';
import { Server, type CustomTransportStrategy } from '@nestjs/microservices';
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { z } from 'zod';
import { userIdFromSubject } from '#libs/contracts/index.js';
import { errorText, NatsService } from './nats.service.js';
import { PRESENCE_ACK_WAIT_MS } from './streams.js';
import { KeyedSerial } from '#libs/concurrency/keyed-serial.js';
import { printable } from '#libs/observability/printable.js';


/** The longest wait before a failed session event is delivered again (the back-off grows 200 ms a try up to it). */
export const MAX_REDELIVERY_DELAY_MS = 5000;
/** Extras of an @EventPattern handled by this transport. */
export interface SubjectHandlerExtras {
  schema: z.ZodType;
  /** Payload userId must equal the subject's user token. */
  matchSubjectUser?: boolean;
}

export interface EventsTransportOptions {
  /** Durable JetStream consumer to read (at-least-once); handlers without it get core NATS. */
  stream?: string;
  durable?: string;
  /** Core subscriptions' queue group; none means every instance sees every message. */
  queue?: string;
}

/**
 * Events handled at once: each waits on Redis a few times, so a few in flight leave the CPU idle
 * while a burst queues, and all of a pull at once only share a saturated CPU and all finish late.
 * This value drained a mass leave fastest (docs/BENCHMARKS.md).
 */
const EVENT_CONCURRENCY = 256;

/** NATS subject match with `*` and `>` wildcards. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

/**
 * A NestJS microservice transport over NATS that speaks the contract's plain JSON: handlers are
 * found by @EventPattern(subjectPattern, { schema }), payloads are validated before they run, and
 * a bad message is logged with its subject and dropped. With a durable consumer, a message is
 * acknowledged only after its handler finished, so a crash redelivers it (handlers are idempotent).
 */
export class NatsEventsTransport extends Server implements CustomTransportStrategy {
  protected override readonly logger = new Logger('NatsEvents');
  private consumerMessages?: ConsumerMessages;
  /** One user's messages are handled in order; different users' in parallel, EVENT_CONCURRENCY at most. */
  private readonly perUser = new KeyedSerial((_user, err) => this.logger.error(errorText(err)), EVENT_CONCURRENCY);
  private closed = false;
  /**
   * Durable deliveries taken and not yet acknowledged, with when their ack deadline last restarted
   * (taken, or the last `working()`): kept alive while queued.
   */
  private readonly unacked = new Map<JsMsg, number>();
  private workingTimer?: NodeJS.Timeout;

  constructor(
    private readonly nats: NatsService,
    private readonly options: EventsTransportOptions = {},
  ) {
    super();
  }

  listen(callback: (...args: unknown[]) => unknown) {
    const patterns = [...this.messageHandlers.keys()];
    if (this.options.durable) {
      // Only deliveries whose deadline restarted half a tick ago or more: in a mass leave many of
      // the 2,000 taken are acknowledged within that, and a `working()` for each of them every tick
      // was a message each. The worst case keeps 1.5 s of the 3 s ack wait in hand.
      const every = PRESENCE_ACK_WAIT_MS / 3;
      this.workingTimer = setInterval(() => {
        const now = Date.now();
        for (const [m, since] of this.unacked) {
          if (now - since < every / 2) continue;
          m.working();
          this.unacked.set(m, now);
        }
      }, every);
      this.workingTimer.unref();
      void this.consumeDurable(patterns).catch((err: unknown) => this.logger.error(`consumer stopped: ${errorText(err)}`));
    } else {
      for (const pattern of patterns) {
        this.nats.nc.subscribe(pattern, {
          queue: this.options.queue,
          callback: (err, msg) => {
            if (err) return this.logger.error(`subscription ${pattern}: ${err.message}`);
            this.enqueue(msg.subject, () => this.dispatch(pattern, msg.subject, msg.data));
          },
        });
      }
    }
    callback();
  }

  private async consumeDurable(patterns: string[]) {
    const { stream, durable } = this.options;
    // The consumer survives restarts of this process and of NATS; re-attach whenever it ends.
    while (!this.closed) {
      try {
        const consumer = await this.nats.js.consumers.get(stream!, durable!);
        // Short pulls: a replica killed with -9 leaves its pending pull behind on the server, and
        // what the server hands to it waits the ack wait before it goes to a live replica. Large
        // batches (up to max_ack_pending): handlers wait on Redis, so many users must have work queued.
        this.consumerMessages = await consumer.consume({ max_messages: 2000, expires: 2000 });
        for await (const m of this.consumerMessages) {
          const pattern = patterns.find((p) => subjectMatches(p, m.subject));
          if (!pattern) {
            m.term();
            continue;
          }
          this.unacked.set(m, Date.now());
          this.enqueue(m.subject, () => this.handleDurable(pattern, m));
        }
      } catch (err) {
        if (this.closed) return;
        this.logger.warn(`durable consumer ${durable} interrupted (${(err as Error).message}); re-attaching`);
      }
      if (!this.closed) await new Promise((r) => setTimeout(r, 500));
    }
  }

  private async handleDurable(pattern: string, m: JsMsg) {
    try {
      await this.dispatch(pattern, m.subject, m.data, true);
      m.ack();
    } catch (err) {
      // Retried for as long as it fails (a back end away fails every event it holds): said at the
      // 1st, 2nd, 4th, 8th... delivery rather than at each one.
      const n = m.info.deliveryCount;
      if ((n & (n - 1)) === 0) this.logger.error(`handler for ${m.subject} failed (delivery ${n}), will retry: ${errorText(err)}`);
      m.nak(Math.min(200 * n, MAX_REDELIVERY_DELAY_MS));
    } finally {
      this.unacked.delete(m);
    }
  }

  /** Keeps one user's messages (or, without a user, one subject's) in order, nothing else. */
  private enqueue(subject: string, work: () => Promise<void>) {
    const kind = subject.slice(subject.lastIndexOf('.') + 1);
    const queuedAt = performance.now();
    const { eventWait, eventHandle } = this.nats.metrics;
    const timed = async () => {
      const start = performance.now();
      eventWait.observe({ kind }, (start - queuedAt) / 1000);
      try {
        await work();
      } finally {
        eventHandle.observe({ kind }, (performance.now() - start) / 1000);
      }
    };
    void this.perUser.run(userIdFromSubject(subject) ?? subject, timed);
  }

  /** Validates and runs the handler. Throws only when the handler threw and `rethrow` is set. */
  private async dispatch(pattern: string, subject: string, data: Uint8Array, rethrow = false) {
    const handler = this.messageHandlers.get(pattern);
    if (!handler) return;
    const extras = handler.extras as SubjectHandlerExtras | undefined;
    if (!extras?.schema) throw new Error(`@EventPattern('${pattern}') has no schema`);
    const payload = this.nats.validate(extras.schema, subject, data, extras.matchSubjectUser ?? true);
    if (payload === undefined) return;
    try {
      const result = await handler(payload, { subject });
      if (result && typeof (result as { subscribe?: unknown }).subscribe === 'function') {
        await new Promise<void>((resolve, reject) =>
          (result as { subscribe: (o: object) => void }).subscribe({ complete: resolve, error: reject }),
        );
      }
    } catch (err) {
      if (rethrow) throw err;
      this.logger.error(`handler for ${printable(subject)} failed: ${errorText(err)}`);
    }
  }

  async close() {
    this.closed = true;
    clearInterval(this.workingTimer);
    await this.consumerMessages?.close();
    await this.perUser.idle();
  }

  on() {
    throw new Error('NatsEventsTransport has no events');
  }

  unwrap<T>(): T {
    return this.nats.nc as T;
  }
}
