import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { jetstreamManager } from '@nats-io/jetstream';
import { AUDIT_STREAM_SUBJECTS } from '../libs/contracts/subjects.js';
import { AUDIT_STREAM } from '../libs/nats/streams.js';
import { findBinary } from '../scripts/services.js';
import { Stack, readStream, uniqueUser, until } from './support/harness.js';

jest.setTimeout(60_000);

/**
 * What someone with the NATS CLI sees. `nats micro ls|info|stats` send `$SRV.PING|INFO|STATS`
 * (optionally `.<name>` and `.<name>.<id>`) and collect every reply for a while; these tests send
 * exactly those requests and check the replies have the shape the CLI decodes.
 */

const EVENTS_MAX_AGE_MS = 3_600_000;
const stack = new Stack({ env: { EVENTS_MAX_AGE_MS: String(EVENTS_MAX_AGE_MS) } });
beforeAll(() => stack.start());
afterAll(() => stack.stop());

interface Identity {
  type: string;
  name: string;
  id: string;
  version: string;
  metadata?: Record<string, string>;
}
interface Info extends Identity {
  description: string;
  endpoints: Array<{ name: string; subject: string; queue_group?: string }>;
}
interface Stats extends Identity {
  started: string;
  endpoints: Array<{ name: string; subject: string; num_requests: number; num_errors: number; processing_time: number; average_processing_time: number }>;
}

const byName = <T extends Identity>(replies: T[]) => Object.fromEntries(replies.map((r) => [r.name, r])) as Record<string, T>;

describe('nats micro ls | info | stats', () => {
  it('$SRV.PING: one ping_response per service instance, named presence and stream-workers', async () => {
    const replies = await stack.observer.requestAll<Identity>('$SRV.PING');
    expect(replies.map((r) => r.name).sort()).toEqual(['presence', 'stream-workers']);
    for (const r of replies) {
      expect(r).toMatchObject({ type: 'io.nats.micro.v1.ping_response', id: expect.stringMatching(/\S/), version: '1.0.0' });
    }
    // The instance that answers is named like its NATS connection.
    expect(byName(replies).presence.metadata).toEqual({ instance: stack.presence.env.INSTANCE_ID });
    const scoped = await stack.observer.requestAll<Identity>('$SRV.PING.stream-workers');
    expect(scoped.map((r) => r.name)).toEqual(['stream-workers']);
  });

  it('$SRV.INFO: info_response listing the query endpoints with their subjects', async () => {
    const infos = byName(await stack.observer.requestAll<Info>('$SRV.INFO'));
    expect(Object.keys(infos).sort()).toEqual(['presence', 'stream-workers']);
    expect(infos.presence).toMatchObject({ type: 'io.nats.micro.v1.info_response', version: '1.0.0', description: expect.stringMatching(/presence/i) });
    const endpoints = (i: Info) => Object.fromEntries(i.endpoints.map((e) => [e.name, e.subject]));
    expect(endpoints(infos.presence)).toEqual({
      users: 'presence.query.users',
      user: 'presence.query.user',
      stats: 'presence.query.stats',
      debug: 'presence.query.debug',
      admin_stop: 'presence.admin.stop.*',
      admin_purge_gateway: 'presence.admin.purge_gateway.*',
      admin_end_sessions: 'presence.admin.end_sessions.*',
    });
    expect(endpoints(infos['stream-workers'])).toEqual({ managers: 'stream.query.managers' });
    // Queries go to every replica (the asker keeps the first answer, so a paused replica cannot
    // make one time out); an admin action runs on one replica only (its service's queue group).
    for (const e of infos.presence.endpoints) expect(e.queue_group).toBe(e.name.startsWith('admin_') ? 'presence' : '');
    for (const e of infos['stream-workers'].endpoints) expect(e.queue_group).toBe('');
    // `nats micro info presence <id>`
    const one = await stack.observer.requestAll<Info>(`$SRV.INFO.presence.${infos.presence.id}`);
    expect(one).toHaveLength(1);
    expect(one[0].id).toBe(infos.presence.id);
  });

  it('$SRV.STATS: stats_response whose endpoint counters count the requests made', async () => {
    const count = async (service: string, endpoint: string) => {
      const [s] = await stack.observer.requestAll<Stats>(`$SRV.STATS.${service}`);
      expect(s).toMatchObject({ type: 'io.nats.micro.v1.stats_response', name: service, started: expect.any(String) });
      const e = s.endpoints.find((x) => x.name === endpoint)!;
      expect(e).toMatchObject({ subject: expect.any(String), num_errors: expect.any(Number), processing_time: expect.any(Number) });
      return e;
    };
    const before = await count('presence', 'stats');
    const managersBefore = await count('stream-workers', 'managers');
    for (let i = 0; i < 3; i++) {
      const stats = await stack.observer.request('presence.query.stats');
      expect(stats).toMatchObject({ users: expect.any(Number), sessions: expect.any(Number), pendingCleanups: expect.any(Number) });
    }
    await stack.observer.request('stream.query.managers');
    const errorsBefore = (await count('presence', 'user')).num_errors;
    // A bad request is answered with a service error and counted as one.
    const bad = await stack.observer.nc.request('presence.query.user', '{"userId": "a.b"}', { timeout: 2000 });
    expect(bad.headers?.get('Nats-Service-Error-Code')).toBe('400');
    expect((await count('presence', 'stats')).num_requests).toBe(before.num_requests + 3);
    expect((await count('stream-workers', 'managers')).num_requests).toBe(managersBefore.num_requests + 1);
    expect((await count('presence', 'user')).num_errors).toBe(errorsBefore + 1);
  });

  const natsCli = findBinary('nats');
  (natsCli ? it : it.skip)('the nats CLI itself lists both services (runs only where `nats` is installed)', () => {
    const run = (...args: string[]) => spawnSync(natsCli!, ['--server', stack.backends.natsUrlAs('operator'), ...args], { encoding: 'utf8', timeout: 15_000 });
    const ls = run('micro', 'ls');
    expect(ls.status).toBe(0);
    expect(ls.stdout).toMatch(/presence/);
    expect(ls.stdout).toMatch(/stream-workers/);
    const info = run('micro', 'info', 'presence');
    expect(info.stdout).toContain('presence.query.users');
  });
});

describe('the audit trail: nats sub and nats stream view', () => {
  it('a join/leave/cleanup cycle is kept in order in the stream, with why, and nothing internal is', async () => {
    const user = uniqueUser('audit');
    const tab = await stack.tab(user);
    await stack.observer.waitFor(`stream.manager.${user}.started`);
    tab.close();
    await stack.observer.waitFor(`stream.manager.${user}.stopped`);
    // `nats sub 'presence.>'` / `nats sub 'stream.>'` saw the same events live.
    const live = stack.observer.seen.filter((s) => s.data.userId === user && /^(presence|stream)\./.test(s.subject)).map((s) => s.subject);
    expect(live).toEqual(expect.arrayContaining([`presence.session.${user}.joined`, `presence.user.${user}.offline`, `stream.manager.${user}.stopped`]));

    const stored = await until('the stopped event stored', async () => {
      const all = await readStream(stack.observer.nc, AUDIT_STREAM);
      return all.some((m) => m.subject === `stream.manager.${user}.stopped`) ? all : null;
    });
    const mine = stored.filter((m) => m.data.userId === user);
    expect(mine.map((m) => m.subject.split('.').slice(-1)[0])).toEqual(['joined', 'online', 'started', 'left', 'scheduled', 'offline', 'stopped']);
    const [joined, online, started, left, scheduled, offline, stopped] = mine.map((m) => m.data);
    expect(joined).toMatchObject({ gatewayId: stack.gateway.env.INSTANCE_ID, page: '/dashboard', at: expect.any(String) });
    expect(online).toMatchObject({ sessionId: joined.sessionId, joinedAt: joined.at });
    expect(started).toMatchObject({ workerId: stack.worker.env.INSTANCE_ID });
    expect(left).toMatchObject({ sessionId: joined.sessionId, reason: 'closed' });
    expect(scheduled).toMatchObject({ reason: 'closed', runAt: expect.any(String) });
    expect(offline).toMatchObject({ reason: 'closed' });
    expect(stopped).toMatchObject({ reason: 'offline', cause: 'closed', workerId: stack.worker.env.INSTANCE_ID });
    // Every "at" is in order along the cycle.
    const ats = mine.map((m) => Date.parse(m.data.at as string));
    expect([...ats].sort((a, b) => a - b)).toEqual(ats);

    // Heartbeats flowed meanwhile, but only lifecycle subjects are stored.
    expect(stack.observer.seen.some((s) => /^presence\.gateway\..+\.heartbeat$/.test(s.subject))).toBe(true);
    const kinds = new Set(stored.map((m) => m.subject.replace(/^(presence|stream)\.([^.]+)\..*$/, '$1.$2')));
    expect([...kinds].every((k) => ['presence.session', 'presence.user', 'presence.cleanup', 'stream.manager', 'presence.audit'].includes(k))).toBe(true);
  });

  it('the stream keeps exactly the audit subjects for EVENTS_MAX_AGE_MS', async () => {
    const info = await (await jetstreamManager(stack.observer.nc)).streams.info(AUDIT_STREAM);
    expect([...info.config.subjects].sort()).toEqual([...AUDIT_STREAM_SUBJECTS].sort());
    expect(info.config.max_age).toBe(EVENTS_MAX_AGE_MS * 1_000_000);
    expect(AUDIT_STREAM_SUBJECTS.some((s) => /gateway|worker|query|admin\./.test(s) && !s.startsWith('presence.audit'))).toBe(false);
  });
});

describe('NATS connections carry names', () => {
  it('every app connects as <app>:<INSTANCE_ID> (nats-server /connz)', async () => {
    const connz = (await (await fetch(`${stack.backends.natsMonitorUrl}/connz?limit=1024`)).json()) as { connections: Array<{ name?: string }> };
    const names = connz.connections.map((c) => c.name ?? '');
    for (const app of stack.apps) expect(names).toContain(`${app.app}:${app.env.INSTANCE_ID}`);
    // Besides the apps' (and their Redis-free NATS clients') there is only the test's own observer.
    expect(names.filter((n) => !n.startsWith('e2e-')).sort()).toEqual(stack.apps.map((a) => `${a.app}:${a.env.INSTANCE_ID}`).sort());
  });
});
