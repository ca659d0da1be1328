import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Stack, runScript, uniqueUser, until, type Tab } from './support/harness.js';

jest.setTimeout(180_000);

/**
 * An operator ends a present user's sessions: every gateway closes that user's tabs and tells them
 * why, the user cannot come straight back, and the manager stops after its grace (or at once with
 * --now). And a gateway that answers is purged when the operator insists (--force).
 */

const CLEANUP_MS = 6000;
// Longer than starting a gateway takes: the --now case starts one while the block lives.
const BLOCK_MS = 12_000;
const stack = new Stack({ gateways: 2, env: { CLEANUP_TIMEOUT_MS: String(CLEANUP_MS), END_SESSIONS_BLOCK_MS: String(BLOCK_MS) } });
const inspect = (...args: string[]) => runScript('inspect', args, { NATS_URL: stack.backends.natsUrlAs('ops-ann') }, 60_000);
beforeAll(async () => {
  await stack.start();
  await stack.firstResync();
});
afterAll(() => stack.stop());

interface Ended {
  reason: string;
  message: string;
  until?: string;
}
/** The tab's `session_ended` notices and how its socket ended. */
function watch(tab: Tab) {
  const ended: Ended[] = [];
  const disconnects: string[] = [];
  tab.socket.on('session_ended', (e: Ended) => ended.push(e));
  tab.socket.on('disconnect', (why) => disconnects.push(why));
  return { ended, disconnects };
}
const audits = (target: string) => stack.observer.on('presence.audit.admin.end_sessions').filter((s) => s.data.target === target);

describe('inspect end-sessions <userId>', () => {
  it("ends a present user's two tabs on two gateways, keeps them out a while, and the manager stops after its grace", async () => {
    const alice = uniqueUser('alice');
    const [gw1, gw2] = stack.gateways;
    const a = await stack.tab(alice, { gateway: gw1 });
    const b = await stack.tab(alice, { gateway: gw2 });
    const wa = watch(a);
    const wb = watch(b);
    await stack.observer.waitFor(`stream.manager.${alice}.started`);
    await until('both sessions in the state', async () => (await stack.observer.request<{ metas: unknown[] }>('presence.query.user', { userId: alice })).metas.length === 2 || null);

    const r = await inspect('end-sessions', alice, '--reason', 'account suspended', '--by', 'ops-ann');
    const actedAt = Date.now();
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^DONE: ended 2 session\\(s\\) of ${alice} on (${gw1.env.INSTANCE_ID}, ${gw2.env.INSTANCE_ID}|${gw2.env.INSTANCE_ID}, ${gw1.env.INSTANCE_ID}); new sessions refused until .*; their manager stops at .*after its grace`));
    // Both tabs were told why, then disconnected by the server (a client does not retry that).
    for (const w of [wa, wb]) {
      await until('the tab told and closed', () => w.disconnects.length > 0 || null);
      expect(w.ended).toEqual([{ reason: 'ended_by_operator', message: 'account suspended', until: expect.any(String) }]);
      expect(w.disconnects).toEqual(['io server disconnect']);
    }
    const left = await stack.observer.waitFor(`presence.session.${alice}.left`, 10_000, 2);
    expect(left.map((l) => l.data.reason)).toEqual(['closed', 'closed']);
    expect(new Set(left.map((l) => l.data.gatewayId))).toEqual(new Set([gw1.env.INSTANCE_ID, gw2.env.INSTANCE_ID]));

    // Straight back, on either gateway: refused.
    for (const gw of [gw1, gw2]) {
      const again = await stack.tab(alice, { gateway: gw }).then(
        () => 'connected',
        (e: Error) => e.message,
      );
      expect(again).toBe('session_ended');
    }

    // The manager stops after the ordinary grace, not before.
    const [scheduled] = await stack.observer.waitFor(`presence.cleanup.${alice}.scheduled`);
    const [stopped] = await stack.observer.waitFor(`stream.manager.${alice}.stopped`, CLEANUP_MS + 10_000);
    expect(stopped.receivedAt).toBeGreaterThanOrEqual(Date.parse(scheduled.data.runAt as string) - 50);
    expect(stack.observer.on(`presence.user.${alice}.offline`)[0].data).toMatchObject({ reason: 'closed' });

    const [audit] = await until('the action audited', () => (audits(alice).length ? audits(alice) : null));
    expect(audit.data).toMatchObject({ action: 'end_sessions', outcome: 'done', by: 'ops-ann', reason: 'account suspended', users: [alice], sessions: 2 });

    // Once the block is over the user comes back as usual.
    await until('the block over', () => Date.now() > actedAt + BLOCK_MS + 200 || null, BLOCK_MS + 5000, 100);
    const back = await stack.tab(alice, { gateway: gw2 });
    await stack.observer.waitFor(`stream.manager.${alice}.started`, 10_000, 2);
    back.close();

    // The operator's action is in the user's history, with who did it.
    const h = await inspect('history', alice);
    const row = h.stdout.split('\n').find((l) => l.includes('admin:end_sessions'));
    expect(row?.split(/\s{2,}/).slice(-1)).toEqual(['ops-ann']);
  });

  it('--now: the manager stops at once (offline, admin); a gateway started since refuses the user through presence', async () => {
    const bob = uniqueUser('bob');
    const tab = await stack.tab(bob);
    const w = watch(tab);
    await stack.observer.waitFor(`stream.manager.${bob}.started`);
    const r = await inspect('end-sessions', bob, '--now');
    const actedAt = Date.now();
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/their manager stops now \(offline, admin\)/);
    const [stopped] = await stack.observer.waitFor(`stream.manager.${bob}.stopped`);
    expect(stopped.data).toMatchObject({ reason: 'admin', cause: 'admin' });
    expect(stopped.receivedAt - actedAt).toBeLessThan(CLEANUP_MS / 2);
    expect(w.ended[0]).toMatchObject({ reason: 'ended_by_operator', message: 'your sessions were ended by an operator' });

    // A gateway that never heard of the action lets the tab in; presence refuses its join.
    const late = await stack.addApp('gateway');
    const lateTab = await stack.tab(bob, { gateway: late });
    const lw = watch(lateTab);
    await until('the late tab ended', () => lw.disconnects.length > 0 || null);
    expect(lw.ended[0]).toMatchObject({ reason: 'ended_by_operator' });
    expect(stack.observer.on(`stream.manager.${bob}.started`)).toHaveLength(1);
  });

  it('bad requests are answered 400 and change nothing', async () => {
    const bad = await stack.observer.nc.request('presence.admin.end_sessions.e2e', '{"userId": "no.dots"}', { timeout: 3000 });
    expect(bad.headers?.get('Nats-Service-Error-Code')).toBe('400');
    const cli = await inspect('end-sessions', 'alice', '--force');
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/end-sessions does not take --force/);
  });
});

describe('inspect purge-gateway --force', () => {
  it('purges a gateway that answers; the sockets it really holds come back as new sessions', async () => {
    const carol = uniqueUser('carol');
    const gw2 = stack.gateways[1];
    const tab = await stack.tab(carol, { gateway: gw2 });
    await stack.observer.waitFor(`stream.manager.${carol}.started`);
    const refused = await inspect('purge-gateway', gw2.env.INSTANCE_ID);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^REFUSED: .*--force/);
    const forced = await inspect('purge-gateway', gw2.env.INSTANCE_ID, '--force', '--by', 'ops-ann');
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/^DONE: ended \d+ session\(s\).*forced/);
    const [left] = await stack.observer.waitFor(`presence.session.${carol}.left`);
    expect(left.data).toMatchObject({ reason: 'gateway_down', gatewayId: gw2.env.INSTANCE_ID });
    const audit = await until('the forced purge audited', () =>
      stack.observer.on('presence.audit.admin.purge_gateway').find((s) => s.data.target === gw2.env.INSTANCE_ID && s.data.force === true),
    );
    expect(audit.data).toMatchObject({ outcome: 'done', by: 'ops-ann', users: expect.arrayContaining([carol]) });
    // The tab is still connected: its gateway re-announces it under a new session id.
    await until('the tab re-keyed', () => tab.sessionEvents.length >= 2 || null, 20_000);
    expect(tab.socket.connected).toBe(true);
    await until('carol present again', async () => (await stack.observer.request<{ metas: unknown[] }>('presence.query.user', { userId: carol })).metas.length === 1 || null);
    tab.close();
  });
});
