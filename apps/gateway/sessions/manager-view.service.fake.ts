import { beforeAll } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { PresenceNamespace as Namespace, PresenceSocket } from '../socket-types.js';
import type { ManagerStateEvent, UserPresence } from '#libs/contracts/index.js';
import type { NatsService, SubjectRoute } from '#libs/nats/nats.service.js';
import { subjectMatches } from '#libs/nats/events.transport.js';
import type { SessionRegistry } from './session-registry.js';
import { ManagerViewService, userRoom } from './manager-view.service.js';

/** For ManagerViewService's unit specs: NATS whose requests a test answers, in the order it chooses. */
export class FakeNats {
  readonly nc = { isClosed: () => false };
  readonly subscriptions: Array<{ subject: string; routeOf: (subject: string) => SubjectRoute | undefined }> = [];
  readonly answers: Array<(p: UserPresence) => void> = [];
  /** The same requests, failed instead (a timeout, no responders). */
  readonly refusals: Array<(err: Error) => void> = [];
  private readonly reconnectListeners: Array<() => void> = [];
  subscribeRouted(subject: string, routeOf: (subject: string) => SubjectRoute | undefined) {
    this.subscriptions.push({ subject, routeOf });
    return {};
  }
  unsubscribe() {}
  onReconnect(fn: () => void) {
    this.reconnectListeners.push(fn);
  }
  reconnect() {
    for (const fn of this.reconnectListeners) fn();
  }
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

/** A tab: records the `manager` events it was sent. */
export class FakeTab {
  readonly got: ManagerStateEvent[] = [];
  emit(_event: string, view: ManagerStateEvent) {
    this.got.push(view);
  }
  get last() {
    return this.got.at(-1)?.state;
  }
  get socket() {
    return this as unknown as PresenceSocket;
  }
}

/** The service following user `u`, whose first get (FIRST_GET_MS later) is `nats.answers[0]`; `tab()` opens a tab in the user's room. */
export function setup() {
  const nats = new FakeNats();
  const rooms = new Map<string, FakeTab[]>();
  const server = { to: (room: string) => ({ emit: (e: string, v: ManagerStateEvent) => rooms.get(room)?.forEach((t) => t.emit(e, v)) }) };
  const here = new Set(['u']);
  const registry = { hasUser: (u: string) => here.has(u) } as unknown as SessionRegistry;
  const views = new ManagerViewService(nats as unknown as NatsService, registry);
  views.attach(server as unknown as Namespace);
  views.follow('u');
  const tab = (userId = 'u') => {
    const t = new FakeTab();
    rooms.set(userRoom(userId), [...(rooms.get(userRoom(userId)) ?? []), t]);
    return t;
  };
  return { nats, views, tab, here };
}

/** The service logs a line per unanswered query: the assertions say what matters. */
export function quietLogs() {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });
}

export const at = '2030-01-01T00:00:00.000Z';
/** Presence's answer for `u`: online, a manager running on w1 (generation 100) unless said otherwise. */
export const presence = (p: Partial<UserPresence> = {}): UserPresence => ({
  userId: 'u',
  metas: [],
  cleanupAt: null,
  manager: { workerId: 'w1', startedAt: at, generation: 100 },
  status: 'online',
  epoch: 10,
  ...p,
});
