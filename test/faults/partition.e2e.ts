import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { CableProxy, Stack, uniqueUser, until, type AppProcess } from '../support/harness.js';
import { FAST, converged, expectNeverTwoManagers, fastEnv, managers, presentUsers } from '../support/faults.js';

jest.setTimeout(60_000);

const T = FAST;
/** Presence judges gateways every GATEWAY_TTL_MS / 4 (250..1000 ms). */
const TICK_MS = Math.max(250, Math.min(1000, T.GATEWAY_TTL_MS / 4));

/**
 * A gateway loses NATS while presence does not (its own link to NATS goes through a cable the
 * test cuts). Presence takes it for dead after GATEWAY_TTL_MS and ends its sessions; the gateway
 * keeps its sockets. When the link comes back, the gateway must carry those sockets on under new
 * session ids so their users get their managers back, without the clients doing anything.
 */
describe('a gateway cut off from NATS (presence is not) for longer than GATEWAY_TTL_MS', () => {
  const stack = new Stack({ gateways: 1, env: fastEnv(T) });
  let cable: CableProxy;
  let cutGw: AppProcess;
  beforeAll(async () => {
    await stack.start();
    cable = new CableProxy(stack.backends.natsPort);
    await cable.start();
    cutGw = await stack.addApp('gateway', { NATS_URL: stack.backends.natsUrlAs('gateway', cable.port) });
  });
  afterAll(async () => {
    await stack.stop();
    await cable?.close();
  });

  it('comes back with its tabs re-keyed: users present and managers running again within GATEWAY_TTL_MS, no client reconnect', async () => {
    const [okGw] = stack.gateways;
    const cutOnly = uniqueUser('cut-only');
    const both = uniqueUser('cut-and-ok');
    const users = [cutOnly, both];
    const tab = await stack.tab(cutOnly, { gateway: cutGw });
    const bothCut = await stack.tab(both, { gateway: cutGw });
    const bothOk = await stack.tab(both, { gateway: okGw });
    for (const u of users) await stack.observer.waitFor(`stream.manager.${u}.started`);
    await until('the tab learns its session id', () => tab.sessionEvents.length === 1);
    await converged(stack, users, users, 5000);
    const firstSession = tab.sessionEvents[0].sessionId;
    const socketId = tab.socket.id;
    let disconnects = 0;
    for (const t of [tab, bothCut, bothOk]) t.socket.on('disconnect', () => disconnects++);

    cable.cut();
    const cutAt = Date.now();
    // Presence takes the gateway for dead: its sessions end, the user with no other tab stops.
    const [left] = await stack.observer.waitFor(`presence.session.${cutOnly}.left`, T.GATEWAY_TTL_MS + 2 * TICK_MS + 2000);
    expect(left.data).toMatchObject({ sessionId: firstSession, reason: 'gateway_down', gatewayId: cutGw.env.INSTANCE_ID });
    expect(left.receivedAt - cutAt).toBeGreaterThanOrEqual((T.GATEWAY_TTL_MS * 2) / 3 - 100);
    await stack.observer.waitFor(`stream.manager.${cutOnly}.stopped`, T.CLEANUP_TIMEOUT_MS + 2000);
    await until('the manager gone from the listing', async () => !(await managers(stack)).some((m) => m.userId === cutOnly));
    // The gateway never noticed: the tab is connected all along.
    expect(tab.socket.connected).toBe(true);

    cable.heal();
    const healedAt = Date.now();
    const [, again] = await stack.observer.waitFor(`stream.manager.${cutOnly}.started`, T.GATEWAY_TTL_MS + 3 * TICK_MS, 2);
    const backAfterMs = again.receivedAt - healedAt;
    await converged(stack, users, users, T.GATEWAY_TTL_MS + 3 * TICK_MS);
    expect(Date.now() - healedAt).toBeLessThanOrEqual(T.GATEWAY_TTL_MS + 3 * TICK_MS);
    expect(backAfterMs).toBeLessThanOrEqual(T.GATEWAY_TTL_MS + 3 * TICK_MS);

    // The same Socket.IO connection, told its new session id; presence lists exactly that one.
    expect(tab.socket.connected).toBe(true);
    expect(tab.socket.id).toBe(socketId);
    expect(disconnects).toBe(0);
    await until('the tab learns its new session id', () => tab.sessionEvents.length === 2);
    const newSession = tab.sessionEvents[1].sessionId;
    expect(newSession).not.toBe(firstSession);
    const present = await presentUsers(stack);
    expect(present[cutOnly].metas.map((m) => [m.sessionId, m.gatewayId])).toEqual([[newSession, cutGw.env.INSTANCE_ID]]);
    // The user with a tab on each gateway kept their manager, and has both sessions again.
    expect(present[both].metas).toHaveLength(2);
    expect(stack.observer.on(`stream.manager.${both}.stopped`)).toHaveLength(0);
    expect(stack.observer.on(`stream.manager.${both}.started`)).toHaveLength(1);
    // The tab is told its manager runs (the gateway asks presence again after the outage: the
    // manager events of the cut were lost to it).
    await until('the tab hears its manager runs on the new start', () => {
      const last = tab.managerEvents.at(-1);
      return last?.state === 'running' && last.workerId === again.data.workerId;
    });

    // The tab keeps working under its new id: a status change lands on the new session.
    expect(await tab.socket.emitWithAck('presence:status', { status: 'hidden' })).toEqual({ ok: true });
    await until('the new session hidden', async () => (await presentUsers(stack))[cutOnly]?.metas.some((m) => m.sessionId === newSession && (m as { status?: string }).status === 'hidden'));

    // Each socket was re-keyed once, though its old id was refused more than once (the
    // reconnect's re-announce, possibly the heartbeat check's reconcile too).
    expect(cutGw.grep(/ended by presence while its socket is still here/)).toHaveLength(2);
    // A stale refusal (a late duplicate join of the old id) changes nothing.
    const refusalsBefore = stack.observer.on(`presence.gateway.${cutGw.env.INSTANCE_ID}.refused`).length;
    const lateJoin = { sessionId: firstSession, userId: cutOnly, gatewayId: cutGw.env.INSTANCE_ID, page: '/dashboard', at: new Date().toISOString() };
    await stack.observer.publishDurable(`presence.session.${cutOnly}.joined`, JSON.stringify(lateJoin), `late-${firstSession}`);
    const refusals = await stack.observer.waitFor(`presence.gateway.${cutGw.env.INSTANCE_ID}.refused`, 5000, refusalsBefore + 1);
    expect(refusals.at(-1)!.data).toMatchObject({ sessionId: firstSession, reason: 'gone' });
    // Delivered after the refusal (same route from the server): the gateway has handled it by then.
    const listed = await stack.observer.request<{ sessions: Array<{ sessionId: string; userId: string }> }>(`presence.gateway.${cutGw.env.INSTANCE_ID}.sessions`);
    expect(listed.sessions.filter((s) => s.userId === cutOnly).map((s) => s.sessionId)).toEqual([newSession]);
    expect(tab.sessionEvents).toHaveLength(2);
    expect(cutGw.grep(/ended by presence while its socket is still here/)).toHaveLength(2);
    await converged(stack, users, users, 3000);
    for (const u of users) expectNeverTwoManagers(stack, u, new Map());

    // Closing the re-keyed tab ends the new session like any other.
    tab.close();
    await until('the new session\'s leave', () => stack.observer.on(`presence.session.${cutOnly}.left`).some((l) => l.data.sessionId === newSession && l.data.reason === 'closed'), 5000);
    await stack.observer.waitFor(`stream.manager.${cutOnly}.stopped`, T.CLEANUP_TIMEOUT_MS + 2000, 2);
    bothCut.close();
    bothOk.close();
  });
});
