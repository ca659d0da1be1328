import { Injectable, Logger } from '@nestjs/common';
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
  UserPresence,
  type ManagerStateEvent,
} from '#libs/contracts/index.js';
import { NatsService, route, type SubjectRoute } from '#libs/nats/nats.service.js';
import { Metrics } from '#libs/observability/metrics.js';
import { SessionRegistry } from './session-registry.js';
import { RECORD_OF_EVENT, managerView, mergeRecord, recordOfAnswer, sameView, type ManagerRecord } from './manager-record.js';

export const userRoom = (userId: string) => `user:${userId}`;

/**
 * A user's record is got again this long after the last get failed (presence restarting, no
 * replica up), or after it said the user has no tab though this gateway holds one: `stopped`, or
 * `stopping` once its cleanup's time has passed (by then presence has applied the tab's join, which
 * cancels the cleanup, or the cleanup waited for it: before, the tab's join may simply be on its
 * way, and a gateway whose users all reconnect must not ask presence about each of them again and
 * again while it catches up). Answers a get that failed, and a `cancelled` or `online` lost with a
 * presence killed between its state change and the publish: a user whose manager runs sends no
 * further event, so the tab would keep the wrong state for good.
 */
export const GET_AGAIN_MS = 2000;
/**
 * A user's first tab here gets the record only this long after following them, and not at all
 * when the view is `running` by then. A user with no manager is the common case: the tab's join
 * makes presence publish `online`, then the lease holder `started`, and those two events are the
 * whole record; a get sent with the join cost presence a Redis read and each side a request/reply
 * per user's first tab for nothing. Presence says nothing on a join that changes no status (the
 * user already online through another gateway): the get answers that, this much later.
 */
export const FIRST_GET_MS = 500;
const GET_TIMEOUT_MS = 2000;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One user this gateway holds tabs of: the subscriptions of their lifecycle subjects and their record. */
interface Followed {
  subs: Subscription[];
  record: ManagerRecord;
  /** What the user's tabs were last told; none before the first event or answer. */
  told?: ManagerStateEvent;
  /** The next get, while one is due (see GET_AGAIN_MS). */
  again?: NodeJS.Timeout;
  /** The first get, until it is sent or found needless (see FIRST_GET_MS). */
  first?: NodeJS.Timeout;
  /**
   * Whether the record may be told: presence answered (or could not), or an event said what the
   * tabs see without an answer: a manager started, or the user's `online` (a manager starting from
   * none). Before that, a `cancelled` alone would show `starting` for a manager that runs.
   */
  sure: boolean;
}

/**
 * What each local user's stream manager is doing, sent to the user's own sockets as the `manager`
 * event: once after connect, then on every change. The view is a function of one versioned record
 * per user (manager-record.ts): subscribe to the user's lifecycle subjects, then get presence's
 * answer unless the events tell it first, and keep the newest version of each part. No order
 * between events and answers matters.
 *
 * The gateway follows the lifecycle subjects of its own users only (`lifecycleSubjectsOf`, from
 * their first local session to their last), so NATS routes a user's events to the gateways
 * that hold them. Wildcards over every user made each gateway receive, parse and drop the events
 * of every other gateway's users: its cost grew with the whole system, not with its own sessions.
 */
@Injectable()
export class ManagerViewService {
  private readonly logger = new Logger('ManagerView');
  private readonly users = new Map<string, Followed>();
  private server?: PresenceNamespace;

  /** By `<second token>.<last token>` of the subject: manager.started, cleanup.scheduled, ... */
  private readonly routes: Record<string, SubjectRoute> = {
    'manager.started': route(ManagerStarted, (e) => this.heard(e.userId, RECORD_OF_EVENT['manager.started'](e), true)),
    'manager.stopped': route(ManagerStopped, (e) => this.heard(e.userId, RECORD_OF_EVENT['manager.stopped'](e), false)),
    'cleanup.scheduled': route(CleanupScheduled, (e) => this.heard(e.userId, RECORD_OF_EVENT['cleanup.scheduled'](e), false)),
    'cleanup.cancelled': route(CleanupCancelled, (e) => this.heard(e.userId, RECORD_OF_EVENT['cleanup.cancelled'](e), false)),
    // Without its epoch (`nats pub` by hand), an `online` is not presence's word on a transition.
    'user.online': route(UserOnline, (e) => this.heard(e.userId, RECORD_OF_EVENT['user.online'](e), e.epoch !== undefined)),
    'user.offline': route(UserOffline, (e) => this.heard(e.userId, RECORD_OF_EVENT['user.offline'](e), false)),
  };

  constructor(
    private readonly nats: NatsService,
    private readonly registry: SessionRegistry,
    metrics?: Metrics,
  ) {
    metrics?.gauge('presence_gateway_followed_users', "Users whose lifecycle subjects this gateway follows (its own users)", () => this.users.size);
  }

  attach(server: PresenceNamespace) {
    this.server = server;
    // Events published while our link was down never reached us: get every local user again.
    this.nats.onReconnect(() => {
      for (const userId of this.users.keys()) void this.get(userId);
    });
  }

  /**
   * The user's first session here: follow their lifecycle events, then, unless they tell it all
   * first, get their record (FIRST_GET_MS). Called before the session's join is published, on the
   * same connection, so NATS has the subscriptions before presence handles the join or reads the
   * state it answers from: every later change reaches us as an event.
   */
  follow(userId: string) {
    if (this.users.has(userId) || this.nats.nc.isClosed()) return;
    const subs = lifecycleSubjectsOf(userId).map((s) => this.nats.subscribeRouted(s, this.routeOf, { matchSubjectUser: true }));
    const f: Followed = { subs, record: {}, sure: false };
    this.users.set(userId, f);
    f.first = setTimeout(() => {
      f.first = undefined;
      if (managerView(userId, f.record).state !== 'running') void this.get(userId);
    }, FIRST_GET_MS);
    f.first.unref();
  }

  /** The same for every followed user: the subject names the user and the event. */
  private readonly routeOf = (subject: string): SubjectRoute | undefined => {
    const t = subject.split('.');
    // An event that crosses the unsubscribe of a user who left is not for any socket here.
    return this.registry.hasUser(t[2]) ? this.routes[`${t[1]}.${t[3]}`] : undefined;
  };

  /** A new socket of the user, already in its room: what its other tabs were told; before that, the first answer or event reaches the room. */
  greet(socket: PresenceSocket, userId: string) {
    const told = this.users.get(userId)?.told;
    if (told) socket.emit('manager', told);
  }

  /** Our record may lack what was published while we could not hear it: get it again. */
  refresh(userId: string): Promise<void> {
    return this.get(userId);
  }

  /** An event: `telling` when it makes the record sure without an answer; any other before the first get sends it now. */
  private heard(userId: string, piece: ManagerRecord, telling: boolean) {
    const f = this.users.get(userId);
    if (!f) return;
    if (!telling && !f.sure && f.first) void this.get(userId);
    this.apply(userId, piece, f, telling);
  }

  /** `f` as the caller found it: nothing is kept once the user was forgotten (or followed again) since. */
  private apply(userId: string, piece: ManagerRecord, f: Followed, sure: boolean) {
    if (this.users.get(userId) !== f) return;
    f.record = mergeRecord(f.record, piece);
    f.sure ||= sure;
    if (f.sure) this.tell(userId, f);
  }

  private tell(userId: string, f: Followed) {
    const view = managerView(userId, f.record);
    this.getAgain(userId, f, view.state === 'stopped' || view.state === 'stopping', view.cleanupAt);
    if (f.told && sameView(f.told, view)) return;
    f.told = view;
    this.server?.to(userRoom(userId)).emit('manager', view);
  }

  private async get(userId: string) {
    const f = this.users.get(userId);
    if (!f) return;
    clearTimeout(f.first);
    f.first = undefined;
    try {
      const raw = await this.nats.request<unknown>(QuerySubjects.user, { userId }, GET_TIMEOUT_MS);
      // A service error (presence could not read its state: Redis away) is a failed get, not a malformed answer.
      if (raw && typeof raw === 'object' && 'error' in raw) throw new Error(String(raw.error));
      const answer = UserPresence.safeParse(raw);
      if (answer.success) return this.apply(userId, recordOfAnswer(answer.data), f, true);
      this.logger.warn(`presence answered a malformed record for ${userId} (${answer.error.issues[0]?.message ?? 'invalid'}); ignored`);
    } catch (err) {
      this.logger.debug(`presence query for ${userId} failed (${(err as Error).message}); asking again in ${GET_AGAIN_MS} ms`);
    }
    if (this.users.get(userId) === f) {
      // The tab is told what we know (usually `starting`) rather than nothing.
      f.sure = true;
      if (!f.told) this.tell(userId, f);
      this.getAgain(userId, f, true);
    }
  }

  /** One pending get per user while one is due (see GET_AGAIN_MS); none once the view is settled. */
  private getAgain(userId: string, f: Followed, due: boolean, notBefore?: string) {
    if (!due) {
      clearTimeout(f.again);
      f.again = undefined;
      return;
    }
    const wait = notBefore ? Math.min(MAX_TIMER_MS, Math.max(0, Date.parse(notBefore) - Date.now())) : 0;
    f.again ??= setTimeout(() => {
      f.again = undefined;
      void this.get(userId);
    }, wait + GET_AGAIN_MS);
    f.again.unref();
  }

  /** The user's last local socket left: forget the record and stop following. */
  forget(userId: string) {
    const f = this.users.get(userId);
    if (!f) return;
    clearTimeout(f.again);
    clearTimeout(f.first);
    for (const sub of f.subs) this.nats.unsubscribe(sub);
    this.users.delete(userId);
  }
}
