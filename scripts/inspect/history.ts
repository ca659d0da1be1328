import type { NatsConnection } from '@nats-io/transport-node';
import { readHistory, type HistoryEvent } from '#libs/nats/history.js';
import { Failure, json, table, type Output } from './common.js';

/**
 * `history <userId>` / `history --all`: the lifecycle as the audit stream holds it, oldest first,
 * each event with why it happened and, for an operator's action, who did it.
 */

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined);

/** `presence.session.alice.left` -> `left`; `presence.audit.admin.stop` -> `admin:stop`. */
export function eventName(subject: string): string {
  const parts = subject.split('.');
  if (parts[1] === 'audit') return `${parts[2] ?? 'audit'}:${parts.slice(3).join('.') || '?'}`;
  return parts[parts.length - 1] ?? subject;
}

/** The "reason or cause" cell: what the event itself says about why. */
export function reasonOf(e: HistoryEvent): string {
  const p = e.payload;
  switch (eventName(e.subject)) {
    case 'joined':
      return str(p.page) ? `page ${str(p.page)}` : '-';
    case 'updated':
      return str(p.status) ?? '-';
    case 'scheduled':
      return `${str(p.reason) ?? '-'}${str(p.runAt) ? `, runs ${str(p.runAt)}` : ''}`;
    case 'stopped':
      return `${str(p.reason) ?? '-'}${str(p.cause) ? ` (${str(p.cause)})` : ''}`;
    default:
      if (e.subject.startsWith('presence.audit.')) return `${str(p.outcome) ?? '-'}${str(p.target) ? ` ${str(p.target)}` : ''}`;
      return str(p.reason) ?? '-';
  }
}

/** Who acted, for an admin record: the authenticated operator when the record has one, else `by`. */
export const operatorOf = (e: HistoryEvent) => (e.subject.startsWith('presence.audit.') ? (str(e.payload.operator) ?? str(e.payload.by) ?? '-') : '-');

export function historyTable(events: HistoryEvent[], withUser: boolean): string {
  const headers = ['TIME', ...(withUser ? ['USER'] : []), 'EVENT', 'REASON_OR_CAUSE', 'SESSION', 'GATEWAY_OR_WORKER', 'OPERATOR'];
  const rows = events.map((e) => {
    const p = e.payload;
    const where = str(p.gatewayId) ?? str(p.workerId) ?? str(p.instanceId) ?? '-';
    const user = str(p.userId) ?? (e.subject.startsWith('presence.audit.') ? '(admin)' : '-');
    return [str(p.at) ?? '-', ...(withUser ? [user] : []), eventName(e.subject), reasonOf(e), str(p.sessionId) ?? '-', where, operatorOf(e)];
  });
  return table(headers, rows, '(no event in the stream for this query)');
}

/** The contract's JSON form: one `{at, subject, ...payload}` per event. */
export const historyJson = (events: HistoryEvent[]) => events.map((e) => ({ at: e.payload.at, subject: e.subject, ...e.payload }));

export async function history(nc: NatsConnection, q: { userId?: string; since?: Date; limit?: number }, asJson: boolean): Promise<Output> {
  let events: HistoryEvent[];
  try {
    events = await readHistory(nc, q);
  } catch (err) {
    const text = String((err as Error).message);
    if (/stream not found/i.test(text)) throw new Failure('the audit stream does not exist yet: no app has run against this NATS (or its JetStream data was reset)');
    if (/JetStream not enabled|no responders/i.test(text)) throw new Failure('JetStream does not answer on this NATS: is nats-server running with -js?');
    throw new Failure(`could not read the audit stream: ${text}`);
  }
  return { out: asJson ? json(historyJson(events)) : historyTable(events, q.userId === undefined), code: 0 };
}
