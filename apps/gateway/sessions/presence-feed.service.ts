import { Injectable, Logger } from '@nestjs/common';
import type { Namespace, Socket } from 'socket.io';
import { QuerySubjects, SessionJoined, SessionLeft, SessionSubjects, SessionUpdated, type PresenceDiff, type PresenceMap } from '#libs/contracts/index.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { DiffCoalescer } from './diff-coalescer.js';

export const FEED_ROOM = 'presence-feed';
/** Diffs are coalesced over this window: one emit per window, not one per event. */
export const DIFF_WINDOW_MS = 50;

export type { PresenceDiff };

/**
 * `presence:subscribe`: the Phoenix-shaped presence_state, then presence_diff. Only sockets that
 * asked get the feed, and diffs are batched per window, so fan-out stays bounded.
 */
@Injectable()
export class PresenceFeedService {
  private readonly logger = new Logger('PresenceFeed');
  private server?: Namespace;
  private subscribed = false;
  private readonly window = new DiffCoalescer();
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
    this.nats.subscribe(SessionSubjects.anyJoined, SessionJoined, (e) => this.schedule(() => this.window.joined(e)), opts);
    this.nats.subscribe(SessionSubjects.anyLeft, SessionLeft, (e) => this.schedule(() => this.window.left(e)), opts);
    this.nats.subscribe(SessionSubjects.anyUpdated, SessionUpdated, (e) => this.schedule(() => this.window.updated(e)), opts);
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
