import { describe, it, expect } from '@jest/globals';
import type { PresenceNamespace as Namespace, PresenceSocket as Socket } from '../socket-types.js';
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

/** Socket.IO's room bookkeeping, as the local adapter keeps it: an empty room is deleted. */
function fakeServer() {
  const emitted: Array<{ room: string; event: string; payload: unknown }> = [];
  const rooms = new Map<string, Set<string>>();
  const server = {
    adapter: { rooms },
    to: (room: string) => ({ emit: (event: string, payload: unknown) => emitted.push({ room, event, payload }) }),
  };
  const socket = (id: string) => ({
    connected: true,
    join: (room: string) => {
      if (!rooms.has(room)) rooms.set(room, new Set());
      rooms.get(room)!.add(id);
    },
    leave: (room: string) => {
      rooms.get(room)?.delete(id);
      if (rooms.get(room)?.size === 0) rooms.delete(room);
    },
    /** A disconnect: Socket.IO takes the socket out of every room before 'disconnect' fires. */
    gone: () => {
      for (const [room, ids] of rooms) if (ids.delete(id) && ids.size === 0) rooms.delete(room);
    },
  });
  return { server: server as unknown as Namespace, emitted, socket };
}

describe('ConsoleRelayService', () => {
  it("holds one subscription per user with a console socket here, only while one is", async () => {
    const { nats, subs, open } = fakeNats();
    const { server, socket } = fakeServer();
    const relay = new ConsoleRelayService(nats);
    relay.attach(server);
    const [a1, a2, b1] = [socket('a1'), socket('a2'), socket('b1')];
    await relay.watch(a1 as unknown as Socket, 'alice');
    await relay.watch(a2 as unknown as Socket, 'alice'); // a second tab: nothing more
    await relay.watch(a1 as unknown as Socket, 'alice'); // asked twice: nothing more
    await relay.watch(b1 as unknown as Socket, 'bob');
    expect(open()).toEqual(['stream.console.alice.tick', 'stream.console.bob.tick']);
    a1.gone();
    relay.release('alice'); // a2 still shows it
    expect(open()).toEqual(['stream.console.alice.tick', 'stream.console.bob.tick']);
    await relay.unwatch(a2 as unknown as Socket, 'alice');
    expect(open()).toEqual(['stream.console.bob.tick']);
    relay.release('alice'); // idempotent
    await relay.watch(a1 as unknown as Socket, 'alice'); // back
    expect(open()).toEqual(['stream.console.bob.tick', 'stream.console.alice.tick']);
    expect(subs).toHaveLength(3);
    relay.onApplicationShutdown();
    expect(open()).toEqual([]);
    expect(relay.following).toBe(0);
  });

  it("emits each tick as console_log to that user's console room only", async () => {
    const { nats, subs } = fakeNats();
    const { server, emitted, socket } = fakeServer();
    const relay = new ConsoleRelayService(nats);
    relay.attach(server);
    await relay.watch(socket('a1') as unknown as Socket, 'alice');
    await relay.watch(socket('b1') as unknown as Socket, 'bob');
    const tick = { userId: 'alice', n: 7, at: '2030-01-01T00:00:00.000Z', workerId: 'w1' };
    subs[0].handler(tick);
    expect(emitted).toEqual([{ room: 'console:alice', event: 'console_log', payload: tick }]);
  });
});
