import { describe, expect, it } from '@jest/globals';
import { applyDiff, PresenceList, type PresenceMap, type SessionJoined, type SessionStatus } from '#libs/contracts/index.js';
import { DiffCoalescer } from './diff-coalescer.js';

const at = '2030-01-01T00:00:00.000Z';
const join = (userId: string, sessionId: string, status?: SessionStatus): SessionJoined => ({ userId, sessionId, gatewayId: 'gw', page: '/dashboard', at, status });
const meta = (sessionId: string, status: SessionStatus = 'visible') => ({ sessionId, page: '/dashboard', joinedAt: at, gatewayId: 'gw', status });
/** What a user would check: who is online, with which tabs in which status. */
const view = (m: PresenceMap) =>
  Object.fromEntries(Object.entries(m).map(([u, { metas }]) => [u, metas.map((x) => `${x.sessionId}:${x.status}`).sort()]));

describe('DiffCoalescer: one window of session events -> one presence_diff', () => {
  it('a status change is an update of that meta, never a leave and a join', () => {
    const c = new DiffCoalescer();
    c.updated({ userId: 'u', sessionId: 's1', status: 'hidden' });
    const diff = c.take();
    expect(diff).toEqual({ joins: {}, leaves: {}, updates: { u: { metas: [{ sessionId: 's1', status: 'hidden' }] } } });
    expect(view(applyDiff({ u: { metas: [meta('s1'), meta('s2')] } }, diff))).toEqual({ u: ['s1:hidden', 's2:visible'] });
  });

  it('one session leaving and another joining for the same user keeps the user with the new meta (supabase-js#2566)', () => {
    for (const order of ['leave-first', 'join-first']) {
      const c = new DiffCoalescer();
      if (order === 'leave-first') {
        c.left({ userId: 'u', sessionId: 's1' });
        c.joined(join('u', 's2'));
      } else {
        c.joined(join('u', 's2'));
        c.left({ userId: 'u', sessionId: 's1' });
      }
      const diff = c.take();
      expect(diff.joins.u.metas.map((m) => m.sessionId)).toEqual(['s2']);
      expect(diff.leaves.u.metas).toEqual([{ sessionId: 's1' }]);
      expect(view(applyDiff({ u: { metas: [meta('s1')] } }, diff))).toEqual({ u: ['s2:visible'] });
      // Applied twice (a repeated diff), the list is the same: no duplicate metas.
      expect(view(applyDiff(applyDiff({ u: { metas: [meta('s1')] } }, diff), diff))).toEqual({ u: ['s2:visible'] });
    }
  });

  it('a session that joins and leaves within one window ends absent, whether or not the client had seen it', () => {
    const c = new DiffCoalescer();
    c.joined(join('u', 's1'));
    c.updated({ userId: 'u', sessionId: 's1', status: 'idle' });
    c.left({ userId: 'u', sessionId: 's1' });
    const diff = c.take();
    expect(diff.joins).toEqual({});
    expect(diff.updates).toEqual({});
    // Not seen (the usual case): nothing changes.
    expect(view(applyDiff({ v: { metas: [meta('x')] } }, diff))).toEqual({ v: ['x:visible'] });
    // Seen already in presence_state (the snapshot crossed the window): it is removed, not kept as a ghost.
    expect(view(applyDiff({ u: { metas: [meta('s1')] } }, diff))).toEqual({});
  });

  it('a status change of a session joined in the same window is folded into its join', () => {
    const c = new DiffCoalescer();
    c.joined(join('u', 's1'));
    c.updated({ userId: 'u', sessionId: 's1', status: 'hidden' });
    const diff = c.take();
    expect(diff.updates).toEqual({});
    expect(diff.joins.u.metas).toEqual([{ ...meta('s1', 'hidden'), statusAt: at }]);
  });

  it('status changes after a leave, and a stale join after a leave, are dropped', () => {
    const c = new DiffCoalescer();
    c.left({ userId: 'u', sessionId: 's1' });
    c.updated({ userId: 'u', sessionId: 's1', status: 'hidden' });
    c.joined(join('u', 's1'));
    expect(c.take()).toEqual({ joins: {}, leaves: { u: { metas: [{ sessionId: 's1' }] } }, updates: {} });
    expect(c.empty).toBe(true);
  });

  it('the last of several status changes in a window wins', () => {
    const c = new DiffCoalescer();
    for (const status of ['hidden', 'idle', 'visible', 'hidden'] as const) c.updated({ userId: 'u', sessionId: 's1', status });
    expect(c.take().updates).toEqual({ u: { metas: [{ sessionId: 's1', status: 'hidden' }] } });
  });

  it('random event streams cut into random windows end at the same list as the events applied one by one', () => {
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const statuses: SessionStatus[] = ['visible', 'hidden', 'idle'];
    for (let round = 0; round < 200; round++) {
      const truth = new Map<string, { userId: string; status: SessionStatus }>();
      let next = 0;
      // The subscriber's snapshot, taken with a few sessions already there.
      for (let i = 0; i < rnd(4); i++) truth.set(`s${next++}`, { userId: `u${rnd(3)}`, status: 'visible' });
      const toMap = () => {
        const m: PresenceMap = {};
        for (const [sid, s] of truth) (m[s.userId] ??= { metas: [] }).metas.push(meta(sid, s.status));
        return m;
      };
      const client = new PresenceList();
      client.onState(toMap());
      const c = new DiffCoalescer();
      for (let step = 0; step < 40; step++) {
        const live = [...truth.keys()];
        const op = rnd(5);
        if (op === 0 || live.length === 0) {
          const sid = `s${next++}`;
          const userId = `u${rnd(3)}`;
          truth.set(sid, { userId, status: 'visible' });
          c.joined(join(userId, sid));
        } else if (op === 1) {
          const sid = live[rnd(live.length)];
          c.left({ userId: truth.get(sid)!.userId, sessionId: sid });
          truth.delete(sid);
        } else if (op === 2) {
          // A gateway's re-announce (resync) of a live session.
          const sid = live[rnd(live.length)];
          const s = truth.get(sid)!;
          c.joined(join(s.userId, sid, s.status));
        } else {
          const sid = live[rnd(live.length)];
          const s = truth.get(sid)!;
          s.status = statuses[rnd(3)];
          c.updated({ userId: s.userId, sessionId: sid, status: s.status });
        }
        if (rnd(4) === 0 && !c.empty) client.onDiff(c.take());
      }
      if (!c.empty) client.onDiff(c.take());
      expect([round, view(client.list())]).toEqual([round, view(toMap())]);
    }
  });
});

describe('PresenceList: Phoenix-style client sync', () => {
  it('keeps diffs that arrive before presence_state and applies them after it', () => {
    const list = new PresenceList();
    list.onDiff({ joins: {}, leaves: { u: { metas: [{ sessionId: 's1' }] } } });
    expect(list.synced).toBe(false);
    list.onState({ u: { metas: [meta('s1'), meta('s2')] } });
    expect(view(list.list())).toEqual({ u: ['s2:visible'] });
  });

  it('a leave of the last meta removes the user; a leave of an unknown user is a no-op', () => {
    const list = new PresenceList();
    list.onState({ u: { metas: [meta('s1')] } });
    list.onDiff({ joins: {}, leaves: { u: { metas: [{ sessionId: 's1' }] }, nobody: { metas: [{ sessionId: 'x' }] } } });
    expect(list.list()).toEqual({});
  });
});
