import { describe, it, expect } from '@jest/globals';
import {
  ADMIN_ACTIONS,
  AdminEndSessionsRequest,
  AdminSubjects,
  AuditSubjects,
  UserSessionsEnded,
  adminSubject,
  cleanupJobId,
  DashboardPage,
  SessionJoined,
  SessionLeft,
  SessionSubjects,
  UserId,
  UserSubjects,
  parseMessage,
  userIdFromSubject,
} from './index.js';

const AT = '2030-01-01T12:00:00.000Z';
const joined = { sessionId: 's-1', userId: 'alice', gatewayId: 'gw-1', page: '/dashboard', at: AT };
const left = { sessionId: 's-1', userId: 'alice', gatewayId: 'gw-1', reason: 'closed', at: AT };

describe('userIdFromSubject', () => {
  it('extracts the user token of a four-token subject', () => {
    expect(userIdFromSubject('presence.session.alice.joined')).toBe('alice');
    expect(userIdFromSubject(UserSubjects.offline('bob_2-x'))).toBe('bob_2-x');
    expect(userIdFromSubject(SessionSubjects.left('u1'))).toBe('u1');
  });

  it.each(['presence.session.joined', 'presence.session.alice.joined.extra', 'presence', '', 'presence.session.*.joined', 'presence.session..joined'])(
    'returns null for %p',
    (subject) => {
      expect(userIdFromSubject(subject)).toBeNull();
    },
  );
});

describe('UserId', () => {
  it.each(['alice', 'A_b-9', 'x'.repeat(64)])('accepts %p', (id) => {
    expect(UserId.safeParse(id).success).toBe(true);
  });
  it.each(['a.b', 'a*', 'a>', 'a b', '', 'x'.repeat(65)])('refuses %p', (id) => {
    expect(UserId.safeParse(id).success).toBe(false);
  });
});

describe('DashboardPage', () => {
  it.each(['/dashboard', '/dashboard/x/y', '/dashboard/', '/dashboard/reports/2030-01', '/dashboard/v1.2/a..b'])('accepts %p', (page) => {
    expect(DashboardPage.safeParse(page).success).toBe(true);
  });
  it.each(['/admin', '/dashboardx', '', 'dashboard', '/Dashboard', '/dashboard/a b', '/dashboard/' + 'x'.repeat(600)])('refuses %p', (page) => {
    expect(DashboardPage.safeParse(page).success).toBe(false);
  });
  it.each(['/dashboard/../etc', '/dashboard/..', '/dashboard/./x', '/dashboard/%2e%2e/etc', '/dashboard/%2E./x'])('refuses the dot-segment path %p', (page) => {
    expect(DashboardPage.safeParse(page).success).toBe(false);
  });
});

describe('SessionJoined', () => {
  it('accepts a valid event, with or without status', () => {
    expect(SessionJoined.safeParse(joined).success).toBe(true);
    expect(SessionJoined.safeParse({ ...joined, status: 'hidden' }).success).toBe(true);
  });
  it.each([
    ['a bad user id', { userId: 'a.b' }],
    ['a page outside the dashboard', { page: '/admin' }],
    ['an unknown status', { status: 'away' }],
    ['a time that is not ISO', { at: 'yesterday' }],
    ['an empty session id', { sessionId: '' }],
    ['a session id with a space', { sessionId: 'a b' }],
  ])('refuses %s', (_what, patch) => {
    expect(SessionJoined.safeParse({ ...joined, ...patch }).success).toBe(false);
  });
  it.each(['sessionId', 'userId', 'gatewayId', 'page', 'at'])('requires %s', (field) => {
    const { [field]: _omit, ...rest } = joined as Record<string, string>;
    expect(SessionJoined.safeParse(rest).success).toBe(false);
  });
});

describe('SessionLeft', () => {
  it.each(['closed', 'lost', 'logout', 'gateway_down', 'expired'])('accepts reason %p', (reason) => {
    expect(SessionLeft.safeParse({ ...left, reason }).success).toBe(true);
  });
  it.each(['crashed', '', 'CLOSED'])('refuses reason %p', (reason) => {
    expect(SessionLeft.safeParse({ ...left, reason }).success).toBe(false);
  });
  it('requires a reason', () => {
    const { reason: _r, ...rest } = left;
    expect(SessionLeft.safeParse(rest).success).toBe(false);
  });
});

describe('parseMessage', () => {
  it('returns the validated value of good JSON, from bytes or a string', () => {
    const bytes = new TextEncoder().encode(JSON.stringify(joined));
    expect(parseMessage(SessionJoined, bytes)).toEqual({ ok: true, value: joined });
    expect(parseMessage(SessionJoined, JSON.stringify(joined))).toEqual({ ok: true, value: joined });
  });

  it.each(['{not json', '', new Uint8Array([0xff, 0xfe, 0x00])])('reports %p as not JSON', (data) => {
    expect(parseMessage(SessionJoined, data)).toEqual({ ok: false, error: 'not JSON' });
  });

  it('names each field of the wrong type', () => {
    const out = parseMessage(SessionJoined, JSON.stringify({ ...joined, userId: 42, page: ['x'] }));
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(out.error).toMatch(/(^|; )userId: /);
    expect(out.error).toMatch(/(^|; )page: /);
    expect(out.error).not.toMatch(/sessionId/);
  });

  it('names a missing field and a bad enum value', () => {
    const { at: _at, ...noAt } = left;
    const out = parseMessage(SessionLeft, JSON.stringify({ ...noAt, reason: 'bored' }));
    expect(out.ok).toBe(false);
    if (!out.ok) {
      expect(out.error).toMatch(/(^|; )at: /);
      expect(out.error).toMatch(/(^|; )reason: /);
    }
  });

  it('reports a JSON value that is not an object as (root)', () => {
    const out = parseMessage(SessionJoined, '42');
    expect(out).toEqual({ ok: false, error: expect.stringMatching(/^\(root\): /) });
  });
});

describe('cleanupJobId', () => {
  it('differs for every (user, epoch), so a leave after a return never collides with a job still active', () => {
    const users = ['a', 'a-1', 'a-1-2', 'b_2', '1', 'x'.repeat(64)];
    const ids = new Set<string>();
    for (const u of users) for (let epoch = 1; epoch <= 30; epoch++) ids.add(cleanupJobId(u, epoch));
    expect(ids.size).toBe(users.length * 30);
    for (const id of ids) {
      // BullMQ: a custom id may not contain ':' nor be an integer.
      expect(id).not.toContain(':');
      expect(/^\d+$/.test(id)).toBe(false);
    }
  });
});

describe('admin actions', () => {
  it('each action has its subject, spelled out in AdminSubjects, and an audit subject', () => {
    expect(ADMIN_ACTIONS.map(adminSubject)).toEqual([AdminSubjects.stop, AdminSubjects.purgeGateway, AdminSubjects.endSessions]);
    expect(ADMIN_ACTIONS.map((a) => AuditSubjects.admin(a))).toEqual(['presence.audit.admin.stop', 'presence.audit.admin.purge_gateway', 'presence.audit.admin.end_sessions']);
  });

  it('an end_sessions request and notice validate what they carry', () => {
    expect(AdminEndSessionsRequest.safeParse({ userId: 'alice', now: true, reason: 'spam' }).success).toBe(true);
    expect(AdminEndSessionsRequest.safeParse({ userId: 'a.b' }).success).toBe(false);
    expect(AdminEndSessionsRequest.safeParse({ userId: 'alice', now: 'yes' }).success).toBe(false);
    expect(AdminEndSessionsRequest.safeParse({ userId: 'alice', reason: 'x'.repeat(201) }).success).toBe(false);
    expect(UserSessionsEnded.safeParse({ userId: 'alice', reason: 'r', until: 'soon', at: new Date().toISOString() }).success).toBe(false);
  });
});
