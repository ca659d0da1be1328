import { describe, expect, it } from '@jest/globals';
import { historyFilters, namesUser } from '#libs/nats/history.js';
import { parseDuration, parseSince } from './common.js';
import { eventName, historyJson, historyTable, operatorOf, reasonOf } from './history.js';

const ev = (subject: string, payload: Record<string, unknown>, seq = 1) => ({ seq, subject, payload });

describe('history: which subjects are read', () => {
  it("one user's families, each its own filter (no multi-filter consumer on nats-server 2.9), plus the admin records", () => {
    expect(historyFilters('alice')).toEqual(['presence.session.alice.*', 'presence.user.alice.*', 'presence.cleanup.alice.*', 'stream.manager.alice.*', 'presence.audit.>']);
    expect(historyFilters()).toEqual(['>']);
  });

  it('an admin record belongs to a user it targets or whose sessions it ended', () => {
    expect(namesUser({ target: 'alice' }, 'alice')).toBe(true);
    expect(namesUser({ target: 'gw-1', users: ['bob', 'alice'] }, 'alice')).toBe(true);
    expect(namesUser({ target: 'gw-1', users: ['bob'] }, 'alice')).toBe(false);
    expect(namesUser({ target: 'alice-2' }, 'alice')).toBe(false);
    expect(namesUser({ users: 'alice' }, 'alice')).toBe(false);
  });
});

describe('history: the table', () => {
  it('names events by their subject, admin records by their action', () => {
    expect(eventName('presence.session.alice.left')).toBe('left');
    expect(eventName('stream.manager.alice.stopped')).toBe('stopped');
    expect(eventName('presence.audit.admin.end_sessions')).toBe('admin:end_sessions');
  });

  it('says why: the reason, the status, the cleanup time, the stop cause, the outcome', () => {
    expect(reasonOf(ev('presence.session.a.joined', { page: '/dashboard' }))).toBe('page /dashboard');
    expect(reasonOf(ev('presence.session.a.updated', { status: 'idle' }))).toBe('idle');
    expect(reasonOf(ev('presence.session.a.left', { reason: 'lost' }))).toBe('lost');
    expect(reasonOf(ev('presence.cleanup.a.scheduled', { reason: 'closed', runAt: '2026-01-01T00:00:05.000Z' }))).toBe('closed, runs 2026-01-01T00:00:05.000Z');
    expect(reasonOf(ev('stream.manager.a.stopped', { reason: 'offline', cause: 'gateway_down' }))).toBe('offline (gateway_down)');
    expect(reasonOf(ev('presence.user.a.online', {}))).toBe('-');
    expect(reasonOf(ev('presence.audit.admin.stop', { outcome: 'refused', target: 'a' }))).toBe('refused a');
  });

  it('names the operator of admin records only: the authenticated one first, else `by`', () => {
    expect(operatorOf(ev('presence.audit.admin.stop', { operator: 'ann', by: 'someone' }))).toBe('ann');
    expect(operatorOf(ev('presence.audit.admin.stop', { by: 'ann' }))).toBe('ann');
    expect(operatorOf(ev('presence.audit.admin.stop', {}))).toBe('-');
    expect(operatorOf(ev('presence.session.a.left', { by: 'ann' }))).toBe('-');
  });

  it('survives payloads of the wrong shape', () => {
    const odd = [ev('presence.session.a.left', { reason: 42, at: ['x'], sessionId: { no: 1 } }), ev('presence.user.a.offline', { raw: 'not json' })];
    const out = historyTable(odd, true);
    expect(out.split('\n')[1]).toMatch(/^-\s+-\s+left\s+42\s+-\s+-\s+-$/);
    expect(historyTable([], false)).toBe('(no event in the stream for this query)\n');
  });

  it('--json: {at, subject, ...payload}', () => {
    expect(historyJson([ev('presence.user.a.online', { userId: 'a', at: '2026-01-01T00:00:00.000Z' })])).toEqual([
      { at: '2026-01-01T00:00:00.000Z', subject: 'presence.user.a.online', userId: 'a' },
    ]);
  });
});

describe('--since', () => {
  it('takes a duration back from now or an ISO time, and nothing else', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('0m')).toBeNull();
    expect(parseDuration('10 minutes')).toBeNull();
    expect(parseSince('10m', 1_000_000)?.getTime()).toBe(400_000);
    expect(parseSince('2026-12-04T10:00:00Z')?.toISOString()).toBe('2026-12-04T10:00:00.000Z');
    expect(parseSince('yesterday')).toBeNull();
    expect(parseSince('2026-13-45')).toBeNull();
  });
});
