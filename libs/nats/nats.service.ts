import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { z } from 'zod';
import { eventSubject, parseMessage, userIdFromSubject, type DurableEventKind, type EventKind, type EventPayload } from '#libs/contracts/index.js';
import { Metrics } from '#libs/observability/metrics.js';
import { DurablePublisher } from './durable-publisher.js';
import { printable } from '#libs/observability/printable.js';

export const NATS_CONNECTION = Symbol('NATS_CONNECTION');

/** A schema and the handler of the messages it validates. */
export interface SubjectRoute {
  schema: z.ZodType;
  handle: (payload: unknown, subject: string, reply?: string) => unknown;
}

/** Pairs a schema with its handler, keeping the payload's type for the handler. */
export function route<S extends z.ZodType>(schema: S, handle: (payload: z.infer<S>, subject: string, reply?: string) => unknown): SubjectRoute {
  return { schema, handle: handle as SubjectRoute['handle'] };
}

export interface SubscribeOptions {
  queue?: string;
  /** Check that the payload's userId is the one in the subject (presence.session.<userId>.x). */
  matchSubjectUser?: boolean;
}

/**
 * The app's one NATS connection: JSON publishing, durable (JetStream-acked) publishing,
 * validated subscriptions. Every consumed message goes through a schema; a bad one is logged
 * with its subject and dropped, and a throwing handler is logged, never fatal.
 */

/** How long after a reconnect a refused answer to an inbox is taken for one buffered across it. */
const ANSWER_AFTER_RECONNECT_MS = 5000;
@Injectable()
export class NatsService implements OnApplicationShutdown {
  private readonly logger = new Logger('Nats');
  readonly js: JetStreamClient;
  private closing = false;
  /** A Set: a gateway holds a few subscriptions per local user, made and ended one by one. */
  private readonly subs = new Set<Subscription>();

  constructor(
    @Inject(NATS_CONNECTION) readonly nc: NatsConnection,
    readonly metrics: Metrics,
  ) {
    this.js = jetstream(nc, { timeout: 2000 });
    void this.watchStatus();
  }

  get connected(): boolean {
    return !this.nc.isClosed() && !this.reconnecting;
  }
  private reconnecting = false;
  /** Since when this connection is up without a break (ms), or null while it is down. */
  connectedSince: number | null = Date.now();
  private readonly reconnectListeners: Array<() => void> = [];

  /** Called after every reconnect (not the first connect): resync what may have been missed. */
  onReconnect(fn: () => void) {
    this.reconnectListeners.push(fn);
  }

  private async watchStatus() {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') {
        this.reconnecting = true;
        this.connectedSince = null;
        this.logger.warn('disconnected from NATS; reconnecting');
      } else if (s.type === 'error') {
        const inbox = /Permissions Violation for Publish to "(_INBOX[A-Za-z0-9_-]*\.[^"]*)"/i.exec(s.error.message);
        if (inbox && (this.reconnecting || this.connectedSince === null || Date.now() - this.connectedSince < ANSWER_AFTER_RECONNECT_MS)) {
          // A server lets a responder answer only on the connection the request came in on: an
          // answer still buffered when the connection moved to another server of the cluster is
          // refused there. The requester times out and asks again; nothing else is lost.
          this.logger.warn(`an answer to a request taken before reconnecting was refused by the new server (${inbox[1]}); its requester will ask again`);
          continue;
        }
        // A permission violation lands here: the server refused a publish or subscription that this
        // app's NATS user may not make (deploy/nats/nats.conf). Worth a line: it is a bug or a misconfiguration.
        this.logger.error(`NATS server error: ${s.error.message}`);
      } else if (s.type === 'reconnect') {
        this.reconnecting = false;
        this.connectedSince = Date.now();
        this.logger.log('reconnected to NATS');
        this.durable?.resend();
        for (const fn of this.reconnectListeners) {
          try {
            fn();
          } catch (err) {
            this.logger.error(`reconnect listener failed: ${String(err)}`);
          }
        }
      }
    }
  }

  /** Publishes one event of the contract (core NATS: at most once; what must not be lost is durable). */
  emit<K extends EventKind>(kind: K, payload: EventPayload<K>) {
    if (this.nc.isClosed()) return;
    this.nc.publish(eventSubject(kind, payload), JSON.stringify(payload));
  }

  /**
   * Publishes a session event and waits for JetStream to store it; retries until stored or the app
   * closes. msgId (from SessionMessageIds) lets JetStream drop the duplicate a retry may create.
   * Resolves with the stream sequence it is stored under (a duplicate's: the original's), null
   * when the app closed first.
   */
  emitDurable<K extends DurableEventKind>(kind: K, payload: EventPayload<K>, msgId: string): Promise<number | null> {
    this.durable ??= new DurablePublisher(this.nc, {
      onRetry: (s, why, attempt, count) =>
        this.logger.warn(`publish ${s}${count > 1 ? ` and ${count - 1} more` : ''} not stored yet (${why}); retrying${attempt > 0 ? ` (attempt ${attempt + 1})` : ''}`),
    });
    return this.durable.publishStored(eventSubject(kind, payload), JSON.stringify(payload), msgId);
  }
  private durable?: DurablePublisher;

  async request<T>(subject: string, payload: object | undefined, timeoutMs = 2000): Promise<T> {
    const msg = await this.nc.request(subject, payload === undefined ? '' : JSON.stringify(payload), { timeout: timeoutMs });
    return JSON.parse(msg.string()) as T;
  }

  /** Subscribes with validation. Handlers may be async; their errors are logged. */
  subscribe<S extends z.ZodType>(
    subject: string,
    schema: S,
    handler: (payload: z.infer<S>, subject: string, reply?: string) => unknown,
    opts: SubscribeOptions = {},
  ): Subscription {
    const only = route(schema, handler);
    return this.subscribeRouted(subject, () => only, opts);
  }

  /**
   * Like subscribe(), for a wildcard whose messages differ by subject: `routeOf` picks each
   * message's schema and handler from its subject (undefined: not ours, ignored).
   */
  subscribeRouted(subject: string, routeOf: (subject: string) => SubjectRoute | undefined, opts: SubscribeOptions = {}): Subscription {
    const sub = this.nc.subscribe(subject, {
      queue: opts.queue,
      callback: (err, msg) => {
        if (err) {
          this.logger.error(`subscription ${subject} failed: ${err.message}`);
          return;
        }
        // Ended by unsubscribe(), whose UNSUB has not gone out yet.
        if (!this.subs.has(sub)) return;
        const r = routeOf(msg.subject);
        if (!r) return;
        const payload: unknown = this.validate(r.schema, msg.subject, msg.data, opts.matchSubjectUser ?? false);
        if (payload === undefined) return;
        try {
          const result = r.handle(payload, msg.subject, msg.reply);
          if (result instanceof Promise) {
            result.catch((e: unknown) => this.logger.error(`handler for ${printable(msg.subject)} failed: ${errorText(e)}`));
          }
        } catch (e) {
          this.logger.error(`handler for ${printable(msg.subject)} failed: ${errorText(e)}`);
        }
      },
    });
    this.subs.add(sub);
    return sub;
  }

  /**
   * Ends a subscription made with subscribe() before the app closes (short-lived interests). Its
   * handler sees nothing from now on; the UNSUB itself leaves with the others of this turn of the
   * loop: a gateway whose sockets close at once ends thousands, one write to NATS instead of one each.
   */
  unsubscribe(sub: Subscription) {
    this.subs.delete(sub);
    if (this.ending.push(sub) > 1) return;
    setImmediate(() => {
      const ending = this.ending;
      this.ending = [];
      for (const s of ending) if (!s.isClosed()) s.unsubscribe();
    });
  }
  private ending: Subscription[] = [];

  /** Parses and validates one message; logs and counts it when invalid. */
  validate<S extends z.ZodType>(schema: S, subject: string, data: Uint8Array, matchSubjectUser: boolean): z.infer<S> | undefined {
    const parsed = parseMessage(schema, data);
    if (!parsed.ok) {
      this.dropped(subject, parsed.error);
      return undefined;
    }
    if (matchSubjectUser) {
      const subjectUser = userIdFromSubject(subject);
      const payloadUser = (parsed.value as { userId?: unknown }).userId;
      if (subjectUser === null || payloadUser !== subjectUser) {
        this.dropped(subject, `userId ${JSON.stringify(payloadUser)} does not match the subject`);
        return undefined;
      }
    }
    return parsed.value as z.infer<S>;
  }

  dropped(subject: string, why: string) {
    this.metrics.invalidMessages.inc({ subject: subject.split('.').slice(0, 2).join('.') });
    this.logger.warn(`dropped invalid message on ${printable(subject)}: ${printable(why)}`);
  }

  async drain() {
    if (this.closing) return;
    this.closing = true;
    if (this.durable) this.durable.closing = true;
    for (const s of this.subs) s.unsubscribe();
    try {
      await this.nc.drain();
    } catch {
      await this.nc.close().catch(() => undefined);
    }
  }

  async onApplicationShutdown() {
    await this.drain();
  }

  async jsm() {
    return jetstreamManager(this.nc, { timeout: 2000 });
  }
}

export function errorText(e: unknown): string {
  return e instanceof Error ? (e.stack ?? e.message) : String(e);
}
