import { describe, expect, it } from '@jest/globals';
import { Presence } from 'phoenix';
import { applyDiff, metaOfJoin, phxRef, PresenceList, type PresenceMap, type SessionJoined, type SessionLeft, type SessionStatus, type SessionUpdated } from '#libs/contracts/index.js';
import { DiffCoalescer } from './diff-coalescer.js';

const iso = (ms: number) => new Date(Date.UTC(2030, 0, 1) + ms).toISOString();

/** One tab as its gateway publishes it: joins, status changes with the meta and what it replaces, leaves with the meta. */
class Tab {
  joined: SessionJoined;
  constructor(userId: string, sessionId: string, atMs = 0) {
    this.joined = { userId, sessionId, gatewayId: 'gw', page: '/dashboard', at: iso(atMs), status: 'visible' };
  }
  get meta() {
    return metaOfJoin(this.joined);
  }
  update(status: SessionStatus, atMs: number): SessionUpdated {
    const prev = { status: this.joined.status ?? 'visible', statusAt: this.joined.statusAt ?? this.joined.at };
    this.joined = { ...this.joined, status, statusAt: iso(atMs) };
    return { userId: this.joined.userId, sessionId: this.joined.sessionId, status, at: iso(atMs), meta: this.meta, prev };
  }
  leave(): Pick<SessionLeft, 'userId' | 'sessionId' | 'meta'> {
    return { userId: this.joined.userId, sessionId: this.joined.sessionId, meta: this.meta };
  }
}

/** What a user would check: who is online, with which tabs in which status; each tab once. */
const view = (m: PresenceMap) =>
  Object.fromEntries(
    Object.entries(m)
      .filter(([, p]) => p.metas.length > 0)
      .map(([u, { metas }]) => [u, metas.map((x) => `${x.sessionId}:${x.status}`).sort()]),
  );
const phoenixView = (state: object) => view(JSON.parse(JSON.stringify(state)) as PresenceMap);

describe('DiffCoalescer: one window of session events -> one presence_diff in Phoenix protocol', () => {
  it('every meta carries its phx_ref; a status change is the leave of the old meta and the join of the new (phx_ref_prev), plus updates', () => {
    const tab = new Tab('u', 's1');
    const before = { ...tab.meta, phx_ref: phxRef(tab.meta) };
    const c = new DiffCoalescer();
    c.updated(tab.update('hidden', 10));
    const diff = c.take();
    const after = diff.joins.u.metas[0];
    expect(after).toMatchObject({ sessionId: 's1', status: 'hidden', statusAt: iso(10), phx_ref_prev: before.phx_ref });
    expect(after.phx_ref).not.toBe(before.phx_ref);
    expect(diff.leaves.u.metas).toEqual([before]);
    expect(diff.updates.u.metas).toEqual([{ sessionId: 's1', status: 'hidden', statusAt: iso(10), phx_ref: after.phx_ref }]);
    // Phoenix's own client and ours agree: one tab, now hidden.
    const other = new Tab('u', 's2');
    const state = { u: { metas: [before, { ...other.meta, phx_ref: phxRef(other.meta) }] } };
    expect(phoenixView(Presence.syncDiff(JSON.parse(JSON.stringify(state)) as object, diff))).toEqual({ u: ['s1:hidden', 's2:visible'] });
    expect(view(applyDiff(state, diff))).toEqual({ u: ['s1:hidden', 's2:visible'] });
  });

  it('a leave carries the leaving meta with its phx_ref', () => {
    const tab = new Tab('u', 's1');
    const c = new DiffCoalescer();
    c.left(tab.leave());
    expect(c.take().leaves).toEqual({ u: { metas: [{ ...tab.meta, phx_ref: phxRef(tab.meta) }] } });
  });

  it('one session leaving and another joining for the same user keeps the user with the new meta (supabase-js#2566)', () => {
    for (const order of ['leave-first', 'join-first']) {
      const [s1, s2] = [new Tab('u', 's1'), new Tab('u', 's2', 5)];
      const c = new DiffCoalescer();
      if (order === 'leave-first') {
        c.left(s1.leave());
        c.joined(s2.joined);
      } else {
        c.joined(s2.joined);
        c.left(s1.leave());
      }
      const diff = c.take();
      expect(diff.joins.u.metas.map((m) => m.sessionId)).toEqual(['s2']);
      expect(diff.leaves.u.metas.map((m) => m.sessionId)).toEqual(['s1']);
      const start = { u: { metas: [{ ...s1.meta, phx_ref: phxRef(s1.meta) }] } };
      expect(view(applyDiff(start, diff))).toEqual({ u: ['s2:visible'] });
      // Applied twice (a repeated diff), the list is the same: no duplicate metas.
      expect(view(applyDiff(applyDiff(start, diff), diff))).toEqual({ u: ['s2:visible'] });
    }
  });

  it('a session that joins, changes and leaves within one window ends absent, whether or not the client had seen it', () => {
    const tab = new Tab('u', 's1');
    const seen = { u: { metas: [{ ...tab.meta, phx_ref: phxRef(tab.meta) }] } };
    const c = new DiffCoalescer();
    c.joined(tab.joined);
    c.updated(tab.update('idle', 3));
    c.left(tab.leave());
    const diff = c.take();
    expect(diff.joins).toEqual({});
    expect(diff.updates).toEqual({});
    expect(view(applyDiff({}, diff))).toEqual({});
    // Seen already in presence_state (the snapshot crossed the window): it is removed, not kept as a ghost.
    expect(view(applyDiff(seen, diff))).toEqual({});
    expect(phoenixView(Presence.syncDiff(JSON.parse(JSON.stringify(seen)) as object, diff))).toEqual({});
  });

  it('a status change of a session joined in the same window is folded into its join', () => {
    const tab = new Tab('u', 's1');
    const c = new DiffCoalescer();
    c.joined(tab.joined);
    c.updated(tab.update('hidden', 7));
    const diff = c.take();
    expect(diff.updates).toEqual({});
    expect(diff.joins.u.metas).toEqual([expect.objectContaining({ sessionId: 's1', status: 'hidden', statusAt: iso(7), phx_ref: phxRef(tab.meta) })]);
  });

  it('status changes after a leave, and a stale join after a leave, are dropped', () => {
    const tab = new Tab('u', 's1');
    const c = new DiffCoalescer();
    c.left(tab.leave());
    const late = new Tab('u', 's1');
    c.updated(late.update('hidden', 4));
    c.joined(late.joined);
    const diff = c.take();
    expect(diff.joins).toEqual({});
    expect(diff.updates).toEqual({});
    expect(diff.leaves.u.metas.map((m) => m.sessionId)).toEqual(['s1']);
    expect(c.empty).toBe(true);
  });

  it('a publisher that sends no meta still gets its status change through as an update', () => {
    const c = new DiffCoalescer();
    c.updated({ userId: 'u', sessionId: 's1', status: 'hidden' });
    expect(c.take()).toEqual({ joins: {}, leaves: {}, updates: { u: { metas: [{ sessionId: 's1', status: 'hidden' }] } } });
  });

  it("random event streams cut into random windows: Phoenix's own client and ours end at the same list as the events one by one", () => {
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const statuses: SessionStatus[] = ['visible', 'hidden', 'idle'];
    for (let round = 0; round < 200; round++) {
      let clock = 0;
      const truth = new Map<string, Tab>();
      let next = 0;
      const toMap = () => {
        const m: PresenceMap = {};
        for (const tab of truth.values()) (m[tab.joined.userId] ??= { metas: [] }).metas.push({ ...tab.meta, phx_ref: phxRef(tab.meta) });
        return m;
      };
      // The subscriber's snapshot, taken with a few sessions already there.
      for (let i = 0; i < rnd(4); i++) truth.set(`s${next}`, new Tab(`u${rnd(3)}`, `s${next++}`, clock++));
      const ours = new PresenceList();
      ours.onState(toMap());
      let phoenix = Presence.syncState({}, toMap()) as object;
      const c = new DiffCoalescer();
      for (let step = 0; step < 40; step++) {
        clock += 1 + rnd(3);
        const live = [...truth.keys()];
        const op = rnd(5);
        if (op === 0 || live.length === 0) {
          const tab = new Tab(`u${rnd(3)}`, `s${next++}`, clock);
          truth.set(tab.joined.sessionId, tab);
          c.joined(tab.joined);
        } else if (op === 1) {
          const sid = live[rnd(live.length)];
          c.left(truth.get(sid)!.leave());
          truth.delete(sid);
        } else if (op === 2) {
          // A gateway's re-announce (resync) of a live session: its join as it is now.
          c.joined(truth.get(live[rnd(live.length)])!.joined);
        } else {
          const tab = truth.get(live[rnd(live.length)])!;
          const status = statuses[rnd(3)];
          if (status !== tab.joined.status) c.updated(tab.update(status, clock));
        }
        if (rnd(4) === 0 && !c.empty) {
          const diff = c.take();
          ours.onDiff(diff);
          phoenix = Presence.syncDiff(phoenix, JSON.parse(JSON.stringify(diff)) as { joins: object; leaves: object }) as object;
        }
      }
      if (!c.empty) {
        const diff = c.take();
        ours.onDiff(diff);
        phoenix = Presence.syncDiff(phoenix, JSON.parse(JSON.stringify(diff)) as { joins: object; leaves: object }) as object;
      }
      expect([round, view(ours.list())]).toEqual([round, view(toMap())]);
      expect([round, phoenixView(phoenix)]).toEqual([round, view(toMap())]);
    }
  });
});

describe('PresenceList: Phoenix-style client sync', () => {
  const meta = (sessionId: string) => {
    const m = new Tab('u', sessionId).meta;
    return { ...m, phx_ref: phxRef(m) };
  };

  it('keeps diffs that arrive before presence_state and applies them after it', () => {
    const list = new PresenceList();
    list.onDiff({ joins: {}, leaves: { u: { metas: [meta('s1')] } } });
    expect(list.synced).toBe(false);
    list.onState({ u: { metas: [meta('s1'), meta('s2')] } });
    expect(list.synced).toBe(true);
    expect(view(list.list())).toEqual({ u: ['s2:visible'] });
  });

  it('a leave of the last meta removes the user; a leave of an unknown user is a no-op', () => {
    const list = new PresenceList();
    list.onState({ u: { metas: [meta('s1')] } });
    list.onDiff({ joins: {}, leaves: { u: { metas: [meta('s1')] }, nobody: { metas: [meta('x')] } } });
    expect(list.list()).toEqual({});
  });

  it('after a reconnect, holds diffs until the new snapshot and reports what changed as joins and leaves', () => {
    const events: string[] = [];
    const list = new PresenceList({
      onJoin: (key, _cur, joined) => events.push(`join ${key} ${joined.metas.map((m) => m.sessionId).join(',')}`),
      onLeave: (key, _cur, left) => events.push(`leave ${key} ${left.metas.map((m) => m.sessionId).join(',')}`),
      onSync: () => events.push('sync'),
    });
    list.onState({ u: { metas: [meta('s1')] } });
    list.resubscribing();
    list.onDiff({ joins: { u: { metas: [meta('s3')] } }, leaves: {} });
    expect(view(list.list())).toEqual({ u: ['s1:visible'] });
    list.onState({ u: { metas: [meta('s2')] } });
    expect(view(list.list())).toEqual({ u: ['s2:visible', 's3:visible'] });
    expect(events).toEqual(['join u s1', 'sync', 'join u s2', 'leave u s1', 'join u s3', 'sync']);
  });
});
