import { jest, describe, it, expect, beforeAll, beforeEach, afterEach } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { cleanupJobId, type CleanupJobData, type LeaveReason } from '#libs/contracts/index.js';
import { FakeState } from '../state/presence-state.fake.js';
import type { JobOutcome } from './cleanup-queue.service.js';
import { Cleanups } from './cleanups.service.js';

const T0 = Date.parse('2030-01-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** The policy of when a cleanup runs, over fake BullMQ, barrier and state, on fake timers. */
describe('Cleanups', () => {
  let state: FakeState;
  let add: jest.Mock<(data: CleanupJobData, opts?: { revive?: boolean }) => Promise<boolean>>;
  let remove: jest.Mock<(id: string) => Promise<void>>;
  let promote: jest.Mock<(id: string) => Promise<void>>;
  let caughtUp: jest.Mock<(userId: string) => Promise<void>>;
  let jobProcessor: ((data: CleanupJobData) => Promise<JobOutcome>) | undefined;
  let handled: CleanupJobData[];
  let cleanups: Cleanups;
  const handler = jest.fn(async (d: CleanupJobData) => {
    handled.push(d);
    return { outcome: 'offline' };
  });

  /** A user whose last session left: the state holds a pending cleanup at `runAt`; nothing was scheduled (as after a crash). */
  async function pending(userId: string, runAt: number, reason: LeaveReason = 'closed'): Promise<CleanupJobData> {
    await state.join(userId, { sessionId: `${userId}-1`, page: '/dashboard', joinedAt: iso(T0), gatewayId: 'gw-1', status: 'visible' });
    const out = await state.leave(userId, `${userId}-1`, runAt - 1000, runAt, reason);
    if (out.kind !== 'scheduled') throw new Error('expected a scheduled cleanup');
    return { userId, epoch: out.epoch, runAt: iso(runAt), reason };
  }

  beforeAll(() => Logger.overrideLogger(false));

  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
    state = new FakeState(10);
    add = jest.fn(async () => true);
    remove = jest.fn(async () => {});
    promote = jest.fn(async () => {});
    caughtUp = jest.fn(async () => {});
    jobProcessor = undefined;
    handled = [];
    handler.mockClear();
    cleanups = Cleanups.withPorts({ jobs: { add, remove, promote, startWorker: (p) => void (jobProcessor = p) }, barrier: { caughtUp }, state });
  });

  afterEach(() => {
    cleanups.onApplicationShutdown();
    jest.useRealTimers();
  });

  /** A cleanup of alice's due 5 s after T0: nothing before its time, then the barrier, the run, and its job removed. */
  async function expectRunAtItsTime(data: CleanupJobData) {
    await jest.advanceTimersByTimeAsync(4999);
    expect(handled).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(caughtUp).toHaveBeenCalledWith('alice');
    expect(handled).toEqual([data]);
    expect(remove).toHaveBeenCalledWith(cleanupJobId('alice', data.epoch));
  }

  it('schedule adds the safety-net job and runs the cleanup here at its time, never earlier, then removes the job', async () => {
    cleanups.onDue(handler);
    const data = await pending('alice', T0 + 5000);
    await cleanups.schedule(data);
    expect(add).toHaveBeenCalledWith(data, {});
    await expectRunAtItsTime(data);
  });

  it('a due cleanup waits for the session events stored before it (the barrier) before it runs', async () => {
    let release!: () => void;
    caughtUp.mockImplementation(() => new Promise<void>((r) => (release = r)));
    cleanups.onDue(handler);
    const data = await pending('alice', T0 + 5000);
    await cleanups.schedule(data);
    await jest.advanceTimersByTimeAsync(5000);
    expect(caughtUp).toHaveBeenCalledTimes(1);
    expect(handled).toEqual([]);
    release();
    await jest.advanceTimersByTimeAsync(0);
    expect(handled).toEqual([data]);
  });

  it('cancel disarms the timer and removes the job', async () => {
    cleanups.onDue(handler);
    const data = await pending('alice', T0 + 5000);
    await cleanups.schedule(data);
    await cleanups.cancel('alice', data.epoch);
    expect(remove).toHaveBeenCalledWith(cleanupJobId('alice', data.epoch));
    await jest.advanceTimersByTimeAsync(10_000);
    expect(handled).toEqual([]);
  });

  it("a run that fails here hands the cleanup to BullMQ (its job is promoted, to be retried)", async () => {
    cleanups.onDue(async () => Promise.reject(new Error('Redis away')));
    const data = await pending('alice', T0 + 100);
    await cleanups.schedule(data);
    await jest.advanceTimersByTimeAsync(100);
    expect(promote).toHaveBeenCalledWith(cleanupJobId('alice', data.epoch));
    expect(remove).not.toHaveBeenCalled();
  });

  it('a timer that fires before a handler is set hands the cleanup to BullMQ', async () => {
    const data = await pending('alice', T0 + 100);
    await cleanups.schedule(data);
    await jest.advanceTimersByTimeAsync(100);
    expect(promote).toHaveBeenCalledWith(cleanupJobId('alice', data.epoch));
  });

  it('a revived job that BullMQ retries at once arms no timer here', async () => {
    cleanups.onDue(handler);
    add.mockResolvedValue(false);
    const data = await pending('alice', T0 + 100);
    await cleanups.schedule(data, { revive: true });
    await jest.advanceTimersByTimeAsync(1000);
    expect(handled).toEqual([]);
  });

  it("BullMQ's job waits for the barrier only while its cleanup is still pending (the timer has not run it)", async () => {
    cleanups.onDue(handler);
    const data = await pending('alice', T0 - 100);
    expect(await jobProcessor!(data)).toEqual({ outcome: 'offline' });
    expect(caughtUp).toHaveBeenCalledTimes(1);
    await state.cleanup('alice', data.epoch);
    await jobProcessor!(data);
    expect(caughtUp).toHaveBeenCalledTimes(1);
    expect(handled).toEqual([data, data]);
  });

  it("a timer that fires before the cleanup's time (the clock stepped back) does not run it: it is armed again for its time", async () => {
    cleanups.onDue(handler);
    const data = await pending('alice', T0 + 100);
    await cleanups.schedule(data);
    // When the timer fires, Date.now() is 5 ms short of runAt.
    jest.setSystemTime(T0 - 5);
    await jest.advanceTimersByTimeAsync(100);
    expect(handled).toEqual([]);
    expect(caughtUp).not.toHaveBeenCalled();
    await jest.advanceTimersByTimeAsync(5);
    expect(handled).toEqual([data]);
    expect(remove).toHaveBeenCalledWith(cleanupJobId('alice', data.epoch));
    expect(promote).not.toHaveBeenCalled();
  });

  it('a job that starts before its time (promoted by hand, another clock) does not run it: it answers early and the cleanup runs here at its time', async () => {
    cleanups.onDue(handler);
    // Scheduled by another replica: no timer here until the job comes.
    const data = await pending('alice', T0 + 5000);
    expect(await jobProcessor!(data)).toBe('early');
    expect(caughtUp).not.toHaveBeenCalled();
    expect(handled).toEqual([]);
    await expectRunAtItsTime(data);
  });

  it('the first adoption arms a timer for every pending cleanup, with its own epoch and time, adding no job', async () => {
    cleanups.onDue(handler);
    const alice = await pending('alice', T0 + 1000);
    const bob = await pending('bob', T0 + 2000, 'lost');
    const carol = await pending('carol', T0 - 8000);
    expect(await cleanups.adoptPending()).toBe(3);
    await jest.advanceTimersByTimeAsync(0);
    expect(handled).toEqual([carol]);
    await jest.advanceTimersByTimeAsync(1000);
    expect(handled).toEqual([carol, alice]);
    await jest.advanceTimersByTimeAsync(1000);
    expect(handled).toEqual([carol, alice, bob]);
    expect(add).not.toHaveBeenCalled();
  });

  it('a first adoption that failed (Redis away) is made whole by the next', async () => {
    cleanups.onDue(handler);
    const alice = await pending('alice', T0 + 1000);
    const dueCleanups = jest.spyOn(state, 'dueCleanups').mockRejectedValueOnce(new Error('Redis away'));
    await expect(cleanups.adoptPending()).rejects.toThrow('Redis away');
    expect(await cleanups.adoptPending()).toBe(1);
    expect(dueCleanups.mock.lastCall?.[0]).toBe(Number.MAX_SAFE_INTEGER);
    await jest.advanceTimersByTimeAsync(1000);
    expect(handled).toEqual([alice]);
    expect(add).not.toHaveBeenCalled();
  });

  it('later adoptions re-add only cleanups overdue by more than 1 s, with their own epoch, reviving a failed job, and watch them', async () => {
    expect(await cleanups.adoptPending()).toBe(0);
    // Lost after the first adoption (a crash before their job was added): bob due 1.5 s ago; carol 0.5 s ago; dave in 2 s.
    const bob = await pending('bob', T0 - 1500);
    await pending('carol', T0 - 500, 'lost');
    await pending('dave', T0 + 2000, 'logout');
    expect(await cleanups.adoptPending()).toBe(1);
    expect(add.mock.calls).toEqual([[bob, { revive: true }]]);

    // 600 ms later carol is overdue by more than a second too; bob's timer ran (no handler: promoted), so he is re-added.
    add.mockClear();
    await jest.advanceTimersByTimeAsync(600);
    expect(promote).toHaveBeenCalledWith(cleanupJobId('bob', bob.epoch));
    expect(await cleanups.adoptPending()).toBe(2);
    expect(add.mock.calls.map((c) => c[0].userId).sort()).toEqual(['bob', 'carol']);
    expect(add.mock.calls.find((c) => c[0].userId === 'carol')![0].reason).toBe('lost');
  });

  it('later adoptions leave an overdue cleanup watched here (since the first adoption, after a restart) to its timer', async () => {
    await pending('bob', T0 - 8000);
    await pending('carol', T0 - 8000);
    expect(await cleanups.adoptPending()).toBe(2);
    const dan = await pending('dan', T0 - 8000);
    expect(await cleanups.adoptPending()).toBe(1);
    expect(add.mock.calls).toEqual([[dan, { revive: true }]]);
  });

  it('later adoptions leave a cleanup being run here alone', async () => {
    let release!: () => void;
    caughtUp.mockImplementation(() => new Promise<void>((r) => (release = r)));
    cleanups.onDue(handler);
    expect(await cleanups.adoptPending()).toBe(0);
    const bob = await pending('bob', T0 + 100);
    await cleanups.schedule(bob);
    add.mockClear();
    await jest.advanceTimersByTimeAsync(100);
    // The run waits for the barrier past the grace: still watched, not lost.
    await jest.advanceTimersByTimeAsync(1500);
    expect(await cleanups.adoptPending()).toBe(0);
    expect(add).not.toHaveBeenCalled();
    release();
    await jest.advanceTimersByTimeAsync(0);
    expect(handled).toEqual([bob]);
  });

  it('adoption skips users who came back or went offline', async () => {
    await pending('bob', T0 - 5000);
    await state.join('bob', { sessionId: 'bob-2', page: '/dashboard', joinedAt: iso(T0), gatewayId: 'gw-1', status: 'visible' });
    const carol = await pending('carol', T0 - 5000);
    await state.cleanup('carol', carol.epoch);
    expect(await cleanups.adoptPending()).toBe(0);
    expect(await cleanups.adoptPending()).toBe(0);
    expect(add).not.toHaveBeenCalled();
  });
});
