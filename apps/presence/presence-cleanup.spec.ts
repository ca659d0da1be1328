import { jest, describe, it, expect } from '@jest/globals';
import { T0, iso, join, leave, presenceSpec } from './presence.service.fake.js';

describe('PresenceService: cleanups', () => {
  const t = presenceSpec();

  it('a return before runAt cancels the cleanup; the stale job then goes nowhere', async () => {
    await t.svc.joined(join('alice', 's1'));
    await t.svc.left(leave('alice', 's1'));
    const job = t.lastScheduled();
    jest.advanceTimersByTime(2000); // back before the 5 s grace ends
    t.published = [];

    await t.svc.joined(join('alice', 's2'));
    expect(t.cancel).toHaveBeenCalledTimes(1);
    expect(t.cancel).toHaveBeenCalledWith('alice', job.epoch);
    expect(t.subjects()).toEqual(['presence.cleanup.alice.cancelled']);
    expect(t.state.status('alice')).toBe('online');

    // BullMQ may still run the job (the remove raced it): it must not take the user offline.
    jest.advanceTimersByTime(3000);
    const result = await t.svc.runCleanup(job);
    expect(result.outcome.startsWith('stale')).toBe(true);
    expect(t.subjects()).not.toContain('presence.user.alice.offline');
    expect(t.state.status('alice')).toBe('online');
  });

  it('a cleanup job with the current epoch takes the user offline', async () => {
    await t.svc.joined(join('alice', 's1'));
    await t.svc.left(leave('alice', 's1', 'lost'));
    const job = t.lastScheduled();
    jest.advanceTimersByTime(8000);
    t.published = [];

    const result = await t.svc.runCleanup(job);
    expect(result).toEqual({ outcome: 'offline' });
    expect(t.published).toEqual([{ subject: 'presence.user.alice.offline', payload: { userId: 'alice', at: iso(Date.now()), reason: 'lost', epoch: 3 } }]);
    expect(t.state.status('alice')).toBe('offline');

    // A redelivery of the same job is a no-op.
    t.published = [];
    expect((await t.svc.runCleanup(job)).outcome).toMatch(/^offline at .*already run by the cleanup timer/);
    expect(t.published).toEqual([]);
  });

  it('cleanupNow (admin): a user in grace goes offline at once with reason admin; their queued job is dropped and then stale', async () => {
    await t.svc.joined(join('alice', 's1'));
    await t.svc.left(leave('alice', 's1'));
    const job = t.lastScheduled();
    t.published = [];
    expect(await t.svc.cleanupNow('alice', job.epoch)).toBe(true);
    expect(t.published).toEqual([{ subject: 'presence.user.alice.offline', payload: { userId: 'alice', at: iso(T0), reason: 'admin', epoch: 3 } }]);
    expect(t.cancel).toHaveBeenCalledWith('alice', job.epoch);
    expect(t.state.status('alice')).toBe('offline');
    t.published = [];
    expect((await t.svc.runCleanup(job)).outcome).toMatch(/^offline at .*already run by the cleanup timer/);
    expect(t.published).toEqual([]);
  });

  it('cleanupNow (admin) with an outdated epoch (the user came back meanwhile) changes nothing', async () => {
    await t.svc.joined(join('alice', 's1'));
    await t.svc.left(leave('alice', 's1'));
    const job = t.lastScheduled();
    await t.svc.joined(join('alice', 's2'));
    t.published = [];
    t.cancel.mockClear();
    expect(await t.svc.cleanupNow('alice', job.epoch)).toBe(false);
    expect(t.published).toEqual([]);
    expect(t.cancel).not.toHaveBeenCalled();
    expect(t.state.status('alice')).toBe('online');
  });

  it('leave, return, leave again while the first job runs: the first job is stale, the second goes offline', async () => {
    await t.svc.joined(join('alice', 's1'));
    await t.svc.left(leave('alice', 's1'));
    const first = t.lastScheduled();
    jest.advanceTimersByTime(1000);
    await t.svc.joined(join('alice', 's2'));
    jest.advanceTimersByTime(1000);
    await t.svc.left(leave('alice', 's2'));
    const second = t.lastScheduled();
    expect(t.schedule).toHaveBeenCalledTimes(2);
    expect(second.epoch).not.toBe(first.epoch);
    expect(Date.parse(second.runAt)).toBe(Date.now() + 5000);

    // The first job was already running when the t.cancel came; it finishes after the second leave.
    t.published = [];
    expect((await t.svc.runCleanup(first)).outcome).toMatch(/^stale/);
    expect(t.published).toEqual([]);
    expect(t.state.status('alice')).toBe('grace');

    jest.advanceTimersByTime(5000);
    expect(await t.svc.runCleanup(second)).toEqual({ outcome: 'offline' });
    expect(t.subjects()).toEqual(['presence.user.alice.offline']);
  });

  it('a duplicate cleanup job (same epoch, run twice at once) goes offline once', async () => {
    await t.svc.joined(join('alice', 's1'));
    await t.svc.left(leave('alice', 's1'));
    const job = t.lastScheduled();
    jest.advanceTimersByTime(5000);
    t.published = [];
    const outcomes = await Promise.all([t.svc.runCleanup(job), t.svc.runCleanup({ ...job })]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['offline', expect.stringMatching(/already run by the cleanup timer/)]);
    expect(t.subjects()).toEqual(['presence.user.alice.offline']);
    expect(t.state.status('alice')).toBe('offline');
  });

  it('a cleanup racing a return: whichever runs first, the user ends online with no cleanup pending', async () => {
    for (const cleanupFirst of [true, false]) {
      const user = cleanupFirst ? 'race-a' : 'race-b';
      await t.svc.joined(join(user, 's1'));
      await t.svc.left(leave(user, 's1'));
      const job = t.lastScheduled();
      jest.advanceTimersByTime(5000);
      if (cleanupFirst) {
        expect(await t.svc.runCleanup(job)).toEqual({ outcome: 'offline' });
        await t.svc.joined(join(user, 's2'));
      } else {
        await t.svc.joined(join(user, 's2'));
        expect((await t.svc.runCleanup(job)).outcome).toMatch(/^stale/);
      }
      expect(t.state.status(user)).toBe('online');
      expect(await t.state.dueCleanups(Date.now() + 60_000)).toEqual([]);
      // The user's last event says where they are: online after offline, or cancelled.
      const last = t.subjects().filter((s) => s.includes(`.${user}.`) && !s.includes('.scheduled')).at(-1);
      expect(last).toBe(cleanupFirst ? `presence.user.${user}.online` : `presence.cleanup.${user}.cancelled`);
    }
  });

  it('a cleanup run a second time (its timer ran it, then its BullMQ job) reports done and publishes nothing', async () => {
    await t.svc.joined(join('alice', 's1'));
    await t.svc.left(leave('alice', 's1'));
    const data = t.lastScheduled();
    jest.setSystemTime(Date.parse(data.runAt));
    expect(await t.svc.runCleanup(data)).toEqual({ outcome: 'offline' });
    t.published = [];
    expect((await t.svc.runCleanup(data)).outcome).toMatch(/^offline at .*already run by the cleanup timer/);
    expect(t.published).toEqual([]);
  });

  it('adoptOrphan gives an unknown user one grace period, and only once', async () => {
    await t.svc.adoptOrphan('zed');
    expect(t.schedule).toHaveBeenCalledWith({ userId: 'zed', epoch: 1, runAt: iso(Date.now() + 5000), reason: 'closed' });
    expect(t.subjects()).toEqual(['presence.cleanup.zed.scheduled']);
    await t.svc.adoptOrphan('zed');
    expect(t.schedule).toHaveBeenCalledTimes(1);

    await t.svc.joined(join('alice', 's1'));
    t.schedule.mockClear();
    await t.svc.adoptOrphan('alice');
    expect(t.schedule).not.toHaveBeenCalled();
  });
});
