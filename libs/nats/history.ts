import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { AuditSubjects, CleanupSubjects, ManagerSubjects, SessionSubjects, UserSubjects } from '#libs/contracts/index.js';
import { AUDIT_STREAM } from './streams.js';

/** One stored lifecycle event: where the stream put it, its subject, and its JSON payload. */
export interface HistoryEvent {
  seq: number;
  subject: string;
  payload: Record<string, unknown>;
}

export interface HistoryQuery {
  /** One user's events (and the admin actions naming them); everyone's when absent. */
  userId?: string;
  /** Only events stored at or after this time. */
  since?: Date;
  /** At most this many events are read per subject filter, the newest kept. */
  limit?: number;
}

const FETCH_BATCH = 500;

/**
 * The subject filters of one user's history. Each is read by a consumer of its own: a consumer with
 * several filters needs nats-server 2.10, and Debian's is 2.9. Admin records are not keyed by user,
 * so all of them are read and kept when they name the user.
 */
export function historyFilters(userId?: string): string[] {
  if (userId === undefined) return ['>'];
  const perUser = [SessionSubjects.joined(userId), UserSubjects.online(userId), CleanupSubjects.scheduled(userId), ManagerSubjects.started(userId)];
  // `presence.session.<u>.joined` -> `presence.session.<u>.*`: every event of that family.
  return [...perUser.map((s) => s.replace(/\.[^.]+$/, '.*')), AuditSubjects.all];
}

/** Whether an admin record concerns the user: its target, or one of the users it ended. */
export function namesUser(payload: Record<string, unknown>, userId: string): boolean {
  if (payload.target === userId) return true;
  return Array.isArray(payload.users) && payload.users.includes(userId);
}

function parse(data: Uint8Array): Record<string, unknown> {
  try {
    const v = JSON.parse(Buffer.from(data).toString('utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { raw: v };
  } catch {
    // A message that is not JSON was still stored: shown as it is, not dropped.
    return { raw: Buffer.from(data).toString('utf8').slice(0, 200) };
  }
}

/**
 * Reads one filter with an ordered (ephemeral, unacknowledged) consumer, up to what the stream held
 * when the consumer was made: events published meanwhile belong to the next reading.
 */
async function readFilter(nc: NatsConnection, filter: string, since: Date | undefined, limit: number): Promise<HistoryEvent[]> {
  const js = jetstream(nc);
  const consumer = await js.consumers.get(AUDIT_STREAM, {
    filter_subjects: filter,
    ...(since ? { opt_start_time: since.toISOString() } : { deliver_policy: DeliverPolicy.All }),
  });
  const out: HistoryEvent[] = [];
  try {
    let pending = (await consumer.info(true)).num_pending;
    while (pending > 0) {
      const batch = await consumer.fetch({ max_messages: Math.min(FETCH_BATCH, pending), expires: 5000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        pending = m.info.pending;
        out.push({ seq: m.seq, subject: m.subject, payload: parse(m.data) });
        // Only the newest `limit` are kept: a long history is cut at its old end.
        if (out.length >= 2 * limit) out.splice(0, out.length - limit);
      }
      if (got === 0) break;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  return out.slice(-limit);
}

/** A user's (or everyone's) lifecycle events from the audit stream, oldest first. */
export async function readHistory(nc: NatsConnection, q: HistoryQuery = {}): Promise<HistoryEvent[]> {
  const limit = q.limit ?? 100_000;
  // Fails clearly (stream not found) before any consumer is made.
  await (await jetstreamManager(nc)).streams.info(AUDIT_STREAM);
  const filters = historyFilters(q.userId);
  const read = await Promise.all(filters.map((f) => readFilter(nc, f, q.since, limit)));
  const events = read.flat().filter((e) => q.userId === undefined || !e.subject.startsWith('presence.audit.') || namesUser(e.payload, q.userId));
  events.sort((a, b) => a.seq - b.seq);
  return events.slice(-limit);
}
