import { jest, describe, it, expect, beforeAll, beforeEach, afterEach } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { loadConfig, type AppConfig } from '#libs/config/index.js';
import { eventSubject, type CleanupJobData, type LeaveReason, type SessionJoined, type SessionLeft, type SessionMeta, type SessionStatus } from '#libs/contracts/index.js';
import { Metrics } from '#libs/observability/metrics.js';
import { PresenceService, type PresencePorts } from './presence.service.js';
import type { CleanupOutcome, JoinOutcome, LeaveOutcome } from './state/presence-state.repository.js';

const T0 = Date.parse('2030-01-01T12:00:00.000Z');
const TOMBSTONE_TTL_MS = 60 * 60 * 1000;
type StatePort = PresencePorts['state'];

/**
 * In-memory twin of the Lua scripts in ./state/scripts.ts: one user's sessions keyed by session id,
 * status online/grace/offline, an epoch bumped on every transition, tombstones for departed
 * session ids, and the grace index (cleanupAt + reason) that dueCleanups reads.
 */
class FakeState implements StatePort {
  readonly sessions = new Map<string, Map<string, SessionMeta>>();
  readonly users = new Map<string, { status?: 'online' | 'grace' | 'offline'; epoch: number; cleanupAt?: number; reason?: LeaveReason }>();
  readonly tombstones = new Map<string, number>();

  constructor(private readonly maxSessions: number) {}

  private sess(userId: string) {
    let s = this.sessions.get(userId);
    if (!s) this.sessions.set(userId, (s = new Map()));
    return s;
  }
  private user(userId: string) {
    let u = this.users.get(userId);
    if (!u) this.users.set(userId, (u = { epoch: 0 }));
    return u;
  }
  status(userId: string) {
    return this.users.get(userId)?.status ?? 'offline';
  }

  async join(userId: string, meta: SessionMeta): Promise<JoinOutcome> {
    const tomb = this.tombstones.get(`${userId} ${meta.sessionId}`);
    if (tomb !== undefined && tomb > Date.now()) return { kind: 'ignored' };
    const s = this.sess(userId);
    if (s.has(meta.sessionId)) return { kind: 'duplicate' };
    if (s.size >= this.maxSessions) return { kind: 'capped' };
    s.set(meta.sessionId, { ...meta });
    if (s.size > 1) return { kind: 'none' };
    const u = this.user(userId);
    const prev = u.status;
    if (prev === 'online') return { kind: 'none' };
    u.epoch++;
    u.status = 'online';
    if (prev === 'grace') {
      delete u.cleanupAt;
      delete u.reason;
      return { kind: 'cancelled', cancelledEpoch: u.epoch - 1 };
    }
    return { kind: 'online', epoch: u.epoch };
  }

  async leave(userId: string, sessionId: string, _leftAt: number, runAt: number, reason: LeaveReason): Promise<LeaveOutcome> {
    this.tombstones.set(`${userId} ${sessionId}`, Date.now() + TOMBSTONE_TTL_MS);
    const s = this.sess(userId);
    if (!s.has(sessionId)) return { kind: 'unknown' };
    s.delete(sessionId);
    if (s.size > 0) return { kind: 'none' };
    const u = this.user(userId);
    if (u.status !== 'online') return { kind: 'none' };
    u.epoch++;
    u.status = 'grace';
    u.cleanupAt = runAt;
    u.reason = reason;
    return { kind: 'scheduled', epoch: u.epoch, runAt };
  }

  async update(userId: string, sessionId: string, status: SessionStatus): Promise<'updated' | 'none' | 'unknown'> {
    const m = this.sess(userId).get(sessionId);
    if (!m) return 'unknown';
    if (m.status === status) return 'none';
    m.status = status;
    return 'updated';
  }

  async cleanup(userId: string, epoch: number): Promise<CleanupOutcome> {
    const u = this.users.get(userId);
    if (u?.status === 'offline' && u.epoch === epoch + 1) return { kind: 'done' };
    if (!u || u.status !== 'grace') return { kind: 'stale' };
    if (u.epoch !== epoch) return { kind: 'stale' };
    if (this.sess(userId).size > 0) return { kind: 'stale' };
    u.epoch++;
    u.status = 'offline';
    delete u.cleanupAt;
    delete u.reason;
    return { kind: 'offline' };
  }

  async dueCleanups(beforeMs: number) {
    return [...this.users.entries()]
      .filter(([, u]) => u.status === 'grace' && u.cleanupAt !== undefined && u.cleanupAt <= beforeMs)
      .map(([userId, u]) => ({ userId, epoch: u.epoch, runAt: u.cleanupAt!, reason: u.reason ?? 'closed' }));
  }

  async adoptOrphan(userId: string, runAt: number): Promise<LeaveOutcome> {
    if (this.users.has(userId)) return { kind: 'none' };
    if (this.sess(userId).size > 0) return { kind: 'none' };
    const u = this.user(userId);
    u.epoch++;
    u.status = 'grace';
    u.cleanupAt = runAt;
    u.reason = 'closed';
    return { kind: 'scheduled', epoch: u.epoch, runAt };
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('PresenceService', () => {
  let config: AppConfig;
  let metrics: Metrics;
  let state: FakeState;
  let schedule: jest.Mock<(data: CleanupJobData, opts?: { revive?: boolean }) => Promise<void>>;
  let cancel: jest.Mock<(userId: string, epoch: number) => Promise<void>>;
  let watch: jest.Mock<(data: CleanupJobData) => void>;
  let isWatched: jest.Mock<(userId: string, epoch: number) => boolean>;
  let published: Array<{ subject: string; payload: Record<string, unknown> }>;
  let svc: PresenceService;

  const subjects = () => published.map((p) => p.subject);
  const join = (userId: string, sessionId: string, at = Date.now()): SessionJoined => ({
    userId,
    sessionId,
    gatewayId: 'gw-1',
    page: '/dashboard',
    at: iso(at),
  });
  const leave = (userId: string, sessionId: string, reason: LeaveReason = 'closed', at = Date.now()): SessionLeft => ({
    userId,
    sessionId,
    gatewayId: 'gw-1',
    reason,
    at: iso(at),
  });
  const lastScheduled = () => schedule.mock.calls.at(-1)![0];

  beforeAll(() => {
    Logger.overrideLogger(false);
    config = loadConfig({ CLEANUP_TIMEOUT_MS: '5000', CLEANUP_TIMEOUT_LOST_MS: '8000', CLEANUP_TIMEOUT_LOGOUT_MS: '2000' });
    metrics = new Metrics();
  });

  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
    state = new FakeState(config.maxSessionsPerUser);
    schedule = jest.fn(async (_data: CleanupJobData) => {});
    cancel = jest.fn(async (_userId: string, _epoch: number) => {});
    watch = jest.fn((_data: CleanupJobData) => {});
    isWatched = jest.fn((_userId: string, _epoch: number) => false);
    published = [];
    svc = PresenceService.withPorts(config, metrics, {
      state,
      queue: { schedule, cancel, watch, isWatched },
      emit: (kind, payload) => published.push({ subject: eventSubject(kind, payload), payload: payload as Record<string, unknown> }),
    });
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('publishes presence.user.<u>.online exactly once on the first join', async () => {
    await svc.joined(join('alice', 's1'));
    expect(published).toEqual([{ subject: 'presence.user.alice.online', payload: { userId: 'alice', at: iso(T0), sessionId: 's1', joinedAt: iso(T0) } }]);
    expect(state.status('alice')).toBe('online');
    expect(schedule).not.toHaveBeenCalled();
  });

  it('publishes nothing for a second tab of an online user', async () => {
    await svc.joined(join('alice', 's1'));
    published = [];
    await svc.joined(join('alice', 's2'));
    expect(published).toEqual([]);
    expect(schedule).not.toHaveBeenCalled();
    expect(cancel).not.toHaveBeenCalled();
  });

  it('closing one of two tabs schedules nothing; closing the last one does', async () => {
    await svc.joined(join('alice', 's1'));
    await svc.joined(join('alice', 's2'));
    await svc.left(leave('alice', 's1'));
    expect(schedule).not.toHaveBeenCalled();
    expect(subjects()).toEqual(['presence.user.alice.online']);
    await svc.left(leave('alice', 's2'));
    expect(schedule).toHaveBeenCalledTimes(1);
    expect(subjects()).toEqual(['presence.user.alice.online', 'presence.cleanup.alice.scheduled']);
  });

  it.each([
    ['closed', 5000],
    ['lost', 8000],
    ['logout', 2000],
  ] as Array<[LeaveReason, number]>)(
    'last leave (%s) schedules the cleanup at leave time + %i ms and announces it',
    async (reason, timeout) => {
      await svc.joined(join('alice', 's1'));
      jest.advanceTimersByTime(10_000);
      // The gateway saw the session end 300 ms before we process the message.
      const leftAt = Date.now() - 300;
      await svc.left(leave('alice', 's1', reason, leftAt));

      expect(schedule).toHaveBeenCalledTimes(1);
      expect(schedule).toHaveBeenCalledWith({ userId: 'alice', epoch: 2, runAt: iso(leftAt + timeout), reason });
      const scheduled = published.filter((p) => p.subject === 'presence.cleanup.alice.scheduled');
      expect(scheduled).toHaveLength(1);
      expect(scheduled[0].payload).toEqual({ userId: 'alice', runAt: iso(leftAt + timeout), at: iso(Date.now()), reason });
      expect(state.status('alice')).toBe('grace');
      expect(subjects()).not.toContain('presence.user.alice.offline');
    },
  );

  it('a return before runAt cancels the cleanup; the stale job then goes nowhere', async () => {
    await svc.joined(join('alice', 's1'));
    await svc.left(leave('alice', 's1'));
    const job = lastScheduled();
    jest.advanceTimersByTime(2000); // back before the 5 s grace ends
    published = [];

    await svc.joined(join('alice', 's2'));
    expect(cancel).toHaveBeenCalledTimes(1);
    expect(cancel).toHaveBeenCalledWith('alice', job.epoch);
    expect(subjects()).toEqual(['presence.cleanup.alice.cancelled']);
    expect(state.status('alice')).toBe('online');

    // BullMQ may still run the job (the remove raced it): it must not take the user offline.
    jest.advanceTimersByTime(3000);
    const result = await svc.runCleanup(job);
    expect(result.outcome.startsWith('stale')).toBe(true);
    expect(subjects()).not.toContain('presence.user.alice.offline');
    expect(state.status('alice')).toBe('online');
  });

  it('a cleanup job with the current epoch takes the user offline', async () => {
    await svc.joined(join('alice', 's1'));
    await svc.left(leave('alice', 's1', 'lost'));
    const job = lastScheduled();
    jest.advanceTimersByTime(8000);
    published = [];

    const result = await svc.runCleanup(job);
    expect(result).toEqual({ outcome: 'offline' });
    expect(published).toEqual([{ subject: 'presence.user.alice.offline', payload: { userId: 'alice', at: iso(Date.now()), reason: 'lost' } }]);
    expect(state.status('alice')).toBe('offline');

    // A redelivery of the same job is a no-op.
    published = [];
    expect((await svc.runCleanup(job)).outcome).toMatch(/^offline at .*already run by the cleanup timer/);
    expect(published).toEqual([]);
  });

  it('cleanupNow (admin): a user in grace goes offline at once with reason admin; their queued job is dropped and then stale', async () => {
    await svc.joined(join('alice', 's1'));
    await svc.left(leave('alice', 's1'));
    const job = lastScheduled();
    published = [];
    expect(await svc.cleanupNow('alice', job.epoch)).toBe(true);
    expect(published).toEqual([{ subject: 'presence.user.alice.offline', payload: { userId: 'alice', at: iso(T0), reason: 'admin' } }]);
    expect(cancel).toHaveBeenCalledWith('alice', job.epoch);
    expect(state.status('alice')).toBe('offline');
    published = [];
    expect((await svc.runCleanup(job)).outcome).toMatch(/^offline at .*already run by the cleanup timer/);
    expect(published).toEqual([]);
  });

  it('cleanupNow (admin) with an outdated epoch (the user came back meanwhile) changes nothing', async () => {
    await svc.joined(join('alice', 's1'));
    await svc.left(leave('alice', 's1'));
    const job = lastScheduled();
    await svc.joined(join('alice', 's2'));
    published = [];
    cancel.mockClear();
    expect(await svc.cleanupNow('alice', job.epoch)).toBe(false);
    expect(published).toEqual([]);
    expect(cancel).not.toHaveBeenCalled();
    expect(state.status('alice')).toBe('online');
  });

  it('comes online again after going offline', async () => {
    await svc.joined(join('alice', 's1'));
    await svc.left(leave('alice', 's1'));
    await svc.runCleanup(lastScheduled());
    published = [];
    await svc.joined(join('alice', 's2'));
    expect(subjects()).toEqual(['presence.user.alice.online']);
    expect(cancel).not.toHaveBeenCalled();
  });

  it('a leave that arrives before its join leaves the user offline, with no user events', async () => {
    await svc.left(leave('alice', 's1'));
    await svc.joined(join('alice', 's1'));
    // Only the gateway hears that the session is gone (it no longer holds it: nothing to do).
    expect(subjects()).toEqual(['presence.gateway.gw-1.refused']);
    expect(schedule).not.toHaveBeenCalled();
    expect(cancel).not.toHaveBeenCalled();
    expect(state.status('alice')).toBe('offline');
    expect(state.sessions.get('alice')?.size ?? 0).toBe(0);
  });

  it('a duplicated join changes nothing', async () => {
    await svc.joined(join('alice', 's1'));
    await svc.joined(join('alice', 's1'));
    expect(subjects()).toEqual(['presence.user.alice.online']);
    // One session only: its leave is the last one.
    await svc.left(leave('alice', 's1'));
    expect(schedule).toHaveBeenCalledTimes(1);
  });

  it('a duplicated leave changes nothing', async () => {
    await svc.joined(join('alice', 's1'));
    await svc.joined(join('alice', 's2'));
    await svc.left(leave('alice', 's1'));
    await svc.left(leave('alice', 's1'));
    expect(schedule).not.toHaveBeenCalled();
    expect(state.status('alice')).toBe('online');

    await svc.left(leave('alice', 's2'));
    await svc.left(leave('alice', 's2'));
    expect(schedule).toHaveBeenCalledTimes(1);
    expect(subjects().filter((s) => s === 'presence.cleanup.alice.scheduled')).toHaveLength(1);
  });

  it('leave, return, leave again while the first job runs: the first job is stale, the second goes offline', async () => {
    await svc.joined(join('alice', 's1'));
    await svc.left(leave('alice', 's1'));
    const first = lastScheduled();
    jest.advanceTimersByTime(1000);
    await svc.joined(join('alice', 's2'));
    jest.advanceTimersByTime(1000);
    await svc.left(leave('alice', 's2'));
    const second = lastScheduled();
    expect(schedule).toHaveBeenCalledTimes(2);
    expect(second.epoch).not.toBe(first.epoch);
    expect(Date.parse(second.runAt)).toBe(Date.now() + 5000);

    // The first job was already running when the cancel came; it finishes after the second leave.
    published = [];
    expect((await svc.runCleanup(first)).outcome).toMatch(/^stale/);
    expect(published).toEqual([]);
    expect(state.status('alice')).toBe('grace');

    jest.advanceTimersByTime(5000);
    expect(await svc.runCleanup(second)).toEqual({ outcome: 'offline' });
    expect(subjects()).toEqual(['presence.user.alice.offline']);
  });

  it('a duplicate cleanup job (same epoch, run twice at once) goes offline once', async () => {
    await svc.joined(join('alice', 's1'));
    await svc.left(leave('alice', 's1'));
    const job = lastScheduled();
    jest.advanceTimersByTime(5000);
    published = [];
    const outcomes = await Promise.all([svc.runCleanup(job), svc.runCleanup({ ...job })]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['offline', expect.stringMatching(/already run by the cleanup timer/)]);
    expect(subjects()).toEqual(['presence.user.alice.offline']);
    expect(state.status('alice')).toBe('offline');
  });

  it('a duplicate schedule of the same cleanup (the overdue sweep) keeps the same epoch, so its job id is the same', async () => {
    await svc.joined(join('alice', 's1'));
    await svc.left(leave('alice', 's1', 'closed', Date.now() - 10_000));
    const first = lastScheduled();
    await svc.sweepOverdue();
    expect(schedule).toHaveBeenCalledTimes(2);
    expect(lastScheduled().epoch).toBe(first.epoch);
  });

  it('a cleanup racing a return: whichever runs first, the user ends online with no cleanup pending', async () => {
    for (const cleanupFirst of [true, false]) {
      const user = cleanupFirst ? 'race-a' : 'race-b';
      await svc.joined(join(user, 's1'));
      await svc.left(leave(user, 's1'));
      const job = lastScheduled();
      jest.advanceTimersByTime(5000);
      if (cleanupFirst) {
        expect(await svc.runCleanup(job)).toEqual({ outcome: 'offline' });
        await svc.joined(join(user, 's2'));
      } else {
        await svc.joined(join(user, 's2'));
        expect((await svc.runCleanup(job)).outcome).toMatch(/^stale/);
      }
      expect(state.status(user)).toBe('online');
      expect(await state.dueCleanups(Date.now() + 60_000)).toEqual([]);
      // The user's last event says where they are: online after offline, or cancelled.
      const last = subjects().filter((s) => s.includes(`.${user}.`) && !s.includes('.scheduled')).at(-1);
      expect(last).toBe(cleanupFirst ? `presence.user.${user}.online` : `presence.cleanup.${user}.cancelled`);
    }
  });

  it('a join redelivered after its session left (and after a later return) is ignored; its gateway is told the session is gone', async () => {
    await svc.joined(join('alice', 's1'));
    await svc.left(leave('alice', 's1'));
    await svc.joined(join('alice', 's2'));
    await svc.left(leave('alice', 's2'));
    const pending = lastScheduled();
    published = [];
    // JetStream redelivers both old joins (an ack was lost): nothing comes back to life. The
    // gateway hears of each (it drops the refusal of a session it no longer holds).
    await svc.joined(join('alice', 's1'));
    await svc.joined(join('alice', 's2'));
    const gw = join('alice', 's1').gatewayId;
    expect(published).toEqual(
      ['s1', 's2'].map((sessionId) => ({
        subject: `presence.gateway.${gw}.refused`,
        payload: { sessionId, userId: 'alice', gatewayId: gw, reason: 'gone', at: iso(Date.now()) },
      })),
    );
    expect(cancel).toHaveBeenCalledTimes(1);
    expect(state.status('alice')).toBe('grace');
    jest.advanceTimersByTime(5000);
    expect(await svc.runCleanup(pending)).toEqual({ outcome: 'offline' });
  });

  it('a leave before its join, while the user has another session, changes nothing for that user', async () => {
    await svc.joined(join('alice', 's1'));
    await svc.left(leave('alice', 's2'));
    await svc.joined(join('alice', 's2'));
    expect(state.sessions.get('alice')!.size).toBe(1);
    await svc.left(leave('alice', 's1'));
    expect(schedule).toHaveBeenCalledTimes(1);
    expect(state.status('alice')).toBe('grace');
  });

  it('a join over the global session cap is refused: its gateway is told to end it, the user stays as they were', async () => {
    const small = PresenceService.withPorts({ ...config, maxSessionsPerUser: 2 }, metrics, {
      state: (state = new FakeState(2)),
      queue: { schedule, cancel, watch, isWatched },
      emit: (kind, payload) => published.push({ subject: eventSubject(kind, payload), payload: payload as Record<string, unknown> }),
    });
    await small.joined({ ...join('alice', 's1'), gatewayId: 'gw-1' });
    await small.joined({ ...join('alice', 's2'), gatewayId: 'gw-2' });
    published = [];
    await small.joined({ ...join('alice', 's3'), gatewayId: 'gw-2' });
    expect(published).toEqual([
      { subject: 'presence.gateway.gw-2.refused', payload: { sessionId: 's3', userId: 'alice', gatewayId: 'gw-2', reason: 'too_many_sessions', at: iso(Date.now()) } },
    ]);
    expect([...state.sessions.get('alice')!.keys()]).toEqual(['s1', 's2']);
    // The refused session's leave (the gateway ends it) changes nothing.
    await small.left(leave('alice', 's3'));
    expect(schedule).not.toHaveBeenCalled();
    expect(state.status('alice')).toBe('online');
  });

  it('a leave stamped 1 hour in the future schedules at most one timeout from now', async () => {
    await svc.joined(join('alice', 's1'));
    await svc.left(leave('alice', 's1', 'closed', Date.now() + 3600_000));
    expect(Date.parse(lastScheduled().runAt)).toBe(Date.now() + 5000);
  });

  it('updates a session status without any user transition', async () => {
    await svc.joined(join('alice', 's1'));
    published = [];
    await svc.updated({ userId: 'alice', sessionId: 's1', status: 'hidden', at: iso(Date.now()) });
    expect(state.sessions.get('alice')!.get('s1')!.status).toBe('hidden');
    expect(published).toEqual([]);
    expect(schedule).not.toHaveBeenCalled();
  });

  it('a cleanup run a second time (its timer ran it, then its BullMQ job) reports done and publishes nothing', async () => {
    await svc.joined(join('alice', 's1'));
    await svc.left(leave('alice', 's1'));
    const data = lastScheduled();
    jest.setSystemTime(Date.parse(data.runAt));
    expect(await svc.runCleanup(data)).toEqual({ outcome: 'offline' });
    published = [];
    expect((await svc.runCleanup(data)).outcome).toMatch(/^offline at .*already run by the cleanup timer/);
    expect(published).toEqual([]);
  });

  it('watchPending arms a timer for every pending cleanup, with its own epoch and time', async () => {
    await svc.joined(join('alice', 's1'));
    await svc.joined(join('bob', 's2'));
    await svc.left(leave('alice', 's1'));
    await svc.left(leave('bob', 's2', 'lost'));
    expect(await svc.watchPending()).toBe(2);
    const watched = watch.mock.calls.map(([d]) => d).sort((a, b) => a.userId.localeCompare(b.userId));
    const scheduled = schedule.mock.calls.map(([d]) => d).sort((a, b) => a.userId.localeCompare(b.userId));
    expect(watched).toEqual(scheduled);
  });

  it('sweepOverdue re-schedules only cleanups overdue by more than 1 s', async () => {
    // bob: due 1.5 s ago; carol: due 0.5 s ago; dave: due in 2 s; erin: online.
    for (const u of ['bob', 'carol', 'dave', 'erin']) await svc.joined(join(u, `${u}-1`));
    await svc.left(leave('bob', 'bob-1', 'closed', Date.now() - 6500));
    await svc.left(leave('carol', 'carol-1', 'lost', Date.now() - 8500));
    await svc.left(leave('dave', 'dave-1', 'logout', Date.now() + 1000));
    schedule.mockClear();

    const n = await svc.sweepOverdue();
    expect(n).toBe(1);
    expect(schedule).toHaveBeenCalledTimes(1);
    expect(schedule).toHaveBeenCalledWith({ userId: 'bob', epoch: 2, runAt: iso(Date.now() - 1500), reason: 'closed' }, { revive: true });

    // 600 ms later carol is overdue by more than a second too.
    schedule.mockClear();
    jest.advanceTimersByTime(600);
    expect(await svc.sweepOverdue()).toBe(2);
    expect(schedule.mock.calls.map((c) => c[0].userId).sort()).toEqual(['bob', 'carol']);
    expect(schedule.mock.calls.find((c) => c[0].userId === 'carol')![0].reason).toBe('lost');
  });

  it('sweepOverdue leaves an overdue cleanup whose timer is armed here to that timer (after a restart)', async () => {
    for (const u of ['bob', 'carol']) await svc.joined(join(u, `${u}-1`));
    await svc.left(leave('bob', 'bob-1', 'closed', Date.now() - 8000));
    await svc.left(leave('carol', 'carol-1', 'closed', Date.now() - 8000));
    schedule.mockClear();
    isWatched.mockImplementation((userId) => userId === 'bob');

    expect(await svc.sweepOverdue()).toBe(1);
    expect(schedule.mock.calls.map((c) => c[0].userId)).toEqual(['carol']);
  });

  it('sweepOverdue skips users who came back or went offline', async () => {
    await svc.joined(join('bob', 'b1'));
    await svc.left(leave('bob', 'b1'));
    await svc.joined(join('carol', 'c1'));
    await svc.left(leave('carol', 'c1'));
    const carolJob = lastScheduled();
    await svc.joined(join('bob', 'b2'));
    jest.advanceTimersByTime(10_000);
    await svc.runCleanup(carolJob);
    schedule.mockClear();
    expect(await svc.sweepOverdue()).toBe(0);
    expect(schedule).not.toHaveBeenCalled();
  });

  it('adoptOrphan gives an unknown user one grace period, and only once', async () => {
    await svc.adoptOrphan('zed');
    expect(schedule).toHaveBeenCalledWith({ userId: 'zed', epoch: 1, runAt: iso(Date.now() + 5000), reason: 'closed' });
    expect(subjects()).toEqual(['presence.cleanup.zed.scheduled']);
    await svc.adoptOrphan('zed');
    expect(schedule).toHaveBeenCalledTimes(1);

    await svc.joined(join('alice', 's1'));
    schedule.mockClear();
    await svc.adoptOrphan('alice');
    expect(schedule).not.toHaveBeenCalled();
  });
});
