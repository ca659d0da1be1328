import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { Namespace, Socket } from 'socket.io';
import {
  CleanupCancelled,
  CleanupScheduled,
  CleanupSubjects,
  ManagerStarted,
  ManagerStopped,
  ManagerSubjects,
  QuerySubjects,
  UserOffline,
  UserOnline,
  UserSubjects,
  type ManagerStateEvent,
  type UserPresence,
} from '#libs/contracts/index.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { SessionRegistry } from './session-registry.js';

export const userRoom = (userId: string) => `user:${userId}`;

/**
 * What each local user's stream manager is doing, kept from the lifecycle events and sent to the
 * user's own sockets as the `manager` event: once after connect, then on every change.
 */
@Injectable()
export class ManagerViewService implements OnApplicationBootstrap {
  private readonly logger = new Logger('ManagerView');
  private readonly views = new Map<string, ManagerStateEvent>();
  /** Bumped by every event, so a slower query answer never overwrites a newer event. */
  private readonly versions = new Map<string, number>();
  private server?: Namespace;

  constructor(
    private readonly nats: NatsService,
    private readonly registry: SessionRegistry,
  ) {}

  attach(server: Namespace) {
    this.server = server;
  }

  onApplicationBootstrap() {
    const local = (u: string) => this.registry.hasUser(u);
    this.nats.subscribe(ManagerSubjects.anyStarted, ManagerStarted, (e) => {
      if (local(e.userId)) this.set({ userId: e.userId, state: 'running', workerId: e.workerId });
    }, { matchSubjectUser: true });
    this.nats.subscribe(ManagerSubjects.anyStopped, ManagerStopped, (e) => {
      if (!local(e.userId)) return;
      // With sessions still here, a stop means a move (handover, lease lost): it starts again.
      this.set({ userId: e.userId, state: e.reason === 'offline' ? 'stopped' : 'starting' });
    }, { matchSubjectUser: true });
    this.nats.subscribe(CleanupSubjects.anyScheduled, CleanupScheduled, (e) => {
      if (local(e.userId)) this.set({ ...this.current(e.userId), state: 'stopping', cleanupAt: e.runAt });
    }, { matchSubjectUser: true });
    this.nats.subscribe(CleanupSubjects.anyCancelled, CleanupCancelled, (e) => {
      if (!local(e.userId)) return;
      // A cancelled cleanup means the manager never stopped: it is running, wherever it is.
      const cur = this.current(e.userId);
      this.set({ userId: e.userId, state: 'running', workerId: cur.workerId });
    }, { matchSubjectUser: true });
    this.nats.subscribe(UserSubjects.anyOnline, UserOnline, (e) => {
      if (local(e.userId) && this.current(e.userId).state !== 'running') this.set({ userId: e.userId, state: 'starting' });
    }, { matchSubjectUser: true });
    this.nats.subscribe(UserSubjects.anyOffline, UserOffline, (e) => {
      if (local(e.userId)) this.set({ userId: e.userId, state: 'stopped' });
    }, { matchSubjectUser: true });
  }

  private current(userId: string): ManagerStateEvent {
    return this.views.get(userId) ?? { userId, state: 'starting' };
  }

  private set(view: ManagerStateEvent) {
    const clean: ManagerStateEvent = { userId: view.userId, state: view.state };
    if (view.workerId) clean.workerId = view.workerId;
    if (view.state === 'stopping' && view.cleanupAt) clean.cleanupAt = view.cleanupAt;
    this.versions.set(view.userId, (this.versions.get(view.userId) ?? 0) + 1);
    const prev = this.views.get(view.userId);
    this.views.set(view.userId, clean);
    if (prev && sameView(prev, clean)) return;
    this.server?.to(userRoom(view.userId)).emit('manager', clean);
  }

  /** A new socket of the user: send what we know, asking presence when we know nothing yet. */
  async greet(socket: Socket, userId: string) {
    const known = this.views.get(userId);
    if (known) {
      socket.emit('manager', known);
      return;
    }
    const version = this.versions.get(userId) ?? 0;
    const view = (await this.ask(userId)) ?? { userId, state: 'starting' };
    if ((this.versions.get(userId) ?? 0) !== version) {
      socket.emit('manager', this.current(userId));
      return;
    }
    const prev = this.views.get(userId);
    this.views.set(userId, view);
    // Another tab's greeting may have set (and sent) a different view meanwhile: this answer replaces
    // it for every tab of the user, or that tab keeps the old state, and a later event equal to this
    // view sends nothing (a tab left at 'stopping' after a reconnect storm, found by bench/).
    if (prev && !sameView(prev, view)) this.server?.to(userRoom(userId)).emit('manager', view);
    else socket.emit('manager', view);
  }

  /**
   * Our view may be stale (events missed while our NATS link was down): ask presence again and
   * tell the user's sockets if it changed. An event that arrives meanwhile wins over the answer.
   */
  async refresh(userId: string) {
    const version = this.versions.get(userId) ?? 0;
    const view = await this.ask(userId);
    if (!view || (this.versions.get(userId) ?? 0) !== version || !this.registry.hasUser(userId)) return;
    this.set(view);
  }

  /** The manager's state as presence knows it; null when presence does not answer. */
  private async ask(userId: string): Promise<ManagerStateEvent | null> {
    try {
      const p = await this.nats.request<UserPresence>(QuerySubjects.user, { userId }, 2000);
      if (!p.manager) return { userId, state: 'starting' };
      return p.cleanupAt
        ? { userId, state: 'stopping', workerId: p.manager.workerId, cleanupAt: p.cleanupAt }
        : { userId, state: 'running', workerId: p.manager.workerId };
    } catch (err) {
      this.logger.debug(`presence query for ${userId} failed: ${(err as Error).message}`);
      return null;
    }
  }

  /** The user's last local socket left: forget the view. */
  forget(userId: string) {
    this.views.delete(userId);
    this.versions.delete(userId);
  }
}

function sameView(a: ManagerStateEvent, b: ManagerStateEvent): boolean {
  return a.state === b.state && a.workerId === b.workerId && a.cleanupAt === b.cleanupAt;
}
