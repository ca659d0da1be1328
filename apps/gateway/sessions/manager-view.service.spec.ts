import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { Namespace, Socket } from 'socket.io';
import { CleanupSubjects, ManagerSubjects, type ManagerStateEvent, type UserPresence } from '#libs/contracts/index.js';
import type { NatsService, SubjectRoute } from '#libs/nats/nats.service.js';
import { subjectMatches } from '#libs/nats/events.transport.js';
import type { SessionRegistry } from './session-registry.js';
import { ASK_RETRY_MS, ManagerViewService, userRoom } from './manager-view.service.js';

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

const manager = { workerId: 'w1', startedAt: '2030-01-01T00:00:00.000Z' };
const presence = (cleanupAt: string | null): UserPresence => ({ userId: 'u', metas: [], cleanupAt, manager });

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
