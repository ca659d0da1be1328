import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Queue } from 'bullmq';
import { loadConfig } from '#libs/config/index.js';
import { createRedis, type RedisClient } from '#libs/redis/index.js';
import { CLEANUP_QUEUE, type CleanupJobData } from '../libs/contracts/jobs.js';
import { redisKeys } from '../libs/redis/keys.js';
import { PresenceStateRepository } from '../apps/presence/state/presence-state.repository.js';
import { FakeGateway, Stack, sleep, uniqueUser, until } from './support/harness.js';

/**
 * Session events out of order or twice, published for real on NATS (plain, or durable with the
 * gateway's msgId), against the real presence and stream-workers: the end state must be right.
 * A FakeGateway plays the gateway, so the test controls the exact order of events.
 */

jest.setTimeout(60_000);

const CLEANUP_MS = 1500;
const stack = new Stack({ env: { CLEANUP_TIMEOUT_MS: String(CLEANUP_MS) } });
let gw: FakeGateway;
let queue: Queue<CleanupJobData>;
let redis: RedisClient;
/** Presence's own state scripts, run by the test: a state change that presence did not follow up. */
let state: PresenceStateRepository;

beforeAll(async () => {
  await stack.start();
  gw = new FakeGateway(stack.observer).start();
  queue = new Queue<CleanupJobData>(CLEANUP_QUEUE, { connection: { url: stack.backends.redisUrl }, prefix: redisKeys('pl').bullPrefix });
  redis = createRedis(stack.backends.redisUrl, 'e2e');
  state = new PresenceStateRepository(redis, loadConfig({ NODE_ENV: 'development', REDIS_URL: stack.backends.redisUrl }));
});
afterAll(async () => {
  gw?.stop();
  redis?.disconnect();
  await queue?.close();
  await stack.stop();
});

interface UserAnswer {
  userId: string;
  metas: Array<{ sessionId: string; status: string }>;
  cleanupAt: string | null;
}
const userState = (userId: string) => stack.observer.request<UserAnswer>('presence.query.user', { userId });
const managerUsers = async () => (await stack.observer.request<{ managers: Array<{ userId: string }> }>('stream.query.managers')).managers.map((m) => m.userId);
const count = (subject: string) => stack.observer.on(subject).length;

/**
 * Every event of a user before this call has been applied: presence handles one user's events in
 * order, so once a status update sent now shows in the state, everything sent earlier is done.
 */
async function barrier(userId: string, sessionId: string) {
  const before = await userState(userId);
  const current = before.metas.find((m) => m.sessionId === sessionId)?.status;
  const status = current === 'hidden' ? 'idle' : 'hidden';
  stack.observer.publish(`presence.session.${userId}.updated`, JSON.stringify({ sessionId, userId, status, at: new Date().toISOString() }));
  await until(`${userId} ${sessionId} status ${status}`, async () => (await userState(userId)).metas.find((m) => m.sessionId === sessionId)?.status === status);
}

/** The user is gone for good: no session, no pending cleanup, no manager anywhere. */
async function expectGone(userId: string) {
  await until(`${userId} has no manager`, async () => !(await managerUsers()).includes(userId));
  expect(await userState(userId)).toMatchObject({ metas: [], cleanupAt: null });
}

async function cleanupJobs(userId: string) {
  const jobs = await queue.getJobs(['delayed', 'wait', 'active', 'completed', 'failed']);
  return jobs.filter((j) => j?.data?.userId === userId);
}

/** A user whose one session joined (manager started) and left: their cleanup and its delayed job. */
async function leftWithDelayedJob(name: string) {
  const u = uniqueUser(name);
  await gw.join(u, 's1');
  await stack.observer.waitFor(`stream.manager.${u}.started`);
  await gw.leave(u, 's1');
  const [scheduled] = await stack.observer.waitFor(`presence.cleanup.${u}.scheduled`);
  const runAt = Date.parse(String(scheduled.data.runAt));
  const [job] = await until('the delayed cleanup job', async () => {
    const jobs = await cleanupJobs(u);
    return jobs.length > 0 && (await jobs[0].isDelayed()) ? jobs : undefined;
  });
  return { u, runAt, job };
}

describe('messages out of order or twice', () => {
  it.each([
    ['plain', true],
    ['durable', false],
  ])('a leave before its join (%s): the session never counts, the user never comes online for it', async (_kind, plain) => {
    const u = uniqueUser('leave-first');
    await gw.leave(u, 's1', { plain });
    await gw.join(u, 's1', { plain, track: false });
    // A real session after them, on the same user: handled after both.
    await gw.join(u, 's2');
    await stack.observer.waitFor(`stream.manager.${u}.started`);
    await barrier(u, 's2');
    const state = await userState(u);
    expect(state.metas.map((m) => m.sessionId)).toEqual(['s2']);
    expect(count(`presence.user.${u}.online`)).toBe(1);

    await gw.leave(u, 's2');
    await stack.observer.waitFor(`stream.manager.${u}.stopped`, 10_000);
    await expectGone(u);
    expect(count(`stream.manager.${u}.started`)).toBe(1);
    expect(count(`presence.cleanup.${u}.scheduled`)).toBe(1);
  });

  it('a join sent four times (durable twice with one msgId, plain twice) is one session and one manager', async () => {
    const u = uniqueUser('dup-join');
    const body = JSON.stringify(gw.joinedPayload(u, 's1'));
    gw.sessions.set('s1', JSON.parse(body));
    const subject = `presence.session.${u}.joined`;
    expect(await stack.observer.publishDurable(subject, body, `${u}-s1-joined`)).toEqual({ duplicate: false });
    // JetStream's duplicate window drops the gateway's retry.
    expect(await stack.observer.publishDurable(subject, body, `${u}-s1-joined`)).toEqual({ duplicate: true });
    stack.observer.publish(subject, body);
    stack.observer.publish(subject, body);
    await stack.observer.waitFor(`stream.manager.${u}.started`);
    await barrier(u, 's1');
    expect((await userState(u)).metas.map((m) => m.sessionId)).toEqual(['s1']);
    expect(count(`presence.user.${u}.online`)).toBe(1);
    expect(count(`stream.manager.${u}.started`)).toBe(1);
    expect(await managerUsers()).toContain(u);

    // One session: its one leave is the last one. A repeated leave schedules nothing more.
    await gw.leave(u, 's1');
    await gw.leave(u, 's1', { plain: true });
    await stack.observer.waitFor(`stream.manager.${u}.stopped`, 10_000);
    await expectGone(u);
    expect(count(`presence.cleanup.${u}.scheduled`)).toBe(1);
    expect(count(`presence.user.${u}.offline`)).toBe(1);
  });

  it('a duplicate cleanup job: an add with the same id is ignored; a second job of the same epoch finds nothing to do', async () => {
    const { u, runAt, job } = await leftWithDelayedJob('dup-job');
    expect(job.id).toBe(`cleanup-${u}-${job.data.epoch}`);
    // The overdue sweep (or a retry) adds the same job again: BullMQ keeps one.
    await queue.add(job.name, job.data, { jobId: job.id, delay: Math.max(0, runAt - Date.now()) });
    expect(await cleanupJobs(u)).toHaveLength(1);
    // A second job of the same epoch under another id (a replica that re-queued it): both run.
    await queue.add(job.name, job.data, { jobId: `${job.id}-again`, delay: Math.max(0, runAt - Date.now()) });

    const [stopped] = await stack.observer.waitFor(`stream.manager.${u}.stopped`, 10_000);
    expect(stopped.receivedAt).toBeGreaterThanOrEqual(runAt);
    // Presence's timer does the cleanup at runAt and removes its own job; the stray job runs through
    // BullMQ and finds the cleanup done (and says when). Exactly one run takes the user offline.
    const done = await until('the timer removed its job, the stray one finished', async () => {
      const jobs = await cleanupJobs(u);
      return jobs.length === 1 && jobs[0].id === `${job.id}-again` && jobs[0].finishedOn ? jobs : undefined;
    });
    expect((done[0].returnvalue as { outcome: string }).outcome).toMatch(/^offline( at .* \(already run by the cleanup timer\))?$/);
    await expectGone(u);
    expect(count(`presence.user.${u}.offline`)).toBe(1);
    expect(count(`stream.manager.${u}.stopped`)).toBe(1);
  });

  it('a cleanup racing a return (the return lands just before, at, or just after runAt): the user ends present with one running manager', async () => {
    const offsets = [-40, -10, 0, 5, 15, 40];
    const users = offsets.map(() => uniqueUser('race'));
    await Promise.all(users.map((u) => gw.join(u, 's1')));
    for (const u of users) await stack.observer.waitFor(`stream.manager.${u}.started`);
    await Promise.all(users.map((u) => gw.leave(u, 's1')));
    await Promise.all(
      users.map(async (u, i) => {
        const [scheduled] = await stack.observer.waitFor(`presence.cleanup.${u}.scheduled`);
        const at = Date.parse(String(scheduled.data.runAt)) + offsets[i];
        // Deliberately timed: the point is to land the return on the cleanup's instant.
        await sleep(Math.max(0, at - Date.now()));
        await gw.join(u, 's2');
      }),
    );
    for (const u of users) {
      await until(`${u} present again with no cleanup pending`, async () => {
        const s = await userState(u);
        return s.metas.length === 1 && s.metas[0].sessionId === 's2' && s.cleanupAt === null;
      });
      await until(`${u} has a manager`, async () => (await managerUsers()).includes(u));
      // Either the cleanup lost (cancelled: never stopped) or won (stopped, then started again).
      await until(`${u} started once more than stopped`, () => count(`stream.manager.${u}.started`) === count(`stream.manager.${u}.stopped`) + 1);
    }
    // The managers keep running: nothing is pending that could stop them.
    const after = Date.now();
    await sleep(CLEANUP_MS + 300);
    for (const u of users) expect(stack.observer.on(`stream.manager.${u}.stopped`).filter((s) => s.receivedAt > after)).toHaveLength(0);
    expect((await managerUsers()).filter((u) => users.includes(u)).sort()).toEqual([...users].sort());

    await Promise.all(users.map((u) => gw.leave(u, 's2')));
    for (const u of users) await expectGone(u);
  });

  it('leave, return and leave again while the first cleanup job runs: the second leave still gets its own cleanup', async () => {
    const offsets = [0, 1, 2, 4, 8, 16];
    const users = offsets.map(() => uniqueUser('relapse'));
    await Promise.all(users.map((u) => gw.join(u, 's1')));
    for (const u of users) await stack.observer.waitFor(`stream.manager.${u}.started`);
    await Promise.all(users.map((u) => gw.leave(u, 's1')));
    const secondLeftAt = new Map<string, number>();
    await Promise.all(
      users.map(async (u, i) => {
        const [scheduled] = await stack.observer.waitFor(`presence.cleanup.${u}.scheduled`);
        await until(`${u}'s first cleanup job`, async () => {
          const js = await cleanupJobs(u);
          return js.length > 0 ? js : undefined;
        });
        await sleep(Math.max(0, Date.parse(String(scheduled.data.runAt)) + offsets[i] - Date.now()));
        await gw.join(u, 's2');
        secondLeftAt.set(u, Date.now());
        await gw.leave(u, 's2');
      }),
    );
    for (const u of users) {
      // The first cleanup may run just before the return is applied (the return came after its
      // time): then the manager may stop and a second start for the second spell, and for a moment
      // the user is in grace with none registered yet. So wait for the end of all of it, then check
      // that every manager that started stopped once.
      await until(`${u} offline, with no manager`, async () => {
        const s = await userState(u);
        return !(await managerUsers()).includes(u) && s.metas.length === 0 && s.cleanupAt === null ? true : undefined;
      });
      await until(`${u}'s managers each stopped once`, () => Promise.resolve(count(`stream.manager.${u}.started`) === count(`stream.manager.${u}.stopped`) || undefined));
      // The last stop came a full grace period after the second leave, never earlier.
      const last = stack.observer.on(`stream.manager.${u}.stopped`).at(-1)!;
      expect(last.receivedAt - secondLeftAt.get(u)!).toBeGreaterThanOrEqual(CLEANUP_MS - 50);
      // The second leave had a cleanup of its own, which went offline at its time (above); every job
      // of the user is settled: removed by the timer that ran it or by the return, or finished.
      expect(count(`presence.cleanup.${u}.scheduled`)).toBe(2);
      await until(`${u}'s cleanup jobs settled`, async () => (await cleanupJobs(u)).every((j) => j.finishedOn) || undefined);
    }
  });

  it('a cleanup job promoted before its time (by hand on the board) still stops the manager no earlier than runAt', async () => {
    const { u, runAt, job } = await leftWithDelayedJob('promoted');
    await job.promote();
    // The board shows it delayed again (the safety net), and presence's log says why.
    await until('the promoted job is delayed again', async () => {
      const again = await queue.getJob(job.id!);
      return again?.processedOn && (await again.isDelayed());
    });
    await stack.presence.waitForLine(new RegExp(`cleanup ${job.id}: its job started \\d+ ms before its time`));
    const [offline] = await stack.observer.waitFor(`presence.user.${u}.offline`, 10_000);
    const [stopped] = await stack.observer.waitFor(`stream.manager.${u}.stopped`, 10_000);
    expect(Date.parse(String(offline.data.at))).toBeGreaterThanOrEqual(runAt);
    expect(Date.parse(String(stopped.data.at))).toBeGreaterThanOrEqual(runAt);
    await expectGone(u);
  });

  it('a cleanup whose job was never added (presence died between the state change and the add) is adopted: its job re-added, it runs, not before runAt', async () => {
    const u = uniqueUser('lost-job');
    await gw.join(u, 'lost1');
    await stack.observer.waitFor(`stream.manager.${u}.started`);
    // The leave applied by presence's script and nothing after it: no job, no timer anywhere.
    gw.sessions.delete('lost1');
    const leftAt = Date.now();
    const runAt = leftAt + CLEANUP_MS;
    expect((await state.leave(u, 'lost1', leftAt, runAt, 'closed', gw.gatewayId)).kind).toBe('scheduled');
    expect(await cleanupJobs(u)).toEqual([]);
    const [offline] = await stack.observer.waitFor(`presence.user.${u}.offline`, 10_000);
    expect(Date.parse(String(offline.data.at))).toBeGreaterThanOrEqual(runAt);
    await stack.presence.waitForLine(/re-queued 1 overdue cleanup/);
    await expectGone(u);
  });

  it('afterwards the state is empty: no user, session, pending cleanup or manager left behind', async () => {
    await until('stats settle at zero', async () => {
      const s = await stack.observer.request<{ users: number; sessions: number; pendingCleanups: number; managers: number }>('presence.query.stats');
      return s.users === 0 && s.sessions === 0 && s.pendingCleanups === 0 && s.managers === 0 ? s : undefined;
    });
    expect(await managerUsers()).toEqual([]);
    for (const app of stack.apps) expect(app.alive).toBe(true);
  });
});
