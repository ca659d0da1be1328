import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Stack, runScript, sleep, uniqueUser, until } from './support/harness.js';

jest.setTimeout(180_000);

/**
 * `npm run inspect -- history`: a scripted visit is played with real tabs against a real stack,
 * then read back from the JetStream stream by the built script, as an operator would.
 */

// Long: every stop below is the operator's doing, not a timer's.
const CLEANUP_MS = 30_000;
const stack = new Stack({ env: { CLEANUP_TIMEOUT_MS: String(CLEANUP_MS) } });
const inspect = (...args: string[]) => runScript('inspect', args, { NATS_URL: stack.backends.natsUrlAs('ops-ann') }, 60_000);
const alice = uniqueUser('alice');
const bob = uniqueUser('bob');

/** The table's rows as cells (columns are separated by two spaces or more). */
const rows = (out: string) =>
  out
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(/\s{2,}/));

beforeAll(async () => {
  await stack.start();
  await stack.firstResync();
  // The visit: join, status, leave, come back (cancelled), leave, and an operator's stop.
  const first = await stack.tab(alice);
  await stack.observer.waitFor(`stream.manager.${alice}.started`);
  first.socket.emit('presence:status', { status: 'hidden' });
  await stack.observer.waitFor(`presence.session.${alice}.updated`);
  first.close();
  await stack.observer.waitFor(`presence.cleanup.${alice}.scheduled`);
  const second = await stack.tab(alice, { page: '/dashboard/reports' });
  await stack.observer.waitFor(`presence.cleanup.${alice}.cancelled`);
  second.close();
  await stack.observer.waitFor(`presence.cleanup.${alice}.scheduled`, 10_000, 2);
  const stop = await inspect('stop', alice, '--by', 'ops-ann');
  expect(stop.code).toBe(0);
  await stack.observer.waitFor(`stream.manager.${alice}.stopped`);
  await stack.observer.waitFor('presence.audit.admin.stop');
  // Someone else, who must not show in alice's history.
  const other = await stack.tab(bob);
  await stack.observer.waitFor(`stream.manager.${bob}.started`);
  other.close();
  await stack.observer.waitFor(`presence.cleanup.${bob}.scheduled`);
});
afterAll(() => stack.stop());

const VISIT = ['joined', 'online', 'started', 'updated', 'left', 'scheduled', 'joined', 'cancelled', 'left', 'scheduled'];

describe('inspect history', () => {
  it('<userId>: the whole visit as a table, oldest first, with reasons, sessions, where and who', async () => {
    const r = await inspect('history', alice);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^TIME\s+EVENT\s+REASON_OR_CAUSE\s+SESSION\s+GATEWAY_OR_WORKER\s+OPERATOR$/);
    const table = rows(r.stdout);
    const events = table.map((c) => c[1]);
    expect(events.slice(0, VISIT.length)).toEqual(VISIT);
    expect(events.slice(VISIT.length).sort()).toEqual(['admin:stop', 'offline', 'stopped']);
    expect(events.indexOf('offline')).toBeLessThan(events.indexOf('stopped'));
    const times = table.map((c) => Date.parse(c[0]));
    expect(times.every((t) => Number.isFinite(t))).toBe(true);
    const byEvent = (e: string) => table.filter((c) => c[1] === e);
    const gw = stack.gateway.env.INSTANCE_ID;
    const worker = stack.worker.env.INSTANCE_ID;
    expect(byEvent('joined').map((c) => [c[2], c[4]])).toEqual([
      ['page /dashboard', gw],
      ['page /dashboard/reports', gw],
    ]);
    expect(byEvent('joined')[0][3]).toMatch(/^[0-9a-f-]{36}$/);
    expect(byEvent('updated')[0][2]).toBe('hidden');
    expect(byEvent('left').map((c) => c[2])).toEqual(['closed', 'closed']);
    expect(byEvent('scheduled')[0][2]).toMatch(/^closed, runs \d{4}-/);
    expect(byEvent('started')[0][4]).toBe(worker);
    expect(byEvent('offline')[0][2]).toBe('admin');
    expect(byEvent('stopped')[0].slice(2)).toEqual(['admin (admin)', '-', worker, '-']);
    // Who did it: the operator of the admin action, and the presence replica that acted.
    expect(byEvent('admin:stop')[0].slice(2)).toEqual([`done ${alice}`, '-', stack.presence.env.INSTANCE_ID, 'ops-ann']);
    expect(r.stdout).not.toContain(bob);
  });

  it('--json: an array of {at, subject, ...payload}, the same events', async () => {
    const r = await inspect('history', alice, '--json');
    expect(r.code).toBe(0);
    const events = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(events.map((e) => e.subject)).toEqual(
      expect.arrayContaining([`presence.session.${alice}.joined`, `stream.manager.${alice}.stopped`, 'presence.audit.admin.stop']),
    );
    expect(events).toHaveLength(VISIT.length + 3);
    expect(events[0]).toMatchObject({ subject: `presence.session.${alice}.joined`, userId: alice, gatewayId: stack.gateway.env.INSTANCE_ID, at: expect.any(String) });
    expect(events.find((e) => e.subject === 'presence.audit.admin.stop')).toMatchObject({ action: 'stop', target: alice, by: 'ops-ann', outcome: 'done' });
    const at = events.map((e) => Date.parse(e.at as string));
    expect(at.every((t) => Number.isFinite(t))).toBe(true);
  });

  it('--all --since: everyone, with a user column; --since cuts off what came before', async () => {
    const r = await inspect('history', '--all', '--since', '10m');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^TIME\s+USER\s+EVENT\s+/);
    const users = new Set(rows(r.stdout).map((c) => c[1]));
    expect(users).toEqual(new Set([alice, bob, '(admin)']));
    const mark = new Date().toISOString();
    await sleep(50);
    const tab = await stack.tab(bob);
    await stack.observer.waitFor(`presence.cleanup.${bob}.cancelled`);
    const since = JSON.parse((await inspect('history', bob, '--since', mark, '--json')).stdout) as Array<{ subject: string }>;
    expect(since.map((e) => e.subject)).toEqual([`presence.session.${bob}.joined`, `presence.cleanup.${bob}.cancelled`]);
    tab.close();
    const json = JSON.parse((await inspect('history', '--all', '--since', '1h', '--json')).stdout) as Array<{ subject: string }>;
    expect(json.length).toBeGreaterThanOrEqual(VISIT.length + 3 + 6);
  });

  it('a user with no history and bad arguments are told plainly; no consumer is left behind', async () => {
    const none = await inspect('history', uniqueUser('nobody'));
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('(no event in the stream for this query)\n');
    expect((await inspect('history')).code).toBe(2);
    expect((await inspect('history', alice, '--all')).code).toBe(2);
    expect((await inspect('history', 'not.a.user')).stderr).toContain('is not a user id');
    expect((await inspect('history', alice, '--limit', '0')).stderr).toContain('--limit');
    const limited = await inspect('history', alice, '--limit', '2', '--json');
    expect((JSON.parse(limited.stdout) as Array<{ subject: string }>).map((e) => e.subject)).toEqual(
      expect.arrayContaining([`stream.manager.${alice}.stopped`]),
    );
    // Each reading deletes its consumers: only presence's durable one stays.
    await until('the readers\' consumers gone', async () => {
      const info = await stack.observer.request<{ state: { consumer_count: number } }>('$JS.API.STREAM.INFO.PRESENCE_EVENTS');
      return info.state.consumer_count === 1 || null;
    });
  });
});
