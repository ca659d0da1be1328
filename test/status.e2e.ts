import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { PresenceList, type PresenceDiff, type PresenceMap } from '#libs/contracts/index.js';
import { Stack, Tab, uniqueUser, until } from './support/harness.js';

jest.setTimeout(60_000);

// Default liveness knobs on purpose: the handshake must carry them.
const stack = new Stack();
beforeAll(async () => {
  await stack.start();
  // Presence's first start finds no state and, a moment later, asks the gateways to announce their
  // sessions again: let that pass while no tab exists, so that no re-announced join folds into the
  // diffs under test.
  await stack.observer.waitFor('presence.gateway.resync', 15_000);
});
afterAll(() => stack.stop());

/** A dashboard that asked for the presence feed, applying it the Phoenix way, keeping every raw diff. */
class Watcher {
  readonly list = new PresenceList();
  readonly diffs: PresenceDiff[] = [];
  /** Called after every diff, with the list as it then was. */
  onChange?: (list: PresenceMap, diff: PresenceDiff) => void;

  constructor(readonly tab: Tab) {
    tab.socket.on('presence_state', (s: PresenceMap) => this.list.onState(s));
    tab.socket.on('presence_diff', (d: PresenceDiff) => {
      this.diffs.push(d);
      this.list.onDiff(d);
      this.onChange?.(this.list.list(), d);
    });
  }

  static async start(): Promise<Watcher> {
    const w = new Watcher(await stack.tab(uniqueUser('watcher')));
    w.tab.socket.emit('presence:subscribe');
    await until('presence_state', () => w.list.synced);
    return w;
  }

  metas(user: string) {
    return this.list.list()[user]?.metas ?? [];
  }

  waitMetas(user: string, what: string, ok: (metas: ReturnType<Watcher['metas']>) => boolean, timeoutMs = 10_000) {
    return until(`${user}: ${what}`, () => ok(this.metas(user)), timeoutMs);
  }
}

const sessionEvents = (user: string, kind: string) => stack.observer.on(`presence.session.${user}.${kind}`);

describe('tab status: an update of the meta, never a session leave', () => {
  it('presence:status publishes updated; subscribers get it as an update; presence.query.user shows it', async () => {
    const watcher = await Watcher.start();
    const user = uniqueUser('status');
    const tab = await stack.tab(user);
    const [joined] = await stack.observer.waitFor(`presence.session.${user}.joined`);
    const sessionId = joined.data.sessionId as string;
    await watcher.waitMetas(user, 'joined, visible', (m) => m.length === 1 && m[0].status === 'visible');
    const diffsBefore = watcher.diffs.length;

    expect(await tab.socket.timeout(2000).emitWithAck('presence:status', { status: 'hidden' })).toEqual({ ok: true });
    const [updated] = await stack.observer.waitFor(`presence.session.${user}.updated`);
    // With the meta after the change and the status it replaces, so every gateway can send Phoenix's update.
    expect(updated.data).toEqual({
      sessionId,
      userId: user,
      status: 'hidden',
      at: expect.any(String),
      meta: expect.objectContaining({ sessionId, status: 'hidden', statusAt: updated.data.at }),
      prev: { status: 'visible', statusAt: joined.data.at },
    });
    expect(Date.parse(updated.data.at as string)).toBeGreaterThan(0);
    await watcher.waitMetas(user, 'hidden', (m) => m.length === 1 && m[0].status === 'hidden');
    const seenDiffs = watcher.diffs.slice(diffsBefore);
    expect(seenDiffs.some((d) => d.updates?.[user]?.metas.some((m) => m.sessionId === sessionId && m.status === 'hidden'))).toBe(true);
    // In Phoenix's protocol a meta update is the join of the new version (phx_ref_prev naming the
    // old one) and the leave of the old version, of the same session: the user never goes away.
    for (const d of seenDiffs) {
      for (const m of d.joins[user]?.metas ?? []) expect(m).toMatchObject({ sessionId, phx_ref_prev: expect.any(String) });
      for (const m of d.leaves[user]?.metas ?? []) expect(m).toMatchObject({ sessionId, phx_ref: expect.any(String) });
    }
    await until('presence.query.user shows hidden', async () => {
      const p = await stack.observer.request<{ metas: Array<{ sessionId: string; status: string }> }>('presence.query.user', { userId: user });
      return p.metas.length === 1 && p.metas[0].sessionId === sessionId && p.metas[0].status === 'hidden';
    });

    // Three changes fired back to back (same millisecond, likely): none is lost, the last one wins.
    for (const status of ['idle', 'hidden', 'visible']) tab.socket.emit('presence:status', { status });
    const all = await stack.observer.waitFor(`presence.session.${user}.updated`, 10_000, 4);
    expect(all.map((u) => u.data.status)).toEqual(['hidden', 'idle', 'hidden', 'visible']);
    const times = all.map((u) => Date.parse(u.data.at as string));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(new Set(times).size).toBe(times.length);
    await watcher.waitMetas(user, 'visible again', (m) => m.length === 1 && m[0].status === 'visible');
    await until('presence.query.user shows visible', async () => {
      const p = await stack.observer.request<{ metas: Array<{ status: string }> }>('presence.query.user', { userId: user });
      return p.metas[0]?.status === 'visible';
    });
    // Nothing but the one join: no leave, no join for a status change, and no lifecycle transition.
    expect(sessionEvents(user, 'joined')).toHaveLength(1);
    expect(sessionEvents(user, 'left')).toHaveLength(0);
    expect(stack.observer.on(`presence.cleanup.${user}.scheduled`)).toHaveLength(0);
    for (const d of watcher.diffs.slice(diffsBefore)) for (const m of d.leaves[user]?.metas ?? []) expect(m.sessionId).toBe(sessionId);
    tab.close();
    watcher.tab.close();
  });

  it('a status that is not visible/hidden/idle is refused with a clear ack error and changes nothing', async () => {
    const user = uniqueUser('badstatus');
    const tab = await stack.tab(user);
    await stack.observer.waitFor(`presence.session.${user}.joined`);
    for (const body of [{ status: 'away' }, { status: 'HIDDEN' }, { status: 1 }, {}, null, 'hidden', [{ status: 'hidden' }]]) {
      const ack = await tab.socket.timeout(2000).emitWithAck('presence:status', body);
      expect([body, ack]).toEqual([body, { error: 'bad_request', message: expect.stringMatching(/visible.*hidden.*idle/) }]);
    }
    // Setting the current status again is accepted and publishes nothing either.
    expect(await tab.socket.timeout(2000).emitWithAck('presence:status', { status: 'visible' })).toEqual({ ok: true });
    // A valid change after them is the first and only update.
    expect(await tab.socket.timeout(2000).emitWithAck('presence:status', { status: 'idle' })).toEqual({ ok: true });
    const [updated] = await stack.observer.waitFor(`presence.session.${user}.updated`);
    expect(updated.data.status).toBe('idle');
    await until('idle in presence', async () => {
      const p = await stack.observer.request<{ metas: Array<{ status: string }> }>('presence.query.user', { userId: user });
      return p.metas[0]?.status === 'idle';
    });
    expect(sessionEvents(user, 'updated')).toHaveLength(1);
    expect(tab.socket.connected).toBe(true);
    tab.close();
  });
});

describe('a diff holding a join and a leave of the same user', () => {
  it('one tab closes as another opens (same window): the user stays, with exactly the new tab', async () => {
    const watcher = await Watcher.start();
    let combined = 0;
    for (let attempt = 0; attempt < 6 && combined < 2; attempt++) {
      const user = uniqueUser('swap');
      const old = await stack.tab(user);
      const [j1] = await stack.observer.waitFor(`presence.session.${user}.joined`);
      await watcher.waitMetas(user, 'first tab', (m) => m.length === 1);
      let absentAfterBoth = false;
      watcher.onChange = (list, d) => {
        if (d.joins[user] && d.leaves[user]) {
          combined++;
          // The supabase-js#2566 failure: the user vanishes (or doubles) after applying such a diff.
          if ((list[user]?.metas.length ?? 0) !== 1) absentAfterBoth = true;
        }
      };
      const fresh = await stack.tab(user);
      old.close();
      const joins = await stack.observer.waitFor(`presence.session.${user}.joined`, 10_000, 2);
      await stack.observer.waitFor(`presence.session.${user}.left`);
      const newSession = joins[1].data.sessionId;
      expect(newSession).not.toBe(j1.data.sessionId);
      await watcher.waitMetas(user, 'only the new tab', (m) => m.length === 1 && m[0].sessionId === newSession);
      expect(absentAfterBoth).toBe(false);
      // And presence agrees with what the watcher shows.
      const p = await stack.observer.request<{ metas: Array<{ sessionId: string }> }>('presence.query.user', { userId: user });
      expect(p.metas.map((m) => m.sessionId)).toEqual([newSession]);
      // No cleanup: the user never had zero sessions at presence.
      expect(stack.observer.on(`presence.cleanup.${user}.scheduled`)).toHaveLength(0);
      watcher.onChange = undefined;
      fresh.close();
    }
    // The open-then-close happens within milliseconds, so most attempts share one 50 ms window.
    expect(combined).toBeGreaterThanOrEqual(1);
    watcher.tab.close();
  });

  it('a tab that opens and closes within one window leaves nothing behind', async () => {
    const watcher = await Watcher.start();
    const user = uniqueUser('blink');
    const stays = await stack.tab(user);
    await watcher.waitMetas(user, 'first tab', (m) => m.length === 1);
    const blinks: Tab[] = [];
    for (let i = 0; i < 5; i++) {
      const t = await stack.tab(user);
      t.close();
      blinks.push(t);
    }
    await stack.observer.waitFor(`presence.session.${user}.left`, 10_000, 5);
    // A marker event after them: once the watcher has it, every earlier diff has been applied.
    expect(await stays.socket.timeout(2000).emitWithAck('presence:status', { status: 'hidden' })).toEqual({ ok: true });
    await watcher.waitMetas(user, 'marker', (m) => m.some((x) => x.status === 'hidden'));
    expect(watcher.metas(user).map((m) => m.sessionId)).toEqual([stack.observer.on(`presence.session.${user}.joined`)[0].data.sessionId]);
    // A fresh subscriber's snapshot says the same.
    const late = await Watcher.start();
    expect(late.metas(user).map((m) => m.sessionId)).toEqual(watcher.metas(user).map((m) => m.sessionId));
    stays.close();
    await watcher.waitMetas(user, 'gone', (m) => m.length === 0);
    watcher.tab.close();
    late.tab.close();
  });
});

describe('liveness defaults', () => {
  it('the gateway hands clients its ping settings; by default a vanished client is noticed within 30 s', async () => {
    const tab = new Tab(stack, stack.gateway.url, { token: await stack.token(uniqueUser('pings')), page: '/dashboard' });
    const handshake = new Promise<{ pingInterval: number; pingTimeout: number }>((res) => tab.socket.io.engine.once('handshake', res));
    await tab.connected();
    const { pingInterval, pingTimeout } = await handshake;
    expect({ pingInterval, pingTimeout }).toEqual({ pingInterval: 10_000, pingTimeout: 10_000 });
    expect(pingInterval + pingTimeout).toBeLessThanOrEqual(30_000);
    tab.close();
  });
});
