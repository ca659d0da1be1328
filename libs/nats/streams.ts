import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { AUDIT_STREAM_SUBJECTS, SessionSubjects } from '#libs/contracts/index.js';

/** The JetStream stream over every lifecycle event: the durable path and the audit trail. */
export const AUDIT_STREAM = 'PRESENCE_EVENTS';
/** Presence's durable consumer of session events, shared by every presence replica. */
export const PRESENCE_CONSUMER = 'presence-sessions';

const nanos = (ms: number) => ms * 1_000_000;

/**
 * Creates (or updates) the stream and presence's durable consumer. Every app calls it at start,
 * so session events published before presence ever ran are kept for it, not lost.
 */
export async function ensureStreams(jsm: JetStreamManager, maxAgeMs: number): Promise<void> {
  const config = {
    name: AUDIT_STREAM,
    subjects: AUDIT_STREAM_SUBJECTS,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(maxAgeMs),
    duplicate_window: nanos(Math.min(120_000, maxAgeMs)),
    discard: 'old' as const,
  };
  try {
    await jsm.streams.add(config);
  } catch (err) {
    if (!/already in use|already exists/i.test(String(err))) throw err;
    // Exists already (older subjects, another max_age): bring it to this config.
    const info = await jsm.streams.info(AUDIT_STREAM);
    const sameSubjects = [...info.config.subjects].sort().join() === [...config.subjects].sort().join();
    if (info.config.max_age !== config.max_age || !sameSubjects) {
      await jsm.streams.update(AUDIT_STREAM, { ...info.config, subjects: config.subjects, max_age: config.max_age, duplicate_window: config.duplicate_window });
    }
  }
  try {
    await jsm.consumers.info(AUDIT_STREAM, PRESENCE_CONSUMER);
  } catch {
    await jsm.consumers
      .add(AUDIT_STREAM, {
        durable_name: PRESENCE_CONSUMER,
        filter_subject: SessionSubjects.all,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        ack_wait: nanos(10_000),
        max_deliver: 20,
        max_ack_pending: 2000,
      })
      .catch((err: unknown) => {
        if (!/already in use|already exists/i.test(String(err))) throw err;
      });
  }
}
