import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import type { PresenceNamespace, PresenceSocket } from '../socket-types.js';
import {
  CleanupCancelled,
  CleanupScheduled,
  ManagerStarted,
  ManagerStopped,
  QuerySubjects,
  UserOffline,
  UserOnline,
  lifecycleSubjectsOf,
  type ManagerStateEvent,
  type UserPresence,
} from '#libs/contracts/index.js';
import { NatsService, route, type SubjectRoute } from '#libs/nats/nats.service.js';
import { Metrics } from '#libs/observability/metrics.js';
import { SessionRegistry } from './session-registry.js';

export const userRoom = (userId: string) => `user:${userId}`;

/**
 * An unanswered query is asked again, sooner first: presence may be busy (a reconnecting gateway
 * asks for every local user at once) or restarting. Without it a tab could wait for the user's
 * next lifecycle event with a stale state. After the last attempt the view waits for events, and
 * for the stale check below.
 */
export const ASK_RETRY_MS = [250, 500, 1000, 2000, 4000, 8000, 8000, 8000];

/**
 * A view other than `running` that no event or answer has confirmed for this long is checked with
 * presence again. A tab with a manager running elsewhere is normal only briefly: a view left on
 * `starting` or `stopping` means an event was missed (our NATS link flapped past the retries, say),
 * and with no further lifecycle event the tab would show it for good. A bounded number per check,
 * so a gateway whose users all wait (workers down) asks presence gently.
 */
export const STALE_VIEW_MS = 15_000;
export const STALE_CHECK_EVERY_MS = 5_000;
export const STALE_CHECKS_PER_ROUND = 100;
/** Past the retries: a check that fails is not retried (nor warned about); the next check asks again. */
const STALE_CHECK_ATTEMPT = ASK_RETRY_MS.length + 1;

/**
 * What each local user's stream manager is doing, kept from the lifecycle events and sent to the
 * user's own sockets as the `manager` event: once after connect, then on every change.
 *
 * The gateway follows the lifecycle subjects of its own users only (`lifecycleSubjectsOf`, from
 * their first local session to their last), so NATS routes a user's events to the gateways
 * that hold them. Wildcards over every user made each gateway receive, parse and drop the events
 * of every other gateway's users: its cost grew with the whole system, not with its own sessions.
 */
@Injectable()
export class ManagerViewService implements OnModuleDestroy {
  private readonly logger = new Logger('ManagerView');
  private readonly views = new Map<string, ManagerStateEvent>();
  /** When each view was last set or confirmed (ms), for the stale check. */
  private readonly confirmedAt = new Map<string, number>();
  /**
   * Moved on by every event and by every follow, so a slower query answer never overwrites a newer
   * event. One sequence for every user, never reset: a user who leaves and comes back while a query
   * of their earlier tab is still out must not find the number that query started from (it was
   * asked before the events its old subscription received, and would overwrite them: a tab left on
   * `starting` with its manager running, found by bench/ under overload).
   */
  private readonly versions = new Map<string, number>();
  private sequence = 0;
  /** The newest lease generation (fencing token) heard of for each local user's manager. */
  private readonly generations = new Map<string, number>();
  private staleCheck?: NodeJS.Timeout;
  private readonly follows = new Map<string, Subscription[]>();
  private readonly retries = new Map<string, NodeJS.Timeout>();
  private server?: PresenceNamespace;

  /** By `<second token>.<last token>` of the subject: manager.started, cleanup.scheduled, ... */
  private readonly routes: Record<string, SubjectRoute> = {
    'manager.started': route(ManagerStarted, (e) => this.current(e.userId, e.generation) && this.set({ userId: e.userId, state: 'running', workerId: e.workerId })),
    // With sessions still here, a stop means a move (handover, lease lost): it starts again. A stop
    // said by an older holder than the one we know runs (a worker that was paused past its lease) is stale.
    'manager.stopped': route(
      ManagerStopped,
      (e) => this.current(e.userId, e.generation) && this.set({ userId: e.userId, state: e.reason === 'offline' ? 'stopped' : 'starting' }),
    ),
    'cleanup.scheduled': route(CleanupScheduled, (e) => this.set({ ...this.viewOf(e.userId), state: 'stopping', cleanupAt: e.runAt })),
    // A cancelled cleanup means the manager never stopped: it is running, wherever it is.
    'cleanup.cancelled': route(CleanupCancelled, (e) => this.set({ userId: e.userId, state: 'running', workerId: this.viewOf(e.userId).workerId })),
    'user.online': route(UserOnline, (e) => this.viewOf(e.userId).state !== 'running' && this.set({ userId: e.userId, state: 'starting' })),
    'user.offline': route(UserOffline, (e) => this.set({ userId: e.userId, state: 'stopped' })),
  };

  constructor(
    private readonly nats: NatsService,
    private readonly registry: SessionRegistry,
    metrics?: Metrics,
  ) {
    metrics?.gauge('presence_gateway_followed_users', "Users whose lifecycle subjects this gateway follows (its own users)", () => this.follows.size);
  }

  attach(server: PresenceNamespace) {
    this.server = server;
    this.staleCheck ??= setInterval(() => this.checkStale(), STALE_CHECK_EVERY_MS);
    this.staleCheck.unref();
  }

  onModuleDestroy() {
    clearInterval(this.staleCheck);
  }

  /**
   * The user's first session here: follow their lifecycle events. Called before the session's
   * join is published, on the same connection, so NATS has the subscription before any answer.
   */
  follow(userId: string) {
    if (this.follows.has(userId) || this.nats.nc.isClosed()) return;
    this.versions.set(userId, ++this.sequence);
    this.follows.set(userId, lifecycleSubjectsOf(userId).map((s) => this.nats.subscribeRouted(s, this.routeOf, { matchSubjectUser: true })));
  }

  /** The same for every followed user: the subject names the user and the event. */
  private readonly routeOf = (subject: string): SubjectRoute | undefined => {
    const t = subject.split('.');
    // An event that crosses the unsubscribe of a user who left is not for any socket here.
    return this.registry.hasUser(t[2]) ? this.routes[`${t[1]}.${t[3]}`] : undefined;
  };

  private viewOf(userId: string): ManagerStateEvent {
    return this.views.get(userId) ?? { userId, state: 'starting' };
  }

  /**
   * Fencing: whether a manager event comes from the newest lease holder known here, which it then
   * becomes. Events without a generation (from a worker that does not send one) are taken as they come.
   */
  private current(userId: string, generation: number | undefined): boolean {
    if (generation === undefined) return true;
    const known = this.generations.get(userId) ?? 0;
    if (generation < known) return false;
    this.generations.set(userId, generation);
    return true;
  }

  private set(view: ManagerStateEvent) {
    const clean: ManagerStateEvent = { userId: view.userId, state: view.state };
    if (view.workerId) clean.workerId = view.workerId;
    if (view.state === 'stopping' && view.cleanupAt) clean.cleanupAt = view.cleanupAt;
    this.versions.set(view.userId, ++this.sequence);
    const prev = this.views.get(view.userId);
    this.views.set(view.userId, clean);
    this.confirmedAt.set(view.userId, Date.now());
    if (prev && sameView(prev, clean)) return;
    this.server?.to(userRoom(view.userId)).emit('manager', clean);
  }

  /** A new socket of the user, already in its room: send what we know, asking presence when we know nothing yet. */
  async greet(socket: PresenceSocket, userId: string) {
    const known = this.views.get(userId);
    if (known) {
      socket.emit('manager', known);
      return;
    }
    const version = this.versions.get(userId) ?? 0;
    const answer = await this.ask(userId);
    // An event came meanwhile: it is newer than the answer, and set() has sent it to the user's
    // room, which this socket joined before greeting. Sending it again was a duplicate `manager`.
    if ((this.versions.get(userId) ?? 0) !== version) return;
    if (!answer) this.askAgainLater(userId, 0);
    const view = answer ?? { userId, state: 'starting' };
    const prev = this.views.get(userId);
    this.views.set(userId, view);
    this.confirmedAt.set(userId, Date.now());
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
  async refresh(userId: string, attempt = 0) {
    const version = this.versions.get(userId) ?? 0;
    const view = await this.ask(userId);
    if ((this.versions.get(userId) ?? 0) !== version || !this.registry.hasUser(userId)) return;
    if (view) this.set(view);
    else this.askAgainLater(userId, attempt);
  }

  /** Views that may have missed their event: see STALE_VIEW_MS. */
  private checkStale() {
    const now = Date.now();
    let asked = 0;
    for (const [userId, view] of this.views) {
      if (view.state === 'running' || this.retries.has(userId) || now - (this.confirmedAt.get(userId) ?? 0) < STALE_VIEW_MS) continue;
      // Confirmed or not, not asked again before STALE_VIEW_MS: a presence that is down is not flooded.
      this.confirmedAt.set(userId, now);
      void this.refresh(userId, STALE_CHECK_ATTEMPT);
      if (++asked >= STALE_CHECKS_PER_ROUND) break;
    }
    if (asked > 0) this.logger.log(`asked presence again about ${asked} user(s) whose tabs were told something other than running ${STALE_VIEW_MS} ms ago and nothing since`);
  }

  /** One pending retry per user; an event arriving meanwhile makes its answer moot, not wrong. */
  private askAgainLater(userId: string, attempt: number) {
    if (attempt >= ASK_RETRY_MS.length) {
      if (attempt === ASK_RETRY_MS.length) this.logger.warn(`presence did not answer for ${userId} after ${attempt} attempts: waiting for its next lifecycle event or check`);
      return;
    }
    if (this.retries.has(userId)) return;
    // Jitter: the users of a reconnecting gateway failed together and must not come back together.
    const delay = ASK_RETRY_MS[attempt] * (0.5 + Math.random() / 2);
    const timer = setTimeout(() => {
      this.retries.delete(userId);
      if (this.registry.hasUser(userId)) void this.refresh(userId, attempt + 1);
    }, delay);
    timer.unref();
    this.retries.set(userId, timer);
  }

  /** The manager's state as presence knows it; null when presence does not answer. */
  private async ask(userId: string): Promise<ManagerStateEvent | null> {
    try {
      const p = await this.nats.request<UserPresence>(QuerySubjects.user, { userId }, 2000);
      if (!p.manager) return { userId, state: 'starting' };
      // Older than the holder an event told us of: presence has not seen the move yet; what we show stands.
      if (!this.current(userId, p.manager.generation)) return this.views.get(userId) ?? null;
      return p.cleanupAt
        ? { userId, state: 'stopping', workerId: p.manager.workerId, cleanupAt: p.cleanupAt }
        : { userId, state: 'running', workerId: p.manager.workerId };
    } catch (err) {
      this.logger.debug(`presence query for ${userId} failed: ${(err as Error).message}`);
      return null;
    }
  }

  /** The user's last local socket left: forget the view and stop following. */
  forget(userId: string) {
    clearTimeout(this.retries.get(userId));
    this.retries.delete(userId);
    this.views.delete(userId);
    this.confirmedAt.delete(userId);
    this.versions.delete(userId);
    this.generations.delete(userId);
    for (const sub of this.follows.get(userId) ?? []) this.nats.unsubscribe(sub);
    this.follows.delete(userId);
  }
}

function sameView(a: ManagerStateEvent, b: ManagerStateEvent): boolean {
  return a.state === b.state && a.workerId === b.workerId && a.cleanupAt === b.cleanupAt;
}
