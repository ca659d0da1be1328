import { describe, expect, it } from '@jest/globals';
import { EVENTS, eventSubject, type EventKind, type EventPayload } from './events.js';
import { userIdFromSubject } from './subjects.js';

const at = '2026-01-01T00:00:00.000Z';
/** One valid payload of every kind, and the subject CONTRACT.md (or the project) gives it. */
const SAMPLES: { [K in EventKind]: [EventPayload<K>, string] } = {
  'session.joined': [{ sessionId: 's1', userId: 'u1', gatewayId: 'g1', page: '/dashboard', at }, 'presence.session.u1.joined'],
  'session.updated': [{ sessionId: 's1', userId: 'u1', status: 'idle', at }, 'presence.session.u1.updated'],
  'session.left': [{ sessionId: 's1', userId: 'u1', gatewayId: 'g1', reason: 'lost', at }, 'presence.session.u1.left'],
  'user.online': [{ userId: 'u1', at }, 'presence.user.u1.online'],
  'user.offline': [{ userId: 'u1', at, reason: 'closed' }, 'presence.user.u1.offline'],
  'cleanup.scheduled': [{ userId: 'u1', runAt: at, at }, 'presence.cleanup.u1.scheduled'],
  'cleanup.cancelled': [{ userId: 'u1', at }, 'presence.cleanup.u1.cancelled'],
  'manager.started': [{ userId: 'u1', workerId: 'w1', at }, 'stream.manager.u1.started'],
  'manager.stopped': [{ userId: 'u1', workerId: 'w1', reason: 'offline', at }, 'stream.manager.u1.stopped'],
  'console.tick': [{ userId: 'u1', n: 1, at, workerId: 'w1' }, 'stream.console.u1.tick'],
  'audit.admin': [{ action: 'stop', target: 'u1', outcome: 'done', message: 'ok', instanceId: 'p1', at }, 'presence.audit.admin.stop'],
  'gateway.heartbeat': [{ gatewayId: 'g1', sessions: 0, at }, 'presence.gateway.g1.heartbeat'],
  'gateway.refused': [{ sessionId: 's1', userId: 'u1', gatewayId: 'g1', reason: 'gone', at }, 'presence.gateway.g1.refused'],
  'gateway.resync': [{ at }, 'presence.gateway.resync'],
  'gateway.user_ended': [{ userId: 'u1', reason: 'r', until: at, at }, 'presence.gateway.user_ended'],
  'worker.handover': [{ workerId: 'w1', userIds: ['u1'], at }, 'stream.worker.handover'],
};

describe('EVENTS: the contract in code', () => {
  it.each(Object.keys(EVENTS) as EventKind[])('%s: the subject comes from the payload, which its own schema accepts', (kind) => {
    const [payload, subject] = SAMPLES[kind] as [EventPayload<EventKind>, string];
    expect(eventSubject(kind, payload)).toBe(subject);
    expect(EVENTS[kind].schema.safeParse(payload).success).toBe(true);
  });

  it("a user's event is published on that user's subject, as consumers check", () => {
    for (const kind of Object.keys(EVENTS) as EventKind[]) {
      const [payload, subject] = SAMPLES[kind] as [EventPayload<EventKind>, string];
      if (/^(session|user|cleanup|manager|console)\./.test(kind)) expect(userIdFromSubject(subject)).toBe((payload as { userId: string }).userId);
    }
  });
});
