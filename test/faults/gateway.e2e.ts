import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Stack, uniqueUser, until, sleep } from '../support/harness.js';
import { FAST, converged, convergenceBound, expectNeverTwoManagers, fastEnv, restart } from '../support/faults.js';

jest.setTimeout(60_000);

const T = FAST;
/** Presence judges gateways every GATEWAY_TTL_MS / 4 (250..1000 ms). */
const TICK_MS = Math.max(250, Math.min(1000, T.GATEWAY_TTL_MS / 4));

describe('a gateway dies', () => {
  const stack = new Stack({ gateways: 2, env: fastEnv() });
  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it('kill -9: its sessions end as gateway_down after GATEWAY_TTL_MS, cleanups follow, no ghost users', async () => {
    const [gw1, gw2] = stack.gateways;
    const only1 = uniqueUser('on-gw1');
    const both = uniqueUser('on-both');
    const only2 = uniqueUser('on-gw2');
    const users = [only1, both, only2];
    const tabs = [
      await stack.tab(only1, { gateway: gw1 }),
      await stack.tab(both, { gateway: gw1 }),
      await stack.tab(both, { gateway: gw2 }),
      await stack.tab(only2, { gateway: gw2 }),
    ];
    for (const u of users) await stack.observer.waitFor(`stream.manager.${u}.started`);
    await converged(stack, users, users, 5000);

    await gw1.kill('SIGKILL');
    const killedAt = Date.now();
    const [left] = await stack.observer.waitFor(`presence.session.${only1}.left`, T.GATEWAY_TTL_MS + 2 * TICK_MS + 1000);
    expect(left.data).toMatchObject({ userId: only1, reason: 'gateway_down', gatewayId: gw1.env.INSTANCE_ID });
    // Not before the gateway has been silent for its TTL (its last beat came up to TTL/3 before the kill).
    expect(left.receivedAt - killedAt).toBeGreaterThanOrEqual((T.GATEWAY_TTL_MS * 2) / 3 - 100);
    const [bothLeft] = await stack.observer.waitFor(`presence.session.${both}.left`);
    expect(bothLeft.data.reason).toBe('gateway_down');

    // only1's manager stops one cleanup timeout after the leave; the others never stop.
    const [stopped] = await stack.observer.waitFor(`stream.manager.${only1}.stopped`, T.CLEANUP_TIMEOUT_MS + 2000);
    expect(stopped.receivedAt - killedAt).toBeLessThanOrEqual(convergenceBound(T));
    expect(stopped.receivedAt - left.receivedAt).toBeGreaterThanOrEqual(T.CLEANUP_TIMEOUT_MS - 50);
    await converged(stack, users, [both, only2], 3000);
    expect(stack.observer.on(`stream.manager.${both}.stopped`)).toHaveLength(0);
    expect(stack.observer.on(`presence.cleanup.${both}.scheduled`)).toHaveLength(0);
    expect(stack.observer.on(`stream.manager.${only2}.stopped`)).toHaveLength(0);
    const q = await stack.observer.request<{ metas: Array<{ gatewayId: string }> }>('presence.query.user', { userId: both });
    expect(q.metas.map((m) => m.gatewayId)).toEqual([gw2.env.INSTANCE_ID]);
    for (const u of users) expectNeverTwoManagers(stack, u, new Map());
    // The survivors' tabs still work: closing them ends their users normally.
    tabs[2].close();
    tabs[3].close();
    await converged(stack, users, [], T.CLEANUP_TIMEOUT_MS + 3000);
  });

  it('SIGTERM: the gateway publishes its sessions\' leaves before it exits', async () => {
    const gw3 = await stack.addApp('gateway');
    const user = uniqueUser('graceful');
    const other = uniqueUser('elsewhere');
    await stack.tab(user, { gateway: gw3 });
    await stack.tab(user, { gateway: gw3 });
    const stays = await stack.tab(other, { gateway: stack.gateways[1] });
    await stack.observer.waitFor(`stream.manager.${user}.started`);
    await stack.observer.waitFor(`stream.manager.${other}.started`);

    const stoppingAt = Date.now();
    await gw3.kill('SIGTERM');
    const exitedAt = Date.now();
    // Nest re-raises the signal once its shutdown hooks are done: a clean exit by SIGTERM.
    expect([gw3.child!.exitCode, gw3.child!.signalCode]).toEqual([null, 'SIGTERM']);
    const leaves = await stack.observer.waitFor(`presence.session.${user}.left`, 2000, 2);
    for (const l of leaves) {
      expect(l.data.reason).toBe('gateway_down');
      expect(Date.parse(l.data.at as string)).toBeLessThanOrEqual(exitedAt);
      expect(l.receivedAt).toBeLessThanOrEqual(exitedAt + 200);
    }
    expect(gw3.grep(/closed 2 session\(s\) \(their tabs reconnect\) and published their leaves before stopping/)).toHaveLength(1);
    // The cleanup follows from the leaves at once, not from a heartbeat timeout.
    const [scheduled] = await stack.observer.waitFor(`presence.cleanup.${user}.scheduled`, 2000);
    expect(scheduled.receivedAt - stoppingAt).toBeLessThan(T.GATEWAY_TTL_MS / 2);
    await stack.observer.waitFor(`stream.manager.${user}.stopped`, T.CLEANUP_TIMEOUT_MS + 1500);
    await converged(stack, [user, other], [other], 3000);
    stays.close();
  });
});

/** A TTL long enough that the restart surely beats it: the boot id, not the silence, ends the sessions. */
const SLOW = { ...FAST, GATEWAY_TTL_MS: 9000 };

describe('a gateway restarted under the same INSTANCE_ID (kill -9, then started again at once)', () => {
  const stack = new Stack({ env: fastEnv(SLOW) });
  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it('its earlier sessions end on the new boot id, long before the TTL; no ghost stays', async () => {
    const fixed = await stack.addApp('gateway', { INSTANCE_ID: 'gw-fixed-id' });
    const ghost = uniqueUser('ghost');
    const back = uniqueUser('reconnects');
    await stack.tab(ghost, { gateway: fixed });
    await stack.tab(back, { gateway: fixed });
    await stack.observer.waitFor(`stream.manager.${ghost}.started`);
    await stack.observer.waitFor(`stream.manager.${back}.started`);

    await fixed.kill('SIGKILL');
    const killedAt = Date.now();
    const again = await restart(stack, fixed);
    // `back` reconnects to the new incarnation at once; `ghost` never comes back.
    const backTab = await stack.tab(back, { gateway: again });
    const [left] = await stack.observer.waitFor(`presence.session.${ghost}.left`, SLOW.GATEWAY_TTL_MS);
    expect(left.data).toMatchObject({ reason: 'gateway_down', gatewayId: 'gw-fixed-id' });
    // Ended on the new boot id, before the silence could count (and it never would: the id beats again).
    expect(left.receivedAt - killedAt).toBeLessThan((SLOW.GATEWAY_TTL_MS * 2) / 3);
    expect(stack.presence.grep(/gateway gw-fixed-id restarted \(boot/)).toHaveLength(1);
    await converged(stack, [ghost, back], [back], convergenceBound(SLOW));
    // back's old session ended too, its new one stays; its manager never stopped.
    const q = await stack.observer.request<{ metas: unknown[] }>('presence.query.user', { userId: back });
    expect(q.metas).toHaveLength(1);
    expect(stack.observer.on(`stream.manager.${back}.stopped`)).toHaveLength(0);
    // Nothing flaps afterwards (two more heartbeats).
    await sleep((SLOW.GATEWAY_TTL_MS * 2) / 3 + 500);
    await converged(stack, [ghost, back], [back], 1000);
    backTab.close();
    await until('back offline', () => stack.observer.on(`stream.manager.${back}.stopped`).length === 1, SLOW.CLEANUP_TIMEOUT_MS + 3000);
  });
});
