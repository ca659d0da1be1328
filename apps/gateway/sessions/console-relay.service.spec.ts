import { describe, it, expect } from '@jest/globals';
import type { Namespace } from 'socket.io';
import type { NatsService } from '#libs/nats/nats.service.js';
import { ConsoleRelayService } from './console-relay.service.js';

/** A NatsService stand-in that records subscriptions and lets the test deliver ticks. */
function fakeNats() {
  const subs: Array<{ subject: string; handler: (p: unknown) => void; closed: boolean }> = [];
  const nats = {
    nc: { isClosed: () => false },
    subscribe: (subject: string, _schema: unknown, handler: (p: unknown) => void) => {
      const sub = { subject, handler, closed: false };
      subs.push(sub);
      return sub;
    },
    unsubscribe: (sub: { closed: boolean }) => {
      sub.closed = true;
    },
  };
  return { nats: nats as unknown as NatsService, subs, open: () => subs.filter((s) => !s.closed).map((s) => s.subject) };
}

function fakeServer() {
  const emitted: Array<{ room: string; event: string; payload: unknown }> = [];
  const server = { to: (room: string) => ({ emit: (event: string, payload: unknown) => emitted.push({ room, event, payload }) }) };
  return { server: server as unknown as Namespace, emitted };
}

describe('ConsoleRelayService', () => {
  it('holds one subscription per local user, only while they have sockets here', () => {
    const { nats, subs, open } = fakeNats();
    const relay = new ConsoleRelayService(nats);
    relay.follow('alice');
    relay.follow('alice'); // a second tab: nothing more
    relay.follow('bob');
    expect(open()).toEqual(['stream.console.alice.tick', 'stream.console.bob.tick']);
    relay.unfollow('alice');
    expect(open()).toEqual(['stream.console.bob.tick']);
    relay.unfollow('alice'); // idempotent
    relay.follow('alice'); // back
    expect(open()).toEqual(['stream.console.bob.tick', 'stream.console.alice.tick']);
    expect(subs).toHaveLength(3);
    relay.onApplicationShutdown();
    expect(open()).toEqual([]);
    expect(relay.following).toBe(0);
  });

  it("emits each tick as console_log to that user's room only", () => {
    const { nats, subs } = fakeNats();
    const { server, emitted } = fakeServer();
    const relay = new ConsoleRelayService(nats);
    relay.attach(server);
    relay.follow('alice');
    relay.follow('bob');
    const tick = { userId: 'alice', n: 7, at: '2030-01-01T00:00:00.000Z', workerId: 'w1' };
    subs[0].handler(tick);
    expect(emitted).toEqual([{ room: 'user:alice', event: 'console_log', payload: tick }]);
  });
});
