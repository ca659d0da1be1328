import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stack, sleep, uniqueUser } from '../support/harness.js';
import { converged, convergenceBound, expectNoDuplicateManagers, fastEnv, type FaultTimings } from '../support/faults.js';

jest.setTimeout(90_000);

const T: FaultTimings = { GATEWAY_TTL_MS: 2000, WORKER_TTL_MS: 2000, CLEANUP_TIMEOUT_MS: 1500 };

/**
 * Contract guarantee 9, for Redis away (down, then back with its data from its append-only file)
 * far longer than GATEWAY_TTL_MS: no gateway heartbeat could be recorded meanwhile, so once Redis
 * answers every gateway looks silent for the whole outage. That silence is Redis's, not the
 * gateways': their users are present and must keep their sessions, and their managers must be
 * running once it settles.
 */
describe('Redis away for several gateway TTLs, back with its data', () => {
  const dir = mkdtempSync(join(tmpdir(), 'redis-aof-'));
  const stack = new Stack({
    workers: 2,
    gateways: 2,
    env: fastEnv(T),
    backends: {
      redis: {
        args: (port) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--hz', '100', '--dir', dir],
        url: (port) => `redis://127.0.0.1:${port}`,
      },
    },
  });
  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it('the gateways are not declared dead when it comes back: present users keep their sessions and their managers', async () => {
    const [gw1, gw2] = stack.gateways;
    const users = [uniqueUser('away-a'), uniqueUser('away-b'), uniqueUser('away-c')];
    const tabs = [await stack.tab(users[0], { gateway: gw1 }), await stack.tab(users[1], { gateway: gw2 }), await stack.tab(users[2], { gateway: gw1 })];
    await converged(stack, users, users, 10_000);

    await stack.backends.stopRedis('SIGKILL');
    // A span of time is the property: several gateway TTLs without a recorded heartbeat.
    await sleep(4 * T.GATEWAY_TTL_MS);
    await stack.backends.startRedis();
    const backAt = Date.now();
    await converged(stack, users, users, convergenceBound(T));
    // A full TTL of recorded heartbeats after the return, and more: still nobody was ended.
    await sleep(Math.max(0, backAt + 2 * T.GATEWAY_TTL_MS + 1000 - Date.now()));
    for (const u of users) {
      const leaves = stack.observer.on(`presence.session.${u}.left`);
      expect(leaves.map((l) => l.data.reason)).toEqual([]);
      expect(stack.observer.on(`presence.user.${u}.offline`)).toHaveLength(0);
    }
    await converged(stack, users, users, 5000);
    await expectNoDuplicateManagers(stack);
    for (const t of tabs) t.close();
  });
});
