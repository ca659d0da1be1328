import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { AppProcess, Stack, freePort, uniqueUser, until } from './support/harness.js';
import { health } from './support/faults.js';

jest.setTimeout(90_000);

/** What an operator's Prometheus, load balancer and log reader see. */

const CLEANUP_MS = 1000;
const stack = new Stack({ env: { CLEANUP_TIMEOUT_MS: String(CLEANUP_MS) } });
beforeAll(() => stack.start());
afterAll(() => stack.stop());

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format, the parts a scraper reads: `name{a="b"} value`. */
function parseProm(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape(app: AppProcess) {
  const res = await fetch(`${app.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  const samples = parseProm(await res.text());
  /** Sum of the samples of `name` whose labels include `labels` (0 when there is none). */
  return (name: string, labels: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

describe('/metrics', () => {
  it('a join, a return within the grace period, a last leave and its cleanup move the numbers as expected', async () => {
    const user = uniqueUser('metrics');
    const [p0, w0] = [await scrape(stack.presence), await scrape(stack.worker)];
    const tr = (m: typeof p0, t: string) => m('presence_user_transitions_total', { transition: t });

    const tab = await stack.tab(user);
    await stack.observer.waitFor(`stream.manager.${user}.started`);
    let [p, w, g] = [await scrape(stack.presence), await scrape(stack.worker), await scrape(stack.gateway)];
    expect(p('presence_sessions')).toBe(1);
    expect(p('presence_users_online')).toBe(1);
    expect(g('presence_gateway_sessions')).toBe(1);
    expect(tr(p, 'online') - tr(p0, 'online')).toBe(1);
    expect(w('stream_managers_running')).toBe(1);
    expect(w('stream_manager_starts_total') - w0('stream_manager_starts_total')).toBe(1);
    const joins = w('stream_join_to_manager_started_seconds_count') - w0('stream_join_to_manager_started_seconds_count');
    expect(joins).toBe(1);
    const latency = w('stream_join_to_manager_started_seconds_sum') - w0('stream_join_to_manager_started_seconds_sum');
    expect(latency).toBeGreaterThan(0);
    expect(latency).toBeLessThan(5);

    tab.close();
    await stack.observer.waitFor(`presence.cleanup.${user}.scheduled`);
    p = await scrape(stack.presence);
    expect(p('presence_cleanups_pending')).toBe(1);
    expect(p('presence_sessions')).toBe(0);
    const back = await stack.tab(user);
    await stack.observer.waitFor(`presence.cleanup.${user}.cancelled`);
    back.close();
    await stack.observer.waitFor(`stream.manager.${user}.stopped`);

    [p, w, g] = [await scrape(stack.presence), await scrape(stack.worker), await scrape(stack.gateway)];
    expect(tr(p, 'cleanup_scheduled') - tr(p0, 'cleanup_scheduled')).toBe(2);
    expect(tr(p, 'cleanup_cancelled') - tr(p0, 'cleanup_cancelled')).toBe(1);
    expect(tr(p, 'offline') - tr(p0, 'offline')).toBe(1);
    expect(p('presence_cleanups_pending')).toBe(0);
    expect(p('presence_users_online')).toBe(0);
    expect(g('presence_gateway_sessions')).toBe(0);
    // One cleanup ran, and it ran within the contract's 250 ms of its time.
    const late = (m: typeof p, le?: string) => (le ? m('presence_cleanup_lateness_seconds_bucket', { le }) : m('presence_cleanup_lateness_seconds_count'));
    expect(late(p) - late(p0)).toBe(1);
    expect(late(p, '0.25') - late(p0, '0.25')).toBe(1);
    expect(w('stream_managers_running')).toBe(0);
    expect(w('stream_manager_stops_total', { reason: 'offline' }) - w0('stream_manager_stops_total', { reason: 'offline' })).toBe(1);
  });

  it('messages dropped as invalid are counted by the app that dropped them', async () => {
    const [p0, w0] = [await scrape(stack.presence), await scrape(stack.worker)];
    const dropped = (m: typeof p0, subject: string) => m('presence_invalid_messages_total', { subject });
    stack.observer.publish('presence.session.mallory.joined', 'not json');
    stack.observer.publish('presence.user.mallory.online', JSON.stringify({ userId: 'mallory' }));
    await until('presence counted the bad session event', async () => dropped(await scrape(stack.presence), 'presence.session') === dropped(p0, 'presence.session') + 1);
    await until('the worker counted the bad user event', async () => dropped(await scrape(stack.worker), 'presence.user') === dropped(w0, 'presence.user') + 1);
    await stack.presence.waitForLine(/dropped invalid message on presence\.session\.mallory\.joined: not JSON/);
  });

  it('a gateway follows the lifecycle subjects of its own users only, from their first tab to their last', async () => {
    const other = await stack.addApp('gateway');
    try {
      const [a, b] = [uniqueUser('follow-a'), uniqueUser('follow-b')];
      const followed = async (g: AppProcess) => (await scrape(g))('presence_gateway_followed_users');
      const [g0, o0] = [await followed(stack.gateway), await followed(other)];
      const tabsA = [await stack.tab(a), await stack.tab(a)];
      const tabB = await stack.tab(b, { gateway: other });
      // Each tab still hears its own manager's lifecycle: the events reach the gateway that holds it.
      for (const t of [...tabsA, tabB]) await t.waitManager('running');
      expect([(await followed(stack.gateway)) - g0, (await followed(other)) - o0]).toEqual([1, 1]);
      tabsA[0].close();
      await stack.observer.waitFor(`presence.session.${a}.left`);
      expect((await followed(stack.gateway)) - g0).toBe(1);
      tabsA[1].close();
      tabB.close();
      await until('both gateways stopped following', async () => (await followed(stack.gateway)) === g0 && (await followed(other)) === o0);
    } finally {
      await other.kill('SIGTERM');
      stack.gateways.splice(stack.gateways.indexOf(other), 1);
    }
  });

  it('every app serves the same metric names, so one dashboard fits all', async () => {
    for (const app of stack.apps) {
      const text = await (await fetch(`${app.url}/metrics`)).text();
      for (const name of ['presence_invalid_messages_total', 'presence_user_transitions_total', 'presence_cleanup_lateness_seconds', 'stream_managers_running', 'stream_join_to_manager_started_seconds', 'process_cpu_seconds_total']) {
        expect([app.app, text.includes(`# TYPE ${name} `)]).toEqual([app.app, true]);
      }
    }
  });
});

describe('logs', () => {
  it('development: readable lines prefixed by app, context and level; LOG_LEVEL=debug shows debug lines', async () => {
    const user = uniqueUser('logs');
    const a = await stack.tab(user);
    const b = await stack.tab(user);
    await stack.worker.waitForLine(new RegExp(`\\[UserStreamManager:${user}\\] Console log #1 - \\d{4}-\\d\\d-\\d\\dT`));
    await stack.presence.waitForLine(new RegExp(`^\\[presence\\] \\d+ .* LOG \\[PresenceManager\\] join: ${user} \\(first session `));
    await stack.presence.waitForLine(new RegExp(`DEBUG \\[PresenceManager\\] join: ${user} session \\S+ \\(none\\)`));
    a.close();
    b.close();
    await stack.presence.waitForLine(new RegExp(`LOG \\[PresenceManager\\] leave: ${user} has no session left \\(closed\\)`));
  });

  it('production: one JSON object per line; LOG_LEVEL=warn keeps only warnings and errors', async () => {
    const prod = { NODE_ENV: 'production', BOARD_USER: 'ops', BOARD_PASSWORD: 'not-the-default' };
    const info = await stack.addApp('gateway', { ...prod, LOG_LEVEL: 'info' });
    const warn = await stack.addApp('stream-workers', { ...prod, LOG_LEVEL: 'warn' });
    const ready = await info.waitForLine(/ready on port/);
    expect(JSON.parse(ready)).toMatchObject({ level: 'log', context: 'Bootstrap', message: expect.stringContaining(info.env.INSTANCE_ID) });
    stack.observer.publish('presence.user.mallory.online', 'not json');
    const dropped = await warn.waitForLine(/dropped invalid message/);
    expect(JSON.parse(dropped)).toMatchObject({ level: 'warn', context: 'Nats' });
    for (const app of [info, warn]) {
      const levels = app.lines.map((l) => (JSON.parse(l) as { level: string }).level);
      expect(levels.length).toBeGreaterThan(0);
      if (app === warn) expect(levels.every((l) => l === 'warn' || l === 'error' || l === 'fatal')).toBe(true);
      else expect(levels).not.toContain('debug');
    }
    await Promise.all([info.kill('SIGTERM'), warn.kill('SIGTERM')]);
    stack.gateways.splice(stack.gateways.indexOf(info), 1);
    stack.workers.splice(stack.workers.indexOf(warn), 1);
  });
});

describe('/health', () => {
  it('says what is down: 503 with redis down while Redis is stopped, 200 again once it is back', async () => {
    for (const app of stack.apps) expect([app.app, (await health(app)).status]).toEqual([app.app, 200]);
    expect((await health(stack.presence)).body).toMatchObject({ status: 'ok', ready: true, checks: { nats: 'up', redis: 'up' } });

    await stack.backends.stopRedis();
    for (const app of [stack.presence, stack.worker]) {
      const h = await until(`${app.app} 503`, async () => {
        const r = await health(app);
        return r.status === 503 ? r : null;
      });
      expect(h.body).toMatchObject({ status: 'unavailable', checks: { nats: 'up', redis: 'down' } });
    }
    // The gateway does not use Redis: it stays up.
    expect(await health(stack.gateway)).toMatchObject({ status: 200, body: { checks: { nats: 'up' } } });

    // A worker started now is not ready until Redis answers: its /health says 503 meanwhile.
    const port = await freePort();
    const late = new AppProcess('stream-workers', { ...stack.env, STREAM_WORKERS_PORT: String(port), INSTANCE_ID: `late-worker-${port}` }, port);
    stack.workers.push(late);
    await late.start(false);
    const early = await until('the late worker answers /health', () => health(late).catch(() => null), 20_000);
    expect(early.status).toBe(503);
    expect(early.body.checks.redis).toBe('down');

    await stack.backends.startRedis();
    for (const app of [stack.presence, stack.worker, late]) await app.healthy();
    expect((await health(stack.presence)).body.checks).toEqual({ nats: 'up', events: 'up', redis: 'up' });
  });
});
