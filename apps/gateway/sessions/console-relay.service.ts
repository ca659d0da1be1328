import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import type { Namespace } from 'socket.io';
import { ConsoleSubjects, ConsoleTick } from '#libs/contracts/index.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { userRoom } from './manager-view.service.js';

/**
 * Relays each ConsoleLogger tick (stream.console.<userId>.tick) to that user's own sockets here,
 * as `console_log`.
 *
 * One NATS subscription per user with a socket on this gateway, not one wildcard: NATS then routes
 * a user's ticks only to the gateways that hold that user's tabs. A wildcard would deliver every
 * user's ticks to every gateway (users/interval messages per second each, parsed and mostly
 * dropped), so the cost would grow with the whole system instead of with this gateway's users.
 * The price is one SUB/UNSUB line when a user's first tab arrives or last tab leaves.
 */
@Injectable()
export class ConsoleRelayService implements OnApplicationShutdown {
  private readonly subs = new Map<string, Subscription>();
  private server?: Namespace;

  constructor(private readonly nats: NatsService) {}

  attach(server: Namespace) {
    this.server = server;
  }

  /** The user has a socket here (idempotent). */
  follow(userId: string) {
    if (this.subs.has(userId) || this.nats.nc.isClosed()) return;
    const sub = this.nats.subscribe(
      ConsoleSubjects.tick(userId),
      ConsoleTick,
      (tick) => this.server?.to(userRoom(userId)).emit('console_log', tick),
      { matchSubjectUser: true },
    );
    this.subs.set(userId, sub);
  }

  /** The user's last socket here left. */
  unfollow(userId: string) {
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
