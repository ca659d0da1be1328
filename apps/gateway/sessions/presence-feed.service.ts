import { Injectable, Logger } from '@nestjs/common';
import type { PresenceNamespace, PresenceSocket } from '../socket-types.js';
import type { Subscription } from '@nats-io/transport-node';
import { CleanupCancelled, CleanupScheduled, CleanupSubjects, QuerySubjects, SessionJoined, UserOffline, UserSubjects, SessionLeft, SessionSubjects, SessionUpdated, metaOfJoin, nowIso, withRef, type PresenceDiff, type PresenceMap } from '#libs/contracts/index.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { Metrics } from '#libs/observability/metrics.js';
import { DiffCoalescer } from './diff-coalescer.js';
import { SessionRegistry } from './session-registry.js';

export const FEED_ROOM = 'presence-feed';
/** Diffs are coalesced over this window: one emit per window, not one per event. */
export const DIFF_WINDOW_MS = 50;

export type { PresenceDiff };

/**
 * `presence:subscribe`: the Phoenix-shaped presence_state, then presence_diff. Only sockets that
 * asked get the feed, and diffs are batched per window, so fan-out stays bounded.
 *
 * The gateway follows every user's session events only while one of its sockets watches: from the
 * first subscriber until the feed room empties. Followed from the start, each gateway received,
 * parsed and folded every session event of the whole system into diffs for nobody: a tenth of a
 * gateway's CPU in a mass leave (bench/, cleanup). Two things cover the events of before the first
 * subscriber: presence answers its snapshot only once it has applied the session events stored
 * before the request (see PresenceQueryService), and this gateway adds the asking user's own sessions
 * (a tab's own join may still be on its way to presence when that tab asks).
 */
@Injectable()
export class PresenceFeedService {
  private readonly logger = new Logger('PresenceFeed');
  private server?: PresenceNamespace;
  /** The feed's subscriptions while a socket here watches, with their flush to the server. */
  private feed?: { subs: Subscription[]; ready: Promise<void> };
  private readonly window = new DiffCoalescer();
  private flushTimer?: NodeJS.Timeout;

  constructor(
    private readonly nats: NatsService,
    private readonly registry: SessionRegistry,
    metrics?: Metrics,
  ) {
    metrics?.gauge('presence_gateway_feed_sockets', 'Sockets here watching the presence feed; at 0 this gateway does not follow session events', () => this.server?.adapter.rooms.get(FEED_ROOM)?.size ?? 0);
  }

  attach(server: PresenceNamespace) {
    this.server = server;
    // PresenceSocket.IO deletes a room when its last socket leaves it (or disconnects).
    server.adapter.on('delete-room', (room: string) => {
      if (room === FEED_ROOM) this.stopFeed();
    });
  }

  async subscribe(socket: PresenceSocket) {
    if (!socket.connected) return;
    // Join the room first: diffs that cross the snapshot are applied idempotently by the client.
    await socket.join(FEED_ROOM);
    try {
      // The subscriptions are in place at the server before presence reads its state.
      await this.startFeed();
      const { users } = await this.nats.request<{ users: PresenceMap }>(QuerySubjects.users, undefined, 3000);
      socket.emit('presence_state', this.withOwnSessions(users, socket.data.userId));
    } catch (err) {
      this.logger.warn(`presence_state unavailable: ${(err as Error).message}`);
      socket.emit('presence_error', { message: 'presence unavailable, try again' });
    }
  }

  private startFeed(): Promise<void> {
    if (this.feed) return this.feed.ready;
    const opts = { matchSubjectUser: true };
    const grace = (userId: string, cleanupAt: string | null) => this.server?.to(FEED_ROOM).emit('presence_grace', { userId, cleanupAt });
    const subs = [
      // Who is in their grace period: rare events, sent as they come (no window).
      this.nats.subscribe(CleanupSubjects.anyScheduled, CleanupScheduled, (e) => grace(e.userId, e.runAt), opts),
      this.nats.subscribe(CleanupSubjects.anyCancelled, CleanupCancelled, (e) => grace(e.userId, null), opts),
      this.nats.subscribe(UserSubjects.anyOffline, UserOffline, (e) => grace(e.userId, null), opts),
      this.nats.subscribe(SessionSubjects.anyJoined, SessionJoined, (e) => this.schedule(() => this.window.joined(e)), opts),
      this.nats.subscribe(SessionSubjects.anyLeft, SessionLeft, (e) => this.schedule(() => this.window.left(e)), opts),
      this.nats.subscribe(SessionSubjects.anyUpdated, SessionUpdated, (e) => this.schedule(() => this.window.updated(e)), opts),
    ];
    // A flush that fails (NATS away) leaves it to the snapshot request to fail and say so.
    this.feed = { subs, ready: this.nats.nc.flush().catch(() => undefined) };
    this.logger.debug('following session events: a socket watches the presence feed');
    return this.feed.ready;
  }

  private stopFeed() {
    if (!this.feed) return;
    for (const sub of this.feed.subs) this.nats.unsubscribe(sub);
    this.feed = undefined;
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.window.take();
    this.logger.debug('no socket watches the presence feed: session events no longer followed');
  }

  /** The user's sessions here are present whatever presence has applied yet: the tab's own join first. */
  private withOwnSessions(users: PresenceMap, userId: string): PresenceMap {
    for (const s of this.registry.sessionsOf(userId)) {
      const metas = (users[userId] ??= { metas: [] }).metas;
      if (metas.some((m) => m.sessionId === s.joined.sessionId)) continue;
      metas.push(withRef(metaOfJoin(s.joined, s.status, s.statusAtMs === undefined ? s.joined.at : nowIso(s.statusAtMs))));
    }
    return users;
  }

  private schedule(fold: () => void) {
    fold();
    this.flushTimer ??= setTimeout(() => this.flush(), DIFF_WINDOW_MS);
  }

  private flush() {
    this.flushTimer = undefined;
    if (this.window.empty) return;
    this.server?.to(FEED_ROOM).emit('presence_diff', this.window.take());
  }
}
