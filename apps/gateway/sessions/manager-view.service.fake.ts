import { beforeAll } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { PresenceNamespace as Namespace } from '../socket-types.js';
import type { ManagerStateEvent, UserPresence } from '#libs/contracts/index.js';
import type { NatsService, SubjectRoute } from '#libs/nats/nats.service.js';
import { subjectMatches } from '#libs/nats/events.transport.js';
import type { SessionRegistry } from './session-registry.js';
import { ManagerViewService, userRoom } from './manager-view.service.js';

/** For ManagerViewService's unit specs: NATS whose requests a test answers, tabs that record what they were sent. */
/** NATS whose requests the test answers, in the order it chooses. */
export class FakeNats {
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

export class FakeTab {
  readonly got: ManagerStateEvent[] = [];
  emit(_event: string, view: ManagerStateEvent) {
    this.got.push(view);
  }
  get last() {
    return this.got.at(-1)?.state;
  }
}

export function setup() {
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

/** The retries and checks log a line per unanswered query: the assertions say what matters. */
export function quietLogs() {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });
}

export const manager = { workerId: 'w1', startedAt: '2030-01-01T00:00:00.000Z' };
export const presence = (cleanupAt: string | null): UserPresence => ({ userId: 'u', metas: [], cleanupAt, manager });
/** What presence answers before the user's manager has taken its lease. */
export const noManagerYet = (userId = 'u'): UserPresence => ({ userId, metas: [], cleanupAt: null, manager: null });
