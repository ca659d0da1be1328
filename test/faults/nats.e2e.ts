import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Stack, readStream, uniqueUser } from '../support/harness.js';
import { AUDIT_STREAM } from '../../libs/nats/streams.js';
import { FAST, converged, convergenceBound, expectNeverTwoManagers, expectNoDuplicateManagers, fastEnv } from '../support/faults.js';

jest.setTimeout(60_000);

const T = FAST;

describe('NATS restarts', () => {
  const stack = new Stack({ workers: 2, env: fastEnv(T) });
  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it('every app reconnects by itself and converges; nothing crashes; joins and leaves across the outage count', async () => {
    const stays = uniqueUser('stays');
    const leavesDuring = uniqueUser('leaves-during');
    const joinsDuring = uniqueUser('joins-during');
    const joinsAfter = uniqueUser('joins-after');
    const users = [stays, leavesDuring, joinsDuring, joinsAfter];
    const stayTab = await stack.tab(stays);
    const leaveTab = await stack.tab(leavesDuring);
    await stack.observer.waitFor(`stream.manager.${stays}.started`);
    await stack.observer.waitFor(`stream.manager.${leavesDuring}.started`);

    await stack.backends.stopNats('SIGTERM');
    const downAt = Date.now();
    // While NATS is away: a tab closes and another opens (the gateway keeps its sockets).
    leaveTab.close();
    const joinTab = await stack.tab(joinsDuring);
    await stack.backends.startNats();
    const upAt = Date.now();

    for (const app of stack.apps) await app.waitForLine(/reconnected to NATS/, 10_000);
    // The leave and the join sent during the outage were stored and applied once NATS was back.
    await stack.observer.waitFor(`stream.manager.${joinsDuring}.started`, convergenceBound(T));
    const [stopped] = await stack.observer.waitFor(`stream.manager.${leavesDuring}.stopped`, convergenceBound(T));
    // By the offline event, or by the worker's reconcile when that event was lost with the outage;
    // either way not before the grace that began with the leave.
    expect(['offline', 'reconcile']).toContain(stopped.data.reason);
    // The leave as stored: its live copy went out as the gateway reconnected, possibly before the
    // observer's own subscription was back (CI once saw none).
    const [left] = (await readStream(stack.observer.nc, AUDIT_STREAM)).filter((e) => e.subject === `presence.session.${leavesDuring}.left`);
    expect(Date.parse(stopped.data.at as string)).toBeGreaterThanOrEqual(Date.parse(left.data.at as string) + T.CLEANUP_TIMEOUT_MS);
    // A join after the restart still starts a manager.
    const afterTab = await stack.tab(joinsAfter);
    const [started] = await stack.observer.waitFor(`stream.manager.${joinsAfter}.started`, 5000);
    expect(started.receivedAt - upAt).toBeLessThan(convergenceBound(T));

    await converged(stack, users, [stays, joinsDuring, joinsAfter], convergenceBound(T));
    // The present user's manager never stopped, no gateway was declared dead, nothing crashed.
    expect(stack.observer.on(`stream.manager.${stays}.stopped`)).toHaveLength(0);
    expect(stack.observer.on(`presence.cleanup.${stays}.scheduled`)).toHaveLength(0);
    expect(stack.presence.grep(/silent for/)).toEqual([]);
    for (const app of stack.apps) expect([app.app, app.alive]).toEqual([app.app, true]);
    for (const u of users) expectNeverTwoManagers(stack, u, new Map());
    await expectNoDuplicateManagers(stack);
    expect(upAt - downAt).toBeLessThan(T.GATEWAY_TTL_MS);
    stayTab.close();
    joinTab.close();
    afterTab.close();
  });

  it('an outage longer than GATEWAY_TTL_MS ends no session: silence while presence itself was cut off proves nothing', async () => {
    const user = uniqueUser('long-outage');
    const tab = await stack.tab(user);
    await stack.observer.waitFor(`stream.manager.${user}.started`);
    await stack.backends.stopNats('SIGKILL');
    await new Promise((r) => setTimeout(r, T.GATEWAY_TTL_MS + 1000));
    await stack.backends.startNats();
    await converged(stack, [user], [user], convergenceBound(T));
    // Give presence the time it would need to wrongly expire the gateways, then check nothing moved.
    await new Promise((r) => setTimeout(r, T.GATEWAY_TTL_MS + 1000));
    await converged(stack, [user], [user], 2000);
    expect(stack.observer.on(`presence.session.${user}.left`)).toHaveLength(0);
    expect(stack.observer.on(`stream.manager.${user}.stopped`)).toHaveLength(0);
    expect(stack.presence.grep(/silent for/)).toEqual([]);
    for (const app of stack.apps) expect([app.app, app.alive]).toEqual([app.app, true]);
    tab.close();
  });
});
