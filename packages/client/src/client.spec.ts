import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { phxRef } from '../../../libs/contracts/presence-diff.js';
import type { SessionMeta } from '../../../libs/contracts/presence-types.js';
import { RETRY_MIN_MS } from './backoff.js';
import { connectPresence, type PresenceSocket } from './client.js';

/** A stand-in for socket.io-client's Socket: records what the client sends, lets the test play the gateway. */
class FakeSocket {
  connected = false;
  /** socket.io's own retrying: true unless the server refused or ended the connection. */
  active = true;
  connects = 0;
  sent: Array<[string, ...unknown[]]> = [];
  private handlers = new Map<string, Array<(...a: unknown[]) => void>>();
  private ioHandlers = new Map<string, Array<(...a: unknown[]) => void>>();
  io = { on: (ev: string, fn: (...a: unknown[]) => void) => void (this.ioHandlers.get(ev) ?? this.ioHandlers.set(ev, []).get(ev)!).push(fn) };
  constructor(readonly url: string, readonly opts: Record<string, unknown>) {}
  on(ev: string, fn: (...a: unknown[]) => void) {
    (this.handlers.get(ev) ?? this.handlers.set(ev, []).get(ev)!).push(fn);
    return this;
  }
  emit(ev: string, ...args: unknown[]) {
    this.sent.push([ev, ...args]);
    return this;
  }
  timeout() {
    return { emitWithAck: (ev: string, ...args: unknown[]) => (this.sent.push([ev, ...args]), Promise.resolve({ ok: true })) };
  }
  connect() {
    this.connects++;
    return this;
  }
  disconnect() {
    this.connected = false;
    this.active = false;
    return this;
  }
  // The gateway's side.
  serverEmit(ev: string, ...args: unknown[]) {
    for (const fn of this.handlers.get(ev) ?? []) fn(...args);
  }
  open() {
    this.connected = true;
    this.active = true;
    this.serverEmit('connect');
  }
  drop(reason: string) {
    this.connected = false;
    if (reason === 'io server disconnect') this.active = false;
    this.serverEmit('disconnect', reason);
  }
  refuse(message: string) {
    this.active = false;
    this.serverEmit('connect_error', new Error(message));
  }
  attempt() {
    for (const fn of this.ioHandlers.get('reconnect_attempt') ?? []) fn(1);
  }
  sentNames = () => this.sent.map(([ev]) => ev);
}

function setup() {
  let socket!: FakeSocket;
  const client = connectPresence('http://gw.example:3000', {
    token: 'a.b.c',
    page: '/dashboard/x',
    connect: (url, opts) => (socket = new FakeSocket(url, opts as Record<string, unknown>)) as unknown as PresenceSocket,
  });
  const statuses: string[] = [];
  client.on('status', (s, d) => statuses.push(d ? `${s}: ${d}` : s));
  return { client, socket, statuses };
}

const meta = (sessionId: string, status: SessionMeta['status'] = 'visible', atMs = 0): SessionMeta => {
  const m = { sessionId, page: '/dashboard', joinedAt: new Date(0).toISOString(), gatewayId: 'gw', status, statusAt: new Date(atMs).toISOString() };
  return { ...m, phx_ref: phxRef(m) };
};

beforeEach(() => void jest.useFakeTimers());
afterEach(() => void jest.useRealTimers());

describe('connectPresence: connection status', () => {
  it('connects to the /presence namespace with the token and page, and reports connecting -> connected -> disconnected', () => {
    const { client, socket, statuses } = setup();
    expect(socket.url).toBe('http://gw.example:3000/presence');
    expect(socket.opts.auth).toEqual({ token: 'a.b.c', page: '/dashboard/x' });
    expect(client.status).toBe('connecting');
    socket.open();
    expect(client.status).toBe('connected');
    socket.drop('transport close');
    expect(client.status).toBe('disconnected');
    expect(client.statusDetail).toBe('transport close');
    socket.attempt();
    socket.open();
    expect(statuses).toEqual(['connected', 'disconnected: transport close', 'connecting', 'connected']);
    // socket.io retries a lost transport itself: the client adds no connect of its own.
    expect(socket.connects).toBe(0);
  });

  it('comes back by itself after the server ended the connection (socket.io never retries that), backing off', () => {
    const { client, socket } = setup();
    socket.open();
    socket.drop('io server disconnect');
    expect(client.status).toBe('disconnected');
    jest.advanceTimersByTime(RETRY_MIN_MS - 1);
    expect(socket.connects).toBe(0);
    jest.advanceTimersByTime(1);
    expect(socket.connects).toBe(1);
    expect(client.status).toBe('connecting');
    socket.refuse('unavailable');
    expect(client.status).toBe('refused');
    jest.advanceTimersByTime(2 * RETRY_MIN_MS);
    expect(socket.connects).toBe(2);
    socket.open();
    expect(client.status).toBe('connected');
  });

  it('an operator who ended the session: told why, and no attempt before the time the gateway named', () => {
    const { client, socket } = setup();
    socket.open();
    const until = new Date(Date.now() + 20_000).toISOString();
    socket.serverEmit('session_ended', { reason: 'ended_by_operator', message: 'account suspended', until });
    socket.drop('io server disconnect');
    expect([client.status, client.statusDetail]).toEqual(['disconnected', 'ended_by_operator']);
    jest.advanceTimersByTime(19_999);
    expect(socket.connects).toBe(0);
    jest.advanceTimersByTime(1);
    expect(socket.connects).toBe(1);
  });

  it('a refusal that a retry cannot fix (unauthorized, bad_request) stays refused', () => {
    for (const reason of ['unauthorized', 'bad_request']) {
      const { client, socket } = setup();
      socket.refuse(reason);
      expect([client.status, client.statusDetail]).toEqual(['refused', reason]);
      jest.advanceTimersByTime(10 * 60_000);
      expect(socket.connects).toBe(0);
    }
  });

  it('a transport that fails while socket.io retries is disconnected, not refused', () => {
    const { client, socket } = setup();
    socket.active = true;
    socket.serverEmit('connect_error', new Error('websocket error'));
    expect([client.status, client.statusDetail]).toEqual(['disconnected', 'websocket error']);
  });

  it('close() disconnects for good: no retry, no more events', () => {
    const { client, socket, statuses } = setup();
    socket.open();
    client.close();
    socket.drop('io server disconnect');
    jest.advanceTimersByTime(10 * 60_000);
    expect(socket.connects).toBe(0);
    expect(statuses).toEqual(['connected', 'disconnected: closed']);
  });

  it('logout() tells the gateway, then closes', async () => {
    const { client, socket } = setup();
    socket.open();
    await client.logout();
    expect(socket.sentNames()).toContain('presence:logout');
    expect(client.status).toBe('disconnected');
    expect(socket.connected).toBe(false);
  });
});

describe('connectPresence: manager and status', () => {
  it('keeps the last manager event (also while disconnected); malformed ones are ignored', () => {
    const { client, socket } = setup();
    const seen: string[] = [];
    client.on('manager', (m) => seen.push(m.state));
    socket.open();
    socket.serverEmit('manager', { userId: 'u', state: 'running', workerId: 'w1' });
    socket.serverEmit('manager', { userId: 'u', state: 'exploded' });
    socket.serverEmit('manager', null);
    socket.drop('transport close');
    expect(client.manager).toEqual({ userId: 'u', state: 'running', workerId: 'w1' });
    expect(seen).toEqual(['running']);
  });

  it('setStatus sends presence:status; a bad status is a TypeError', async () => {
    const { client, socket } = setup();
    socket.open();
    await expect(client.setStatus('hidden')).resolves.toEqual({ ok: true });
    expect(socket.sent).toContainEqual(['presence:status', { status: 'hidden' }]);
    await expect(client.setStatus('asleep' as 'idle')).rejects.toThrow(TypeError);
  });

  it('a status set while disconnected is sent once connected', async () => {
    const { client, socket } = setup();
    await client.setStatus('idle');
    socket.open();
    expect(socket.sent).toContainEqual(['presence:status', { status: 'idle' }]);
  });

  it('refuses bad arguments at once', () => {
    const connect = () => new FakeSocket('', {}) as unknown as PresenceSocket;
    expect(() => connectPresence('gw:3000', { token: 't', connect })).toThrow(/url/);
    expect(() => connectPresence('http://gw', { token: '', connect })).toThrow(/token/);
    expect(() => connectPresence('http://gw', { token: 't', page: '/admin', connect })).toThrow(/page/);
    expect(() => connectPresence('http://gw', { token: 't', idleMs: 5, connect })).toThrow(/idleMs/);
  });
});

describe('connectPresence: the presence list (watch)', () => {
  it('subscribes on connect and on every reconnect; holds diffs until the snapshot, as Phoenix does', () => {
    const { client, socket } = setup();
    const events: string[] = [];
    client.on('join', (u, _c, j) => events.push(`join ${u} ${j.metas.map((m) => m.sessionId).join(',')}`));
    client.on('leave', (u, _c, l) => events.push(`leave ${u} ${l.metas.map((m) => m.sessionId).join(',')}`));
    client.on('sync', () => events.push('sync'));
    client.watch();
    expect(socket.sentNames()).not.toContain('presence:subscribe');
    socket.open();
    expect(socket.sentNames().filter((e) => e === 'presence:subscribe')).toHaveLength(1);
    // A diff that raced the snapshot: held, then applied on top of it.
    socket.serverEmit('presence_diff', { joins: { b: { metas: [meta('b1')] } }, leaves: {} });
    expect(client.users()).toEqual({});
    socket.serverEmit('presence_state', { a: { metas: [meta('a1')] } });
    expect(Object.keys(client.users()).sort()).toEqual(['a', 'b']);
    // A status change, Phoenix's way: the new meta joins, the old one leaves.
    socket.serverEmit('presence_diff', { joins: { a: { metas: [{ ...meta('a1', 'idle', 5), phx_ref_prev: meta('a1').phx_ref }] } }, leaves: { a: { metas: [meta('a1')] } } });
    expect(client.users().a.metas.map((m) => m.status)).toEqual(['idle']);
    expect(events).toEqual(['join a a1', 'join b b1', 'sync', 'join a a1', 'leave a a1', 'sync']);

    // Reconnect: the list stays while diffs wait for the new snapshot, which then wins.
    socket.drop('transport close');
    socket.open();
    expect(socket.sentNames().filter((e) => e === 'presence:subscribe')).toHaveLength(2);
    socket.serverEmit('presence_diff', { joins: {}, leaves: { b: { metas: [meta('b1')] } } });
    expect(Object.keys(client.users()).sort()).toEqual(['a', 'b']);
    socket.serverEmit('presence_state', { a: { metas: [meta('a1', 'idle', 5)] }, b: { metas: [meta('b1')] }, c: { metas: [meta('c1')] } });
    expect(Object.keys(client.users()).sort()).toEqual(['a', 'c']);
  });

  it('ignores malformed snapshots and diffs, and asks again after presence_error', () => {
    const { client, socket } = setup();
    client.watch();
    socket.open();
    socket.serverEmit('presence_state', { a: { metas: [{ nope: 1 }] } });
    socket.serverEmit('presence_state', { a: { metas: [meta('a1')] } });
    socket.serverEmit('presence_diff', { joins: 'x' });
    expect(Object.keys(client.users())).toEqual(['a']);
    socket.serverEmit('presence_error', { message: 'presence unavailable' });
    jest.advanceTimersByTime(2000);
    expect(socket.sentNames().filter((e) => e === 'presence:subscribe')).toHaveLength(2);
  });
});
