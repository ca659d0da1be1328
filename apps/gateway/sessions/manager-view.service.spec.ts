import { describe, expect, it } from '@jest/globals';
import type { Namespace, Socket } from 'socket.io';
import { CleanupSubjects, type ManagerStateEvent, type UserPresence } from '#libs/contracts/index.js';
import type { NatsService, SubjectRoute } from '#libs/nats/nats.service.js';
import { subjectMatches } from '#libs/nats/events.transport.js';
import type { SessionRegistry } from './session-registry.js';
import { ManagerViewService, userRoom } from './manager-view.service.js';

/** NATS whose requests the test answers, in the order it chooses. */
class FakeNats {
  readonly nc = { isClosed: () => false };
  readonly subscriptions: Array<{ subject: string; routeOf: (subject: string) => SubjectRoute | undefined }> = [];
  readonly answers: Array<(p: UserPresence) => void> = [];
  subscribeRouted(subject: string, routeOf: (subject: string) => SubjectRoute | undefined) {
    this.subscriptions.push({ subject, routeOf });
    return {};
  }
  /** A message on `subject`, to every subscription whose pattern matches it (schemas not applied). */
  deliver(subject: string, payload: unknown) {
    for (const s of this.subscriptions) if (subjectMatches(s.subject, subject)) void s.routeOf(subject)?.handle(payload, subject);
  }
  request<T>(): Promise<T> {
    return new Promise<T>((resolve) => this.answers.push(resolve as (p: UserPresence) => void));
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
  const registry = { hasUser: () => true } as unknown as SessionRegistry;
  const views = new ManagerViewService(nats as unknown as NatsService, registry);
  views.attach(server as unknown as Namespace);
  views.follow('u');
  const tab = (userId: string) => {
    const t = new FakeTab();
    rooms.set(userRoom(userId), [...(rooms.get(userRoom(userId)) ?? []), t]);
    return t;
  };
  return { nats, views, tab };
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
