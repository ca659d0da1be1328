import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { AUDIT_STREAM_SUBJECTS, SessionSubjects } from '#libs/contracts/index.js';

/** The JetStream stream over every lifecycle event: the durable path and the audit trail. */
export const AUDIT_STREAM = 'PRESENCE_EVENTS';
/** Presence's durable consumer of session events, shared by every presence replica. */
export const PRESENCE_CONSUMER = 'presence-sessions';

/**
 * How long a delivered session event may stay unacknowledged before JetStream gives it to another
 * presence replica: the delay a kill -9 of presence adds to the events it had taken. Replicas that
 * are merely slow (Redis away) say so with `working()`, so this can stay short.
 */
export const PRESENCE_ACK_WAIT_MS = 3000;

/** The audit stream's last sequence: every message stored so far is at or before it. */
export async function auditLastSeq(jsm: JetStreamManager): Promise<number> {
  return (await jsm.streams.info(AUDIT_STREAM)).state.last_seq;
}

/**
 * Presence's durable consumer: its acknowledged floor (every session event at or before it is
 * applied) and whether it is idle (none undelivered, none delivered and unacknowledged).
 */
export async function presenceProgress(jsm: JetStreamManager): Promise<{ floor: number; idle: boolean }> {
  const c = await jsm.consumers.info(AUDIT_STREAM, PRESENCE_CONSUMER);
  return { floor: c.ack_floor.stream_seq, idle: c.num_pending === 0 && c.num_ack_pending === 0 };
}

const nanos = (ms: number) => ms * 1_000_000;

/**
 * Creates (or updates) the stream and presence's durable consumer. Presence calls it at start (the
 * only app allowed to); a gateway that starts first keeps its joins until the stream exists (its
 * durable publishes retry), so none is lost. `replicas`
 * (EVENTS_REPLICAS) is reconciled too: a stream made with one replica on a cluster is scaled up,
 * since with one copy the loss of its node freezes every join and leave.
 */
export interface StreamLimits {
  /** EVENTS_MAX_BYTES: past it the oldest events go (-1: no bound). */
  maxBytes?: number;
  /** EVENTS_MAX_MSGS_PER_SUBJECT: events kept per subject, so one user cannot crowd out the rest. */
  maxMsgsPerSubject?: number;
}

export async function ensureStreams(jsm: JetStreamManager, maxAgeMs: number, replicas = 1, limits: StreamLimits = {}): Promise<void> {
  const maxBytes = limits.maxBytes ?? -1;
  const maxMsgsPerSubject = limits.maxMsgsPerSubject ?? -1;
  const config = {
    name: AUDIT_STREAM,
    num_replicas: replicas,
    subjects: AUDIT_STREAM_SUBJECTS,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(maxAgeMs),
    duplicate_window: nanos(Math.min(120_000, maxAgeMs)),
    discard: 'old' as const,
    // Presence looks up a user's last join when a cleanup comes due during a backlog.
    allow_direct: true,
    max_bytes: maxBytes,
    max_msgs_per_subject: maxMsgsPerSubject,
  };
  try {
    await jsm.streams.add(config);
  } catch (err) {
    if (!/already in use|already exists/i.test(String(err))) throw err;
    // Exists already (older subjects, another max_age): bring it to this config.
    const info = await jsm.streams.info(AUDIT_STREAM);
    const sameSubjects = [...info.config.subjects].sort().join() === [...config.subjects].sort().join();
    const sameReplicas = (info.config.num_replicas || 1) === replicas;
    const sameLimits = info.config.max_bytes === maxBytes && info.config.max_msgs_per_subject === maxMsgsPerSubject;
    if (info.config.max_age !== config.max_age || !sameSubjects || !info.config.allow_direct || !sameReplicas || !sameLimits) {
      await jsm.streams.update(AUDIT_STREAM, {
        ...info.config,
        subjects: config.subjects,
        max_age: config.max_age,
        duplicate_window: config.duplicate_window,
        allow_direct: true,
        num_replicas: replicas,
        max_bytes: maxBytes,
        max_msgs_per_subject: maxMsgsPerSubject,
      });
    }
  }
  try {
    const info = await jsm.consumers.info(AUDIT_STREAM, PRESENCE_CONSUMER);
    if (info.config.ack_wait !== nanos(PRESENCE_ACK_WAIT_MS) || info.config.max_deliver !== -1) {
      await jsm.consumers.update(AUDIT_STREAM, PRESENCE_CONSUMER, { ack_wait: nanos(PRESENCE_ACK_WAIT_MS), max_deliver: -1 });
    }
  } catch {
    await jsm.consumers
      .add(AUDIT_STREAM, {
        durable_name: PRESENCE_CONSUMER,
        filter_subject: SessionSubjects.all,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        ack_wait: nanos(PRESENCE_ACK_WAIT_MS),
        // No cap: an event whose handler fails because a back end is away (Redis down, failing
        // over, read-only) is retried with a growing delay for as long as that lasts, never dropped.
        max_deliver: -1,
        max_ack_pending: 2000,
      })
      .catch((err: unknown) => {
        if (!/already in use|already exists/i.test(String(err))) throw err;
      });
  }
}
