import { jest, describe, it, expect } from '@jest/globals';
import type { LeaveReason } from '#libs/contracts/index.js';
import { FakeState } from './state/presence-state.fake.js';
import { T0, iso, join, leave, presenceSpec } from './presence.service.fake.js';

describe('PresenceService: session events', () => {
  const t = presenceSpec();

  it('publishes presence.user.<u>.online exactly once on the first join', async () => {
    await t.svc.joined(join('alice', 's1'));
    expect(t.published).toEqual([{ subject: 'presence.user.alice.online', payload: { userId: 'alice', at: iso(T0), sessionId: 's1', joinedAt: iso(T0), epoch: 1 } }]);
    expect(t.state.status('alice')).toBe('online');
    expect(t.schedule).not.toHaveBeenCalled();
  });

  it('publishes nothing for a second tab of an online user', async () => {
    await t.svc.joined(join('alice', 's1'));
    t.published = [];
    await t.svc.joined(join('alice', 's2'));
    expect(t.published).toEqual([]);
    expect(t.schedule).not.toHaveBeenCalled();
    expect(t.cancel).not.toHaveBeenCalled();
  });

  it('closing one of two tabs schedules nothing; closing the last one does', async () => {
    await t.svc.joined(join('alice', 's1'));
    await t.svc.joined(join('alice', 's2'));
    await t.svc.left(leave('alice', 's1'));
    expect(t.schedule).not.toHaveBeenCalled();
    expect(t.subjects()).toEqual(['presence.user.alice.online']);
    await t.svc.left(leave('alice', 's2'));
    expect(t.schedule).toHaveBeenCalledTimes(1);
    expect(t.subjects()).toEqual(['presence.user.alice.online', 'presence.cleanup.alice.scheduled']);
  });

  it.each([
    ['closed', 5000],
    ['lost', 8000],
    ['logout', 2000],
  ] as Array<[LeaveReason, number]>)(
    'last leave (%s) schedules the cleanup at leave time + %i ms and announces it',
    async (reason, timeout) => {
      await t.svc.joined(join('alice', 's1'));
      jest.advanceTimersByTime(10_000);
      // The gateway saw the session end 300 ms before we process the message.
      const leftAt = Date.now() - 300;
      await t.svc.left(leave('alice', 's1', reason, leftAt));

      expect(t.schedule).toHaveBeenCalledTimes(1);
      expect(t.schedule).toHaveBeenCalledWith({ userId: 'alice', epoch: 2, runAt: iso(leftAt + timeout), reason });
      const scheduled = t.published.filter((p) => p.subject === 'presence.cleanup.alice.scheduled');
      expect(scheduled).toHaveLength(1);
      expect(scheduled[0].payload).toEqual({ userId: 'alice', runAt: iso(leftAt + timeout), at: iso(Date.now()), reason, epoch: 2 });
      expect(t.state.status('alice')).toBe('grace');
      expect(t.subjects()).not.toContain('presence.user.alice.offline');
    },
  );

  it("every user event carries the epoch of its transition, so readers order them: online, scheduled, cancelled, scheduled", async () => {
    await t.svc.joined(join('alice', 's1'));
    await t.svc.left(leave('alice', 's1'));
    await t.svc.joined(join('alice', 's2'));
    await t.svc.left(leave('alice', 's2'));
    const epochs = t.published.map((p) => [p.subject.split('.').at(-1), (p.payload as { epoch?: number }).epoch]);
    expect(epochs).toEqual([['online', 1], ['scheduled', 2], ['cancelled', 3], ['scheduled', 4]]);
  });

  it('comes online again after going offline', async () => {
    await t.svc.joined(join('alice', 's1'));
    await t.svc.left(leave('alice', 's1'));
    await t.svc.runCleanup(t.lastScheduled());
    t.published = [];
    await t.svc.joined(join('alice', 's2'));
    expect(t.subjects()).toEqual(['presence.user.alice.online']);
    expect(t.cancel).not.toHaveBeenCalled();
  });

  it('a leave that arrives before its join leaves the user offline, with no user events', async () => {
    await t.svc.left(leave('alice', 's1'));
    await t.svc.joined(join('alice', 's1'));
    // Only the gateway hears that the session is gone (it no longer holds it: nothing to do).
    expect(t.subjects()).toEqual(['presence.gateway.gw-1.refused']);
    expect(t.schedule).not.toHaveBeenCalled();
    expect(t.cancel).not.toHaveBeenCalled();
    expect(t.state.status('alice')).toBe('offline');
    expect(t.state.sessions.get('alice')?.size ?? 0).toBe(0);
  });

  it('a duplicated join changes nothing', async () => {
    await t.svc.joined(join('alice', 's1'));
    await t.svc.joined(join('alice', 's1'));
    expect(t.subjects()).toEqual(['presence.user.alice.online']);
    // One session only: its leave is the last one.
    await t.svc.left(leave('alice', 's1'));
    expect(t.schedule).toHaveBeenCalledTimes(1);
  });

  it('a duplicated leave changes nothing', async () => {
    await t.svc.joined(join('alice', 's1'));
    await t.svc.joined(join('alice', 's2'));
    await t.svc.left(leave('alice', 's1'));
    await t.svc.left(leave('alice', 's1'));
    expect(t.schedule).not.toHaveBeenCalled();
    expect(t.state.status('alice')).toBe('online');

    await t.svc.left(leave('alice', 's2'));
    await t.svc.left(leave('alice', 's2'));
    expect(t.schedule).toHaveBeenCalledTimes(1);
    expect(t.subjects().filter((s) => s === 'presence.cleanup.alice.scheduled')).toHaveLength(1);
  });

  it('a join redelivered after its session left (and after a later return) is ignored; its gateway is told the session is gone', async () => {
    await t.svc.joined(join('alice', 's1'));
    await t.svc.left(leave('alice', 's1'));
    await t.svc.joined(join('alice', 's2'));
    await t.svc.left(leave('alice', 's2'));
    const pending = t.lastScheduled();
    t.published = [];
    // JetStream redelivers both old joins (an ack was lost): nothing comes back to life. The
    // gateway hears of each (it drops the refusal of a session it no longer holds).
    await t.svc.joined(join('alice', 's1'));
    await t.svc.joined(join('alice', 's2'));
    const gw = join('alice', 's1').gatewayId;
    expect(t.published).toEqual(
      ['s1', 's2'].map((sessionId) => ({
        subject: `presence.gateway.${gw}.refused`,
        payload: { sessionId, userId: 'alice', gatewayId: gw, reason: 'gone', at: iso(Date.now()) },
      })),
    );
    expect(t.cancel).toHaveBeenCalledTimes(1);
    expect(t.state.status('alice')).toBe('grace');
    jest.advanceTimersByTime(5000);
    expect(await t.svc.runCleanup(pending)).toEqual({ outcome: 'offline' });
  });

  it('a leave before its join, while the user has another session, changes nothing for that user', async () => {
    await t.svc.joined(join('alice', 's1'));
    await t.svc.left(leave('alice', 's2'));
    await t.svc.joined(join('alice', 's2'));
    expect(t.state.sessions.get('alice')!.size).toBe(1);
    await t.svc.left(leave('alice', 's1'));
    expect(t.schedule).toHaveBeenCalledTimes(1);
    expect(t.state.status('alice')).toBe('grace');
  });

  it('a join over the global session cap is refused: its gateway is told to end it, the user stays as they were', async () => {
    const small = t.withConfig({ ...t.config, maxSessionsPerUser: 2 }, (t.state = new FakeState(2)));
    await small.joined({ ...join('alice', 's1'), gatewayId: 'gw-1' });
    await small.joined({ ...join('alice', 's2'), gatewayId: 'gw-2' });
    t.published = [];
    await small.joined({ ...join('alice', 's3'), gatewayId: 'gw-2' });
    expect(t.published).toEqual([
      { subject: 'presence.gateway.gw-2.refused', payload: { sessionId: 's3', userId: 'alice', gatewayId: 'gw-2', reason: 'too_many_sessions', at: iso(Date.now()) } },
    ]);
    expect([...t.state.sessions.get('alice')!.keys()]).toEqual(['s1', 's2']);
    // The refused session's leave (the gateway ends it) changes nothing.
    await small.left(leave('alice', 's3'));
    expect(t.schedule).not.toHaveBeenCalled();
    expect(t.state.status('alice')).toBe('online');
  });

  it('a leave stamped 1 hour in the future schedules at most one timeout from now', async () => {
    await t.svc.joined(join('alice', 's1'));
    await t.svc.left(leave('alice', 's1', 'closed', Date.now() + 3600_000));
    expect(Date.parse(t.lastScheduled().runAt)).toBe(Date.now() + 5000);
  });

  it('updates a session status without any user transition', async () => {
    await t.svc.joined(join('alice', 's1'));
    t.published = [];
    await t.svc.updated({ userId: 'alice', sessionId: 's1', status: 'hidden', at: iso(Date.now()) });
    expect(t.state.sessions.get('alice')!.get('s1')!.status).toBe('hidden');
    expect(t.published).toEqual([]);
    expect(t.schedule).not.toHaveBeenCalled();
  });
});
