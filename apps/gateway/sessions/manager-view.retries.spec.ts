import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { CleanupSubjects, ManagerSubjects } from '#libs/contracts/index.js';
import { ASK_RETRY_MS, STALE_CHECK_EVERY_MS, STALE_CHECKS_PER_ROUND, STALE_VIEW_MS } from './manager-view.service.js';
import type { PresenceSocket as Socket } from '../socket-types.js';
import { noManagerYet, presence, setup, quietLogs } from './manager-view.service.fake.js';

quietLogs();

describe('ManagerViewService: a query presence does not answer is asked again', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('a greeting whose query failed is followed by the answer of a later one', async () => {
    const { nats, views, tab } = setup();
    const a = tab('u');
    const greet = views.greet(a as unknown as Socket, 'u');
    nats.refusals[0](new Error('TIMEOUT'));
    await greet;
    expect(a.last).toBe('starting');
    await jest.advanceTimersByTimeAsync(ASK_RETRY_MS[0]);
    expect(nats.answers).toHaveLength(2);
    nats.answers[1](presence(null));
    await jest.advanceTimersByTimeAsync(0);
    expect(a.got.map((v) => v.state)).toEqual(['starting', 'running']);
  });

  it('a refresh keeps asking, backing off, until presence answers', async () => {
    const { nats, views, tab } = setup();
    const a = tab('u');
    nats.deliver(CleanupSubjects.scheduled('u'), { userId: 'u', epoch: 1, runAt: '2030-01-01T00:00:05.000Z', at: '2030-01-01T00:00:00.000Z' });
    expect(a.last).toBe('stopping');
    const refresh = views.refresh('u');
    nats.refusals[0](new Error('TIMEOUT'));
    await refresh;
    await jest.advanceTimersByTimeAsync(ASK_RETRY_MS[0]);
    nats.refusals[1](new Error('TIMEOUT'));
    // The second retry waits longer than the first.
    await jest.advanceTimersByTimeAsync(ASK_RETRY_MS[0]);
    expect(nats.answers).toHaveLength(2);
    await jest.advanceTimersByTimeAsync(ASK_RETRY_MS[1]);
    expect(nats.answers).toHaveLength(3);
    nats.answers[2](presence(null));
    await jest.advanceTimersByTimeAsync(0);
    expect(a.last).toBe('running');
  });

  it('stops asking for a user who left, and after the last attempt', async () => {
    const { nats, views, here } = setup();
    const first = views.refresh('u');
    nats.refusals[0](new Error('TIMEOUT'));
    await first;
    views.forget('u');
    here.delete('u');
    await jest.advanceTimersByTimeAsync(60_000);
    expect(nats.answers).toHaveLength(1);

    here.add('u');
    views.follow('u');
    const again = views.refresh('u');
    let asked = 1;
    nats.refusals[asked++](new Error('TIMEOUT'));
    await again;
    for (let i = 0; i < ASK_RETRY_MS.length; i++) {
      await jest.advanceTimersByTimeAsync(ASK_RETRY_MS[i]);
      expect(nats.answers).toHaveLength(asked + 1);
      nats.refusals[asked++](new Error('TIMEOUT'));
    }
    await jest.advanceTimersByTimeAsync(60_000);
    expect(nats.answers).toHaveLength(asked);
  });
});

describe('ManagerViewService: a view that waits without news is checked again', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('a tab left on starting (its event missed) is moved to running once presence says so', async () => {
    const { nats, views, tab } = setup();
    const a = tab('u');
    const greet = views.greet(a as unknown as Socket, 'u');
    nats.answers[0](noManagerYet());
    await greet;
    expect(a.last).toBe('starting');
    await jest.advanceTimersByTimeAsync(STALE_VIEW_MS - STALE_CHECK_EVERY_MS);
    expect(nats.answers).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(STALE_CHECK_EVERY_MS * 2);
    expect(nats.answers).toHaveLength(2);
    nats.answers[1](presence(null));
    await jest.advanceTimersByTimeAsync(0);
    expect(a.got.map((v) => v.state)).toEqual(['starting', 'running']);
    // Running is the steady state: never asked about again.
    await jest.advanceTimersByTimeAsync(STALE_VIEW_MS * 4);
    expect(nats.answers).toHaveLength(2);
  });

  it('asks a bounded number per round, and not again before STALE_VIEW_MS even when unanswered', async () => {
    const { nats, views, here } = setup();
    const users = Array.from({ length: STALE_CHECKS_PER_ROUND + 10 }, (_, i) => `u${i}`);
    for (const u of users) {
      here.add(u);
      views.follow(u);
      nats.deliver(ManagerSubjects.stopped(u), { userId: u, workerId: 'w1', reason: 'lease_lost', at: '2030-01-01T00:00:00.000Z' });
    }
    await jest.advanceTimersByTimeAsync(STALE_VIEW_MS + STALE_CHECK_EVERY_MS - 1);
    expect(nats.answers).toHaveLength(STALE_CHECKS_PER_ROUND);
    await jest.advanceTimersByTimeAsync(STALE_CHECK_EVERY_MS);
    expect(nats.answers).toHaveLength(users.length);
    // Unanswered (presence down): no retries of their own, and the next check only after STALE_VIEW_MS.
    for (const refuse of nats.refusals) refuse(new Error('TIMEOUT'));
    await jest.advanceTimersByTimeAsync(STALE_VIEW_MS - 2 * STALE_CHECK_EVERY_MS);
    expect(nats.answers).toHaveLength(users.length);
    await jest.advanceTimersByTimeAsync(STALE_CHECK_EVERY_MS);
    expect(nats.answers).toHaveLength(users.length + STALE_CHECKS_PER_ROUND);
  });
});

describe('ManagerViewService: fencing by lease generation', () => {
  it("a paused worker's late stop (an older generation) does not flip the tabs; the current holder's does", async () => {
    const { nats, views, tab } = setup();
    const t = tab('u');
    const greeting = views.greet(t as unknown as Socket, 'u');
    nats.answers[0](noManagerYet());
    await greeting;
    nats.deliver(ManagerSubjects.started('u'), { userId: 'u', workerId: 'w1', at: '2030-01-01T00:00:00.000Z', generation: 10 });
    // w1 froze past its lease; w2 took the user over.
    nats.deliver(ManagerSubjects.started('u'), { userId: 'u', workerId: 'w2', at: '2030-01-01T00:00:20.000Z', generation: 20 });
    expect(t.got.at(-1)).toEqual({ userId: 'u', state: 'running', workerId: 'w2' });
    // w1 wakes up, finds its lease taken and says it stopped: stale.
    nats.deliver(ManagerSubjects.stopped('u'), { userId: 'u', workerId: 'w1', reason: 'lease_lost', at: '2030-01-01T00:00:21.000Z', generation: 10 });
    nats.deliver(ManagerSubjects.started('u'), { userId: 'u', workerId: 'w1', at: '2030-01-01T00:00:00.500Z', generation: 10 });
    expect(t.got.at(-1)).toEqual({ userId: 'u', state: 'running', workerId: 'w2' });
    // The current holder moving the manager is news.
    nats.deliver(ManagerSubjects.stopped('u'), { userId: 'u', workerId: 'w2', reason: 'handover', at: '2030-01-01T00:00:30.000Z', generation: 20 });
    expect(t.last).toBe('starting');
  });
});
