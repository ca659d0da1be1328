import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Stack, sleep, uniqueUser, until, type Tab } from '../support/harness.js';
import { FAST, converged, expectNeverTwoManagers, fastEnv, restart } from '../support/faults.js';
import { PRESENCE_ACK_WAIT_MS } from '#libs/nats/streams.js';
import { parseMetrics, sum } from '../../bench/prom.js';

jest.setTimeout(60_000);

const T = FAST;
// Long enough for a kill -9 and a restart to finish before the cleanup is due, on a loaded 2-core machine too.
const LOGOUT_GRACE_MS = 8000;

describe('the presence app dies', () => {
  const stack = new Stack({ env: fastEnv(T, { CLEANUP_TIMEOUT_LOGOUT_MS: String(LOGOUT_GRACE_MS) }) });
  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it('kill -9 with a cleanup pending and sessions coming and going while it is down: nothing is lost', async () => {
    const pending = uniqueUser('pending');
    const leavesWhileDown = uniqueUser('leaves-down');
    const joinsWhileDown = uniqueUser('joins-down');
    const flickers = uniqueUser('flickers-down');
    const users = [pending, leavesWhileDown, joinsWhileDown, flickers];

    const p = await stack.tab(pending);
    const l = await stack.tab(leavesWhileDown);
    await stack.observer.waitFor(`stream.manager.${pending}.started`);
    await stack.observer.waitFor(`stream.manager.${leavesWhileDown}.started`);
    p.close();
    const [scheduled] = await stack.observer.waitFor(`presence.cleanup.${pending}.scheduled`);
    const runAt = Date.parse(scheduled.data.runAt as string);

    const dead = stack.presence;
    await dead.kill('SIGKILL');
    const killedAt = Date.now();
    // While presence is down: a leave, a join, a join and its leave.
    l.close();
    const j: Tab = await stack.tab(joinsWhileDown);
    const f = await stack.tab(flickers);
    f.close();
    await stack.observer.waitFor(`presence.session.${flickers}.left`);
    // Stay down past the pending cleanup's time.
    await until('past the cleanup time', () => Date.now() > runAt + 500, 5000, 50);
    const presence = await restart(stack, dead);
    const restartedAt = Date.now();
    const downtime = restartedAt - killedAt;

    // The pending cleanup ran, late by no more than the downtime.
    const [offline] = await stack.observer.waitFor(`presence.user.${pending}.offline`, 5000);
    expect(offline.receivedAt - runAt).toBeLessThanOrEqual(downtime + 1000);
    await stack.observer.waitFor(`stream.manager.${pending}.stopped`);
    // The join sent while presence was down started a manager once presence was back.
    const [started] = await stack.observer.waitFor(`stream.manager.${joinsWhileDown}.started`, 5000);
    expect(started.receivedAt).toBeGreaterThan(restartedAt - 2000);
    // The leave sent while presence was down ended its user after the grace, counted from the leave.
    const [left] = stack.observer.on(`presence.session.${leavesWhileDown}.left`);
    const [sched2] = await stack.observer.waitFor(`presence.cleanup.${leavesWhileDown}.scheduled`, 5000);
    expect(Date.parse(sched2.data.runAt as string) - Date.parse(left.data.at as string)).toBe(T.CLEANUP_TIMEOUT_MS);
    await stack.observer.waitFor(`stream.manager.${leavesWhileDown}.stopped`, T.CLEANUP_TIMEOUT_MS + 3000);

    await converged(stack, users, [joinsWhileDown], T.CLEANUP_TIMEOUT_MS + 3000);
    expect(presence.grep(/gateway .* silent/)).toEqual([]);
    for (const u of users) expectNeverTwoManagers(stack, u, new Map());
    j.close();
  });

  it('kill -9 and a quick restart before the cleanup is due: it runs on time, not earlier', async () => {
    const user = uniqueUser('on-time');
    const tab = await stack.tab(user);
    await stack.observer.waitFor(`stream.manager.${user}.started`);
    expect(await tab.socket.emitWithAck('presence:logout')).toEqual({ ok: true });
    tab.close();
    const [scheduled] = await stack.observer.waitFor(`presence.cleanup.${user}.scheduled`);
    expect(scheduled.data.reason).toBe('logout');
    const runAt = Date.parse(scheduled.data.runAt as string);

    const dead = stack.presences[stack.presences.length - 1];
    await dead.kill('SIGKILL');
    await restart(stack, dead);
    expect(Date.now()).toBeLessThan(runAt);
    const [offline] = await stack.observer.waitFor(`presence.user.${user}.offline`, LOGOUT_GRACE_MS + 2000);
    expect(offline.receivedAt).toBeGreaterThanOrEqual(runAt);
    expect(offline.receivedAt - runAt).toBeLessThanOrEqual(500);
    await stack.observer.waitFor(`stream.manager.${user}.stopped`);
    await converged(stack, [user], [], 3000);
  });

  it('presence paused across a return (a GC pause, an overload): the return stored before the cleanup time wins, the manager never stops', async () => {
    const user = uniqueUser('paused');
    const first = await stack.tab(user);
    await stack.observer.waitFor(`stream.manager.${user}.started`);
    first.close();
    const [scheduled] = await stack.observer.waitFor(`presence.cleanup.${user}.scheduled`);
    const runAt = Date.parse(scheduled.data.runAt as string);
    const presence = stack.presences[0];
    const untilTime = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));

    // Presence stops reading just before the cleanup is due; the user comes back meanwhile.
    await untilTime(runAt - 400);
    presence.child!.kill('SIGSTOP');
    try {
      await stack.tab(user);
      const joins = await stack.observer.waitFor(`presence.session.${user}.joined`, 5000, 2);
      expect(joins[1].receivedAt).toBeLessThan(runAt);
      await untilTime(runAt + 300);
    } finally {
      presence.child!.kill('SIGCONT');
    }

    // Both are due at once when it resumes: the cleanup waits for the return, which cancels it.
    await stack.observer.waitFor(`presence.cleanup.${user}.cancelled`, 10_000);
    await until(`${user} present with no cleanup`, async () => {
      const u = await stack.observer.request<{ metas: unknown[]; cleanupAt: string | null }>('presence.query.user', { userId: user });
      return u.metas.length === 1 && u.cleanupAt === null;
    });
    // Past the BullMQ job's own time too (runAt + 1 s): nothing stopped, nothing went offline.
    await untilTime(runAt + 1500);
    expect(stack.observer.on(`presence.user.${user}.offline`)).toHaveLength(0);
    expect(stack.observer.on(`stream.manager.${user}.stopped`)).toHaveLength(0);
    expect(stack.observer.on(`stream.manager.${user}.started`)).toHaveLength(1);
  });

  it('many cleanups due together while the return of one of those users is not applied yet: that return wins, the others stop', async () => {
    const users = Array.from({ length: 12 }, (_, i) => uniqueUser(`many${i}`));
    const back = users[5];
    const redis = stack.backends.redis!;
    const untilTime = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
    const tabs = await Promise.all(users.map((u) => stack.tab(u)));
    await Promise.all(users.map((u) => stack.observer.waitFor(`stream.manager.${u}.started`)));
    for (const t of tabs) t.close();
    const runAts = await Promise.all(users.map(async (u) => Date.parse((await stack.observer.waitFor(`presence.cleanup.${u}.scheduled`))[0].data.runAt as string)));

    // Redis stalls while every cleanup comes due: back's return, stored before any cleanup is due,
    // waits in presence for Redis, unapplied, and so does every cleanup's re-check.
    await untilTime(Math.min(...runAts) - 500);
    redis.kill('SIGSTOP');
    try {
      await stack.tab(back);
      const joins = await stack.observer.waitFor(`presence.session.${back}.joined`, 5000, 2);
      expect(joins[1].receivedAt).toBeLessThan(Math.min(...runAts));
      await untilTime(Math.max(...runAts) + 300);
    } finally {
      redis.kill('SIGCONT');
    }

    await stack.observer.waitFor(`presence.cleanup.${back}.cancelled`, 10_000);
    await Promise.all(users.filter((u) => u !== back).map((u) => stack.observer.waitFor(`stream.manager.${u}.stopped`, 10_000)));
    await untilTime(Math.max(...runAts) + 1500);
    expect(stack.observer.on(`presence.user.${back}.offline`)).toHaveLength(0);
    expect(stack.observer.on(`stream.manager.${back}.stopped`)).toHaveLength(0);
  });
});

describe('Redis stalls longer than the ack wait', () => {
  // Long TTLs: the stall must not expire gateway heartbeats or worker leases, only test the ack wait.
  const stack = new Stack({ env: fastEnv({ GATEWAY_TTL_MS: 20_000, WORKER_TTL_MS: 20_000, CLEANUP_TIMEOUT_MS: 1500 }) });
  beforeAll(() => stack.start());
  afterAll(() => stack.stop());
  /** Presence's handler runs for session events (/metrics): a redelivery is handled again. */
  const handled = async () => {
    const samples = parseMetrics(await (await fetch(`${stack.presence.url}/metrics`)).text());
    return sum(samples, 'nats_event_handle_seconds_count', { kind: 'joined' }) + sum(samples, 'nats_event_handle_seconds_count', { kind: 'left' });
  };

  it('the events presence holds meanwhile are kept alive (`working`), not redelivered, and applied once Redis is back', async () => {
    const leaves = uniqueUser('stall-leaves');
    const joins = uniqueUser('stall-joins');
    const tab = await stack.tab(leaves);
    await stack.observer.waitFor(`stream.manager.${leaves}.started`);
    const before = await handled();
    const redis = stack.backends.redis!;
    redis.kill('SIGSTOP');
    let joinTab: Tab;
    try {
      tab.close();
      joinTab = await stack.tab(joins);
      await stack.observer.waitFor(`presence.session.${leaves}.left`);
      await stack.observer.waitFor(`presence.session.${joins}.joined`);
      // A span of time is the property here: past the 3 s ack wait and a tick of `working()`.
      await sleep(PRESENCE_ACK_WAIT_MS + 1500);
    } finally {
      redis.kill('SIGCONT');
    }
    await stack.observer.waitFor(`stream.manager.${joins}.started`, 10_000);
    await stack.observer.waitFor(`stream.manager.${leaves}.stopped`, 10_000);
    // The leave and the join, each handled once: none was delivered again after the 3 s ack wait.
    await until('both handled', async () => (await handled()) >= before + 2);
    expect(await handled()).toBe(before + 2);
    expect(stack.observer.on(`presence.cleanup.${leaves}.scheduled`)).toHaveLength(1);
    joinTab!.close();
  });
});
