import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { SignJWT } from 'jose';
import { Stack, Tab, TEST_SECRET, uniqueUser, until } from './support/harness.js';

jest.setTimeout(60_000);

const stack = new Stack();
beforeAll(() => stack.start());
afterAll(() => stack.stop());

const refuse = (auth: Record<string, unknown>, query?: Record<string, string>) => new Tab(null, stack.gateway.url, auth, query).refused();
const raw = (claims: Record<string, unknown>, secret = TEST_SECRET) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));

describe('the gateway refuses bad handshakes and publishes nothing for them', () => {
  it('bad tokens get connect_error "unauthorized"; a page outside /dashboard gets "bad_request"', async () => {
    const before = stack.observer.seen.length;
    const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('expired-user').setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(new TextEncoder().encode(TEST_SECRET));
    const cases: Array<[string, Promise<string>, string]> = [
      ['missing token', refuse({}), 'unauthorized'],
      ['garbage token', refuse({ token: 'not.a.jwt' }), 'unauthorized'],
      ['number token', refuse({ token: 42 }), 'unauthorized'],
      ['wrong secret', refuse({ token: await stack.token('mallory', { secret: 'another-secret-0123456789abcdef' }) }), 'unauthorized'],
      ['expired', refuse({ token: expired }), 'unauthorized'],
      ['sub with a dot', refuse({ token: await raw({ sub: 'a.b' }) }), 'unauthorized'],
      ['sub with a star', refuse({ token: await raw({ sub: 'a*' }) }), 'unauthorized'],
      ['sub with >', refuse({ token: await raw({ sub: '>' }) }), 'unauthorized'],
      ['no sub', refuse({ token: await raw({ name: 'x' }) }), 'unauthorized'],
      ['alg none', refuse({ token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' }), 'unauthorized'],
      ['page outside /dashboard', refuse({ token: await stack.token('pager'), page: '/admin' }), 'bad_request'],
      ['page traversal', refuse({ token: await stack.token('pager'), page: '/dashboard/../admin' }), 'bad_request'],
      ['page not a string', refuse({ token: await stack.token('pager'), page: { x: 1 } }), 'bad_request'],
    ];
    for (const [name, refused, expected] of cases) {
      expect([name, await refused]).toEqual([name, expected]);
    }
    // The query-string form works too, for clients that cannot set auth.
    const viaQuery = new Tab(null, stack.gateway.url, {}, { token: await stack.token('by-query') });
    await viaQuery.connected();
    await stack.observer.waitFor('presence.session.by-query.joined');
    const published = stack.observer.seen.slice(before).filter((s) => s.subject.startsWith('presence.session.'));
    // The only session event is the good one's.
    expect(published.map((s) => s.subject)).toEqual(['presence.session.by-query.joined']);
    viaQuery.close();
  });

  it('invalid socket events are answered with an error and change nothing', async () => {
    const user = uniqueUser('events');
    const tab = await stack.tab(user);
    await stack.observer.waitFor(`stream.manager.${user}.started`);
    const bad = await tab.socket.timeout(2000).emitWithAck('presence:status', { status: 'dancing' });
    expect(bad).toMatchObject({ error: 'bad_request' });
    const bad2 = await tab.socket.timeout(2000).emitWithAck('presence:status', 'visible');
    expect(bad2).toMatchObject({ error: 'bad_request' });
    tab.socket.emit('no-such-event', { x: 1 });
    expect(await tab.socket.timeout(2000).emitWithAck('presence:status', { status: 'hidden' })).toEqual({ ok: true });
    const [updated] = await stack.observer.waitFor(`presence.session.${user}.updated`);
    expect(updated.data).toMatchObject({ userId: user, status: 'hidden' });
    expect(stack.observer.on(`presence.session.${user}.updated`)).toHaveLength(1);
    expect(tab.socket.connected).toBe(true);
    tab.close();
  });
});

describe('garbage on NATS is logged and dropped; nothing crashes, nothing changes', () => {
  const consumed = [
    'presence.session.gx.joined',
    'presence.session.gx.left',
    'presence.session.gx.updated',
    'presence.user.gx.online',
    'presence.user.gx.offline',
    'presence.cleanup.gx.scheduled',
    'presence.cleanup.gx.cancelled',
    'stream.manager.gx.started',
    'stream.manager.gx.stopped',
    'presence.gateway.gx.heartbeat',
    'stream.worker.handover',
    'stream.admin.crash',
  ];
  const garbage = ['not json', '{"truncated":', '[]', 'null', '42', '{}', '{"userId":"gx","sessionId":7}', '{"userId":"a.b","at":"2020"}', '{"userId":"other","sessionId":"s","gatewayId":"g","page":"/dashboard","at":"2026-01-01T00:00:00Z"}'];

  it('every consumed subject survives every kind of garbage', async () => {
    const user = uniqueUser('bystander');
    const tab = await stack.tab(user);
    await stack.observer.waitFor(`stream.manager.${user}.started`);
    // Earlier tests' users may still be starting (a join is awaited, not its manager): compare
    // against a settled state, where every online or grace user has its manager.
    type Stats = { users: number; pendingCleanups: number; managers: number };
    const statsBefore = await until('every present user has its manager', async () => {
      const s = await stack.observer.request<Stats>('presence.query.stats');
      return s.managers === s.users + s.pendingCleanups ? s : undefined;
    });
    const drops = () => stack.apps.reduce((n, a) => n + a.grep(/dropped invalid message on/).length, 0);
    const dropsBefore = drops();
    for (const subject of consumed) for (const body of garbage) stack.observer.publish(subject, body);
    // Bad request bodies get an error answer, not silence.
    await expect(stack.observer.request('presence.query.user', 'garbage')).resolves.toMatchObject({ error: expect.stringContaining('userId') });
    await expect(stack.observer.request('presence.query.user', { userId: 'a.b' })).resolves.toMatchObject({ error: expect.any(String) });
    await until('drops logged', () => drops() - dropsBefore >= consumed.length * 3);
    // Session events reach presence through its durable JetStream consumer, which can trail the
    // plain subscriptions that satisfied the count above: await that drop, do not assume it.
    await until('the durable consumer logged its drop', () =>
      stack.presence.grep(/dropped invalid message on presence\.session\.gx\.joined: not JSON/).length > 0,
    );
    for (const app of stack.apps) {
      expect(app.alive).toBe(true);
      expect((await fetch(`${app.url}/health`)).status).toBe(200);
    }
    expect(await stack.observer.request('presence.query.stats')).toEqual(statsBefore);
    const { managers } = await stack.observer.request<{ managers: Array<{ userId: string }> }>('stream.query.managers');
    expect(managers.map((m) => m.userId)).not.toContain('gx');
    // The bystander's manager is untouched.
    expect(stack.observer.on(`stream.manager.${user}.stopped`)).toHaveLength(0);
    tab.close();
  });

  it('a forged but well-formed online for a user with no session starts no manager', async () => {
    const ghost = uniqueUser('ghost');
    stack.observer.publish(`presence.user.${ghost}.online`, JSON.stringify({ userId: ghost, at: new Date().toISOString() }));
    // A real user after it: once their manager is up, the forged event has long been handled.
    const user = uniqueUser('real');
    const tab = await stack.tab(user);
    await stack.observer.waitFor(`stream.manager.${user}.started`);
    await stack.observer.request('stream.query.managers');
    expect(stack.observer.on(`stream.manager.${ghost}.started`)).toHaveLength(0);
    const { managers } = await stack.observer.request<{ managers: Array<{ userId: string }> }>('stream.query.managers');
    expect(managers.map((m) => m.userId)).not.toContain(ghost);
    // And a forged offline for a present user stops nothing.
    stack.observer.publish(`presence.user.${user}.offline`, JSON.stringify({ userId: user, at: new Date().toISOString() }));
    await stack.observer.request('stream.query.managers');
    const again = await stack.observer.request<{ managers: Array<{ userId: string }> }>('stream.query.managers');
    expect(again.managers.map((m) => m.userId)).toContain(user);
    expect(stack.observer.on(`stream.manager.${user}.stopped`)).toHaveLength(0);
    tab.close();
  });
});

describe('HTTP surfaces', () => {
  it('health answers 200 with what it checked; the dashboard page is served under /dashboard', async () => {
    const h = await (await fetch(`${stack.gateway.url}/health`)).json();
    expect(h).toMatchObject({ status: 'ok', checks: { nats: 'up' } });
    for (const path of ['/dashboard', '/dashboard/streams/42']) {
      const r = await fetch(`${stack.gateway.url}${path}`);
      expect(r.status).toBe(200);
      expect(await r.text()).toContain('/dashboard-assets/dashboard.js');
    }
    // The page's assets, with their types; nothing else is served from there.
    for (const [file, type] of [['dashboard.js', 'text/javascript'], ['dashboard.css', 'text/css']]) {
      const r = await fetch(`${stack.gateway.url}/dashboard-assets/${file}`);
      expect([file, r.status, r.headers.get('content-type')]).toEqual([file, 200, expect.stringContaining(type)]);
    }
    for (const path of ['/dashboard-assets/index.html', '/dashboard-assets/..%2Fpackage.json', '/dashboard-assets/nope.js']) {
      expect([path, (await fetch(`${stack.gateway.url}${path}`)).status]).toEqual([path, 404]);
    }
    expect((await fetch(`${stack.gateway.url}/admin`)).status).toBe(404);
    const metrics = await (await fetch(`${stack.presence.url}/metrics`)).text();
    expect(metrics).toContain('presence_users_online');
    expect(metrics).not.toContain(TEST_SECRET);
  });

  it('the board needs basic auth', async () => {
    expect((await fetch(`${stack.presence.url}/queues`)).status).toBe(401);
    const auth = `Basic ${Buffer.from('admin:admin').toString('base64')}`;
    expect((await fetch(`${stack.presence.url}/queues`, { headers: { authorization: auth } })).status).toBe(200);
  });
});
