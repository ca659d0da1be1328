import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import type { PresenceNamespace, PresenceSocket } from '../socket-types.js';
import { ConsoleSubjects, ConsoleTick } from '#libs/contracts/index.js';
import { NatsService } from '#libs/nats/nats.service.js';

/** The sockets of one user that asked for the console (`presence:console`). */
export const consoleRoom = (userId: string) => `console:${userId}`;

/**
 * Relays each ConsoleLogger tick (stream.console.<userId>.tick) as `console_log` to the sockets of
 * that user that asked for it with `presence:console`.
 *
 * Opt-in, like the presence feed: a tick a second per user is the heaviest traffic a gateway
 * carries, and a tab that does not show the console (a background client, a script, a load
 * generator) should cost nothing for it. Measured in the bench's hold (10,000 users, 20,000 tabs):
 * relaying every tick to every tab cost each gateway a third of a core and about 15 KiB per session.
 *
 * One NATS subscription per user with a console socket here, not one wildcard: NATS then routes a
 * user's ticks only to the gateways that show them. A wildcard would deliver every user's ticks to
 * every gateway, so the cost would grow with the whole system instead of with this gateway's users.
 * The price is one SUB/UNSUB line when a user's first console arrives or last one leaves.
 */
@Injectable()
export class ConsoleRelayService implements OnApplicationShutdown {
  private readonly subs = new Map<string, Subscription>();
  private server?: PresenceNamespace;

  constructor(private readonly nats: NatsService) {}

  attach(server: PresenceNamespace) {
    this.server = server;
  }

  /** The socket wants its user's ticks (idempotent). */
  async watch(socket: PresenceSocket, userId: string) {
    // A socket already gone would stay in the room (and keep the subscription) for good.
    if (!socket.connected) return;
    await socket.join(consoleRoom(userId));
    this.follow(userId);
  }

  /** The socket no longer wants them. */
  async unwatch(socket: PresenceSocket, userId: string) {
    await socket.leave(consoleRoom(userId));
    this.release(userId);
  }

  /** A socket of the user left (PresenceSocket.IO has already taken it out of its rooms): unsubscribe if it was the last console. */
  release(userId: string) {
    if (!this.server?.adapter.rooms.has(consoleRoom(userId))) this.unfollow(userId);
  }

  private follow(userId: string) {
    if (this.subs.has(userId) || this.nats.nc.isClosed()) return;
    const sub = this.nats.subscribe(
      ConsoleSubjects.tick(userId),
      ConsoleTick,
      (tick) => this.server?.to(consoleRoom(userId)).emit('console_log', tick),
      { matchSubjectUser: true },
    );
    this.subs.set(userId, sub);
  }

  private unfollow(userId: string) {
    const sub = this.subs.get(userId);
    if (!sub) return;
    this.subs.delete(userId);
    this.nats.unsubscribe(sub);
  }

  get following(): number {
    return this.subs.size;
  }

  onApplicationShutdown() {
    for (const userId of [...this.subs.keys()]) this.unfollow(userId);
  }
}
