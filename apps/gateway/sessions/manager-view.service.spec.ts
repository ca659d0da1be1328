import { afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { PresenceNamespace as Namespace, PresenceSocket as Socket } from '../socket-types.js';
import { CleanupSubjects, ManagerSubjects, type ManagerStateEvent, type UserPresence } from '#libs/contracts/index.js';
import type { NatsService, SubjectRoute } from '#libs/nats/nats.service.js';
import { subjectMatches } from '#libs/nats/events.transport.js';
import type { SessionRegistry } from './session-registry.js';
import { ASK_RETRY_MS, ManagerViewService, STALE_CHECK_EVERY_MS, STALE_CHECKS_PER_ROUND, STALE_VIEW_MS, userRoom } from './manager-view.service.js';

/** NATS whose requests the test answers, in the order it chooses. */
class FakeNats {
  readonly nc = { isClosed: () => false };
  readonly subscriptions: Array<{ subject: string; routeOf: (subject: string) => SubjectRoute | undefined }> = [];
  readonly answers: Array<(p: UserPresence) => void> = [];
  /** The same requests, failed instead (a timeout, no responders). */
  readonly refusals: Array<(err: Error) => void> = [];
  subscribeRouted(subject: string, routeOf: (subject: string) => SubjectRoute | undefined) {
    this.subscriptions.push({ subject, routeOf });
    return {};
  }
  unsubscribe() {}
  /** A message on `subject`, to every subscription whose pattern matches it (schemas not applied). */
  deliver(subject: string, payload: unknown) {
    for (const s of this.subscriptions) if (subjectMatches(s.subject, subject)) void s.routeOf(subject)?.handle(payload, subject);
  }
  request<T>(): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.answers.push(resolve as (p: UserPresence) => void);
      this.refusals.push(reject);
    });
  }
}

class FakeTab {
  readonly got: ManagerStateEvent[] = [];
  emit(_event: string, view: ManagerStateEvent) {
    this.got.push(view);
  }
  get last() {
    return this.got.at(-1)?.state;
  }
}

function setup() {
  const nats = new FakeNats();
  const rooms = new Map<string, FakeTab[]>();
  const server = { to: (room: string) => ({ emit: (e: string, v: ManagerStateEvent) => rooms.get(room)?.forEach((t) => t.emit(e, v)) }) };
  const here = new Set(['u']);
  const registry = { hasUser: (u: string) => here.has(u) } as unknown as SessionRegistry;
  const views = new ManagerViewService(nats as unknown as NatsService, registry);
  views.attach(server as unknown as Namespace);
  views.follow('u');
  const tab = (userId: string) => {
    const t = new FakeTab();
    rooms.set(userRoom(userId), [...(rooms.get(userRoom(userId)) ?? []), t]);
    return t;
  };
  return { nats, views, tab, here };
}

// The retries and checks log a line per unanswered query: the assertions say what matters.
beforeAll(() => {
  Logger.overrideLogger(false);
});

const manager = { workerId: 'w1', startedAt: '2030-01-01T00:00:00.000Z' };
const presence = (cleanupAt: string | null): UserPresence => ({ userId: 'u', metas: [], cleanupAt, manager });
/** What presence answers before the user's manager has taken its lease. */
const noManagerYet = (userId = 'u'): UserPresence => ({ userId, metas: [], cleanupAt: null, manager: null });

describe('ManagerViewService: every tab of a user ends on the same state', () => {
  it('two tabs greeted across a cancelled cleanup both end running (the stale answer first)', async () => {
    const { nats, views, tab } = setup();
    const a = tab('u');
    const b = tab('u');
    const greetA = views.greet(a as unknown as Socket, 'u');
    const greetB = views.greet(b as unknown as Socket, 'u');
    // A's query was answered before presence applied the return, B's after it.
    nats.answers[0](presence('2030-01-01T00:00:05.000Z'));
    await greetA;
    expect(a.last).toBe('stopping');
    nats.answers[1](presence(null));
    await greetB;
    // The cancellation itself arrives last, equal to what B's answer said.
    nats.deliver(CleanupSubjects.cancelled('u'), { userId: 'u', at: '2030-01-01T00:00:01.000Z' });
    expect(b.last).toBe('running');
    expect(a.last).toBe('running');
  });

  it('an answer equal to what the tabs were told is sent to the greeting tab only', async () => {
    const { nats, views, tab } = setup();
    const a = tab('u');
    const b = tab('u');
    const greetA = views.greet(a as unknown as Socket, 'u');
    const greetB = views.greet(b as unknown as Socket, 'u');
    nats.answers[0](presence(null));
    await greetA;
    nats.answers[1](presence(null));
    await greetB;
    expect(a.got.map((v) => v.state)).toEqual(['running']);
    expect(b.got.map((v) => v.state)).toEqual(['running']);
  });
});

describe('ManagerViewService: one `manager` event per change', () => {
  it('an event that overtakes the greeting query reaches the tab once, and the stale answer not at all', async () => {
    const { nats, views, tab } = setup();
    const a = tab('u');
    const greet = views.greet(a as unknown as Socket, 'u');
    nats.deliver(ManagerSubjects.started('u'), { userId: 'u', workerId: 'w1', at: '2030-01-01T00:00:00.000Z' });
    nats.answers[0]({ userId: 'u', metas: [], cleanupAt: null, manager: null });
    await greet;
    expect(a.got).toEqual([{ userId: 'u', state: 'running', workerId: 'w1' }]);
  });
});

describe('ManagerViewService: a user who leaves and comes back', () => {
  it("is not sent the late answer of their earlier tab's query (asked before the manager started)", async () => {
    const { nats, views, tab, here } = setup();
    const a = tab('u');
    const greetA = views.greet(a as unknown as Socket, 'u');
    // Presence read its state before the lease; the manager then started and the event reached this
    // gateway, but the answer itself is slow. Meanwhile the tab closes and the user opens another.
    nats.deliver(ManagerSubjects.started('u'), { userId: 'u', workerId: 'w1', at: '2030-01-01T00:00:00.000Z' });
    here.delete('u');
    views.forget('u');
    here.add('u');
    views.follow('u');
    const b = tab('u');
    const greetB = views.greet(b as unknown as Socket, 'u');
    nats.answers[1](presence(null));
    await greetB;
    expect(b.last).toBe('running');
    nats.answers[0](noManagerYet());
    await greetA;
    expect(b.got.map((v) => v.state)).toEqual(['running']);
  });

  it('an answer that arrives after the user left keeps nothing for them', async () => {
    const { nats, views, tab, here } = setup();
    const a = tab('u');
    const greet = views.greet(a as unknown as Socket, 'u');
    here.delete('u');
    views.forget('u');
    nats.answers[0](presence(null));
    await greet;
    // Nothing known: a new tab of theirs is greeted with a fresh question, not the old answer.
    here.add('u');
    views.follow('u');
    void views.greet(tab('u') as unknown as Socket, 'u');
    expect(nats.answers).toHaveLength(2);
  });
});

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
