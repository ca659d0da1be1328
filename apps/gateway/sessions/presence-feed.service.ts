import { Injectable, Logger } from '@nestjs/common';
import type { Namespace, Socket } from 'socket.io';
import {
  QuerySubjects,
  SessionJoined,
  SessionLeft,
  SessionSubjects,
  SessionUpdated,
  type PresenceMap,
  type SessionMeta,
} from '#libs/contracts/index.js';
import { NatsService } from '#libs/nats/nats.service.js';

export const FEED_ROOM = 'presence-feed';
/** Diffs are coalesced over this window: one emit per window, not one per event. */
export const DIFF_WINDOW_MS = 50;

type MetaPatch = Partial<SessionMeta> & { sessionId: string };
export interface PresenceDiff {
  joins: PresenceMap;
  leaves: Record<string, { metas: MetaPatch[] }>;
  /** Meta changed in place (tab status): never sent as a leave and a join. */
  updates: Record<string, { metas: MetaPatch[] }>;
}

/**
 * `presence:subscribe`: the Phoenix-shaped presence_state, then presence_diff. Only sockets that
 * asked get the feed, and diffs are batched per window, so fan-out stays bounded.
 */
@Injectable()
export class PresenceFeedService {
  private readonly logger = new Logger('PresenceFeed');
  private server?: Namespace;
  private subscribed = false;
  private joins = new Map<string, SessionMeta & { userId: string }>();
  private leaves = new Map<string, { userId: string; sessionId: string }>();
  private updates = new Map<string, MetaPatch & { userId: string }>();
  private flushTimer?: NodeJS.Timeout;

  constructor(private readonly nats: NatsService) {}

  attach(server: Namespace) {
    this.server = server;
    // From the start, not on the first presence:subscribe: that subscriber's own join was
    // published before it could ask, and would be missed if presence's snapshot lags behind it.
    this.ensureFeed();
  }

  async subscribe(socket: Socket) {
    this.ensureFeed();
    // Join the room first: diffs that cross the snapshot are applied idempotently by the client.
    await socket.join(FEED_ROOM);
    try {
      const { users } = await this.nats.request<{ users: PresenceMap }>(QuerySubjects.users, undefined, 3000);
      socket.emit('presence_state', users);
    } catch (err) {
      this.logger.warn(`presence_state unavailable: ${(err as Error).message}`);
      socket.emit('presence_error', { message: 'presence unavailable, try again' });
    }
  }

  private ensureFeed() {
    if (this.subscribed) return;
    this.subscribed = true;
    const opts = { matchSubjectUser: true };
    this.nats.subscribe(SessionSubjects.anyJoined, SessionJoined, (e) => {
      this.joins.set(e.sessionId, { userId: e.userId, sessionId: e.sessionId, page: e.page, joinedAt: e.at, gatewayId: e.gatewayId, status: e.status ?? 'visible' });
      this.schedule();
    }, opts);
    this.nats.subscribe(SessionSubjects.anyLeft, SessionLeft, (e) => {
      // Joined and left within one window: the feed never saw it, so it sends neither.
      if (this.joins.delete(e.sessionId)) {
        this.updates.delete(e.sessionId);
      } else {
        this.leaves.set(e.sessionId, { userId: e.userId, sessionId: e.sessionId });
        this.updates.delete(e.sessionId);
      }
      this.schedule();
    }, opts);
    this.nats.subscribe(SessionSubjects.anyUpdated, SessionUpdated, (e) => {
      const pending = this.joins.get(e.sessionId);
      if (pending) pending.status = e.status;
      else if (!this.leaves.has(e.sessionId)) this.updates.set(e.sessionId, { userId: e.userId, sessionId: e.sessionId, status: e.status });
      this.schedule();
    }, opts);
  }

  private schedule() {
    this.flushTimer ??= setTimeout(() => this.flush(), DIFF_WINDOW_MS);
  }

  private flush() {
    this.flushTimer = undefined;
    const diff: PresenceDiff = { joins: {}, leaves: {}, updates: {} };
    for (const { userId, ...meta } of this.joins.values()) (diff.joins[userId] ??= { metas: [] }).metas.push(meta);
    for (const { userId, sessionId } of this.leaves.values()) (diff.leaves[userId] ??= { metas: [] }).metas.push({ sessionId });
    for (const { userId, ...patch } of this.updates.values()) (diff.updates[userId] ??= { metas: [] }).metas.push(patch);
    this.joins.clear();
    this.leaves.clear();
    this.updates.clear();
    this.server?.to(FEED_ROOM).emit('presence_diff', diff);
  }
}
