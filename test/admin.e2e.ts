import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { AUDIT_STREAM } from '../libs/nats/streams.js';
import { Stack, readStream, runScript, uniqueUser, until, type Tab } from './support/harness.js';

jest.setTimeout(90_000);

/**
 * The operator's command line: `npm run inspect -- ...` run as a built script against a running
 * stack, reading tables; and the admin actions, which must be refused when they would break the
 * invariant, and leave an audit record when they act.
 */

// Long enough that whatever happens in a test was caused by the admin action, not by a timer.
const CLEANUP_MS = 20_000;
const GATEWAY_TTL_MS = 30_000;
const stack = new Stack({ env: { CLEANUP_TIMEOUT_MS: String(CLEANUP_MS), GATEWAY_TTL_MS: String(GATEWAY_TTL_MS) } });
beforeAll(async () => {
  await stack.start();
  // Presence's first start asks the gateways to re-announce their sessions about 1 s later; the
  // audit trails below are exact, so let that happen before any test opens a tab.
  await stack.firstResync();
});
afterAll(() => stack.stop());

const inspect = (...args: string[]) => runScript('inspect', args, { NATS_URL: stack.backends.natsUrlAs('ops-ann') });
const rowOf = (out: string, first: string) => out.split('\n').find((l) => l.split(/\s{2,}/)[0] === first);
const cells = (line: string | undefined) => (line ?? '').split(/\s{2,}/);

const alice = uniqueUser('alice');
const bob = uniqueUser('bob');
const tabs: Tab[] = [];

describe('npm run inspect -- debug | users | user | managers', () => {
  beforeAll(async () => {
    tabs.push(await stack.tab(alice), await stack.tab(alice, { page: '/dashboard/reports' }));
    const bobTab = await stack.tab(bob);
    await stack.observer.waitFor(`stream.manager.${alice}.started`);
    await stack.observer.waitFor(`stream.manager.${bob}.started`);
    bobTab.close();
    await stack.observer.waitFor(`presence.cleanup.${bob}.scheduled`);
  });

  it('users: one row per online user with their session count (list_presence)', async () => {
    const r = await inspect('users');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^USER\s+SESSIONS\s+STATUS\s+PAGES\s+SINCE$/);
    expect(cells(rowOf(r.stdout, alice)).slice(0, 4)).toEqual([alice, '2', 'visible', '/dashboard,/dashboard/reports']);
    // bob closed his last tab: in his grace period, but not online.
    expect(rowOf(r.stdout, bob)).toBeUndefined();
  });

  it('user <id>: sessions, pending cleanup and manager', async () => {
    const a = await inspect('user', alice);
    expect(a.code).toBe(0);
    const head = cells(rowOf(a.stdout, alice));
    expect(head.slice(0, 3)).toEqual([alice, '2', '-']);
    expect(head[3]).toMatch(new RegExp(`^${stack.worker.env.INSTANCE_ID} since `));
    const sessionRows = a.stdout.split('\n').filter((l) => l.includes(stack.gateway.env.INSTANCE_ID));
    expect(sessionRows).toHaveLength(2);
    expect(sessionRows.map((l) => cells(l)[1]).sort()).toEqual(['/dashboard', '/dashboard/reports']);
    const b = await inspect('user', bob);
    const bobHead = cells(rowOf(b.stdout, bob));
    expect(bobHead[1]).toBe('0');
    expect(bobHead[2]).toMatch(/^\d{4}-.+Z \(in \d+\.\d s\)$/);
    expect(b.stdout).toContain('(no session)');
    const json = JSON.parse((await inspect('user', bob, '--json')).stdout);
    expect(json).toMatchObject({ userId: bob, metas: [], cleanupAt: expect.any(String) });
  });

  it('managers: every running manager with its components (get_managed_users)', async () => {
    const r = await inspect('managers');
    expect(r.code).toBe(0);
    for (const u of [alice, bob]) {
      const row = cells(rowOf(r.stdout, u));
      expect(row[1]).toBe(stack.worker.env.INSTANCE_ID);
      expect(row[3]).toContain('ConsoleLogger:running');
    }
  });

  it('debug: stats, managers, pending cleanups, gateways and workers alive (PresenceHelper.debug)', async () => {
    const r = await inspect('debug');
    expect(r.code).toBe(0);
    const sections = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n\n')
        .map((block) => {
          const [title, ...rest] = block.split('\n');
          return [title, rest];
        }),
    );
    expect(Object.keys(sections)).toEqual(['STATS', 'MANAGERS', 'PENDING CLEANUPS', 'GATEWAYS', 'WORKERS']);
    // users, sessions, visible, hidden, idle, pending cleanups, managers
    expect(cells(sections.STATS[1])).toEqual(['1', '2', '2', '0', '0', '1', '2']);
    expect(sections.MANAGERS.filter((l: string) => l.startsWith(alice) || l.startsWith(bob))).toHaveLength(2);
    expect(cells(rowOf(sections['PENDING CLEANUPS'].join('\n'), bob))).toEqual([bob, expect.stringMatching(/Z$/), expect.stringMatching(/^in /), 'closed']);
    expect(cells(rowOf(sections.GATEWAYS.join('\n'), stack.gateway.env.INSTANCE_ID))).toEqual([stack.gateway.env.INSTANCE_ID, 'yes', expect.stringMatching(/ago$/), '2']);
    expect(cells(rowOf(sections.WORKERS.join('\n'), stack.worker.env.INSTANCE_ID)).slice(0, 2)).toEqual([stack.worker.env.INSTANCE_ID, 'yes']);
  });

  it('wrong arguments and an unreachable NATS: a clear message and a non-zero exit', async () => {
    const bad = await inspect('frobnicate');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown command "frobnicate"[\s\S]*usage: npm run inspect/);
    expect((await inspect('user')).code).toBe(2);
    expect((await inspect('user', 'not.a.user')).stderr).toContain('is not a user id');
    const down = await runScript('inspect', ['users'], { NATS_URL: 'nats://127.0.0.1:1' });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/cannot reach NATS at nats:\/\/127\.0\.0\.1:1/);
  });
});

describe('admin actions, audited', () => {
  const audits = (action: string, target: string) => stack.observer.on(`presence.audit.admin.${action}`).filter((s) => s.data.target === target);

  it('stop: a user in their grace period goes offline now (reason admin) and their manager stops', async () => {
    const [scheduled] = stack.observer.on(`presence.cleanup.${bob}.scheduled`);
    const r = await inspect('stop', bob, '--by', 'ops-ann');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^DONE: .*offline \(admin\)/);
    const [offline] = await stack.observer.waitFor(`presence.user.${bob}.offline`);
    const [stopped] = await stack.observer.waitFor(`stream.manager.${bob}.stopped`);
    expect(offline.data).toMatchObject({ reason: 'admin' });
    expect(stopped.data).toMatchObject({ reason: 'admin', cause: 'admin' });
    // Well before the cleanup would have run by itself.
    expect(stopped.receivedAt).toBeLessThan(Date.parse(scheduled.data.runAt as string) - CLEANUP_MS / 2);
    const [audit] = await until('the audit record', () => (audits('stop', bob).length ? audits('stop', bob) : null));
    expect(audit.data).toMatchObject({ action: 'stop', outcome: 'done', by: 'ops-ann', instanceId: stack.presence.env.INSTANCE_ID });
    // State and managers agree: no pending cleanup, no manager.
    const user = await stack.observer.request<{ cleanupAt: string | null; manager: unknown }>('presence.query.user', { userId: bob });
    expect(user).toMatchObject({ cleanupAt: null });
    await until('bob unregistered', async () => (await stack.observer.request<{ manager: unknown }>('presence.query.user', { userId: bob })).manager === null);
    const managers = await inspect('managers');
    expect(rowOf(managers.stdout, bob)).toBeUndefined();
    // The audit trail holds the action and its effects.
    const stored = await until('audit stored', async () => {
      const all = await readStream(stack.observer.nc, AUDIT_STREAM);
      return all.some((m) => m.subject === `stream.manager.${bob}.stopped`) ? all : null;
    });
    const trail = stored.filter((m) => m.data.userId === bob || m.data.target === bob).map((m) => m.subject.replace(`.${bob}.`, '.<u>.'));
    expect(trail.slice(0, 5)).toEqual(['presence.session.<u>.joined', 'presence.user.<u>.online', 'stream.manager.<u>.started', 'presence.session.<u>.left', 'presence.cleanup.<u>.scheduled']);
    expect(trail.slice(5).sort()).toEqual(['presence.audit.admin.stop', 'presence.user.<u>.offline', 'stream.manager.<u>.stopped']);
    expect(trail.indexOf('presence.user.<u>.offline')).toBeLessThan(trail.indexOf('stream.manager.<u>.stopped'));
  });

  it('stop is refused while the user has sessions (their manager would only start again), and is a no-op for nobody', async () => {
    const r = await inspect('stop', alice);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^REFUSED: .*2 live session\(s\)/);
    const [audit] = await until('the refusal audited', () => (audits('stop', alice).length ? audits('stop', alice) : null));
    expect(audit.data).toMatchObject({ outcome: 'refused' });
    expect(stack.observer.on(`presence.user.${alice}.offline`)).toHaveLength(0);
    expect(rowOf((await inspect('managers')).stdout, alice)).toBeDefined();
    const nobody = await inspect('stop', uniqueUser('nobody'));
    expect(nobody.code).toBe(0);
    expect(nobody.stdout).toMatch(/^NOTHING_TO_DO: no manager runs/);
    const bad = await stack.observer.nc.request('presence.admin.stop.e2e', '{"user": "x"}', { timeout: 2000 });
    expect(bad.headers?.get('Nats-Service-Error-Code')).toBe('400');
  });

  it('purge-gateway: refused while the gateway answers; a dead one has its sessions ended now with reason gateway_down', async () => {
    const live = await inspect('purge-gateway', stack.gateway.env.INSTANCE_ID);
    expect(live.code).toBe(1);
    expect(live.stdout).toMatch(/^REFUSED: gateway .* is alive/);
    expect(stack.observer.on(`presence.session.${alice}.left`)).toHaveLength(0);

    const second = await stack.addApp('gateway');
    const carol = uniqueUser('carol');
    await stack.tab(carol, { gateway: second });
    await stack.observer.waitFor(`stream.manager.${carol}.started`);
    await second.kill('SIGKILL');
    const killedAt = Date.now();
    const r = await inspect('purge-gateway', second.env.INSTANCE_ID, '--by', 'ops-ann');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^DONE: ended 1 session\(s\) of 1 user\(s\)/);
    expect(rowOf(r.stdout, carol)).toBeDefined();
    const [left] = await stack.observer.waitFor(`presence.session.${carol}.left`);
    expect(left.data).toMatchObject({ reason: 'gateway_down', gatewayId: second.env.INSTANCE_ID });
    // Long before GATEWAY_TTL_MS would have ended them.
    expect(left.receivedAt - killedAt).toBeLessThan(GATEWAY_TTL_MS / 2);
    const [scheduled] = await stack.observer.waitFor(`presence.cleanup.${carol}.scheduled`);
    expect(scheduled.data).toMatchObject({ reason: 'gateway_down' });
    const [audit] = await until('the purge audited', () => (audits('purge_gateway', second.env.INSTANCE_ID).length ? audits('purge_gateway', second.env.INSTANCE_ID) : null));
    expect(audit.data).toMatchObject({ outcome: 'done', by: 'ops-ann' });
    // Once purged there is nothing left to purge.
    const again = await inspect('purge-gateway', second.env.INSTANCE_ID);
    expect(again.stdout).toMatch(/^NOTHING_TO_DO/);
    // The admin counter moved as the audit trail says.
    const metrics = await (await fetch(`${stack.presence.url}/metrics`)).text();
    expect(metrics).toMatch(/presence_admin_actions_total\{action="purge_gateway",outcome="done"\} 1\n/);
    expect(metrics).toMatch(/presence_admin_actions_total\{action="stop",outcome="refused"\} 1\n/);
  });
});

afterAll(() => tabs.forEach((t) => t.close()));
