import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { jetstreamManager } from '@nats-io/jetstream';
import { Stack, freePort, sleep, uniqueUser, until, type Tab } from '../support/harness.js';
import { converged, fastEnv, health, type FaultTimings } from '../support/faults.js';
import { startRedisServer, waitForPort } from '../../scripts/services.js';
import { AUDIT_STREAM, PRESENCE_CONSUMER } from '../../libs/nats/streams.js';

jest.setTimeout(120_000);

const T: FaultTimings = { GATEWAY_TTL_MS: 3000, WORKER_TTL_MS: 3000, CLEANUP_TIMEOUT_MS: 1500 };

/**
 * Contract guarantee 9, for Redis that is up but takes no writes: a failover that demoted the
 * server the apps write to (READONLY), or one refusing writes (here NOREPLICAS, which fails every
 * write at once and so makes every session event fail and be redelivered, over and over). Health
 * says so, nothing is dropped however many deliveries it takes, a manager stopped meanwhile says
 * it stopped, and once writes are accepted again everything converges.
 */
describe('Redis that takes no writes for a while', () => {
  const stack = new Stack({ workers: 2, env: fastEnv(T) });
  let admin: Redis;
  beforeAll(async () => {
    await stack.start();
    admin = new Redis(stack.backends.redisUrl);
  });
  afterAll(async () => {
    admin?.disconnect();
    await stack.stop();
  });

  it('writes refused: health says why, events are redelivered without a cap, a stop is still said, all applied afterwards', async () => {
    const stay = uniqueUser('stay');
    const leaver = uniqueUser('leaver');
    const tabs = new Map<string, Tab>([
      [stay, await stack.tab(stay)],
      [leaver, await stack.tab(leaver)],
    ]);
    await converged(stack, [stay, leaver], [stay, leaver], 10_000);

    await admin.config('SET', 'min-replicas-to-write', '1');
    await until('presence health reports the refused writes', async () => {
      const h = await health(stack.presence);
      return h.status === 503 && /NOREPLICAS/.test(h.body.problems?.redis ?? '') ? h : null;
    }, 5000, 100);

    // Meanwhile: a user arrives, one leaves, and a worker is stopped (its managers' leases cannot be released).
    const comer = uniqueUser('comer');
    tabs.set(comer, await stack.tab(comer));
    tabs.get(leaver)!.close();
    const victim = stack.workers.find((w) => w.alive)!;
    await victim.kill('SIGTERM');
    await sleep(12_000);
    const jsm = await jetstreamManager(stack.observer.nc);
    const consumer = await jsm.consumers.info(AUDIT_STREAM, PRESENCE_CONSUMER);
    expect(consumer.config.max_deliver).toBe(-1);
    expect(consumer.num_redelivered).toBeGreaterThan(0);
    // Said although Redis refused the lease's release.
    const moved = stack.observer.seen.filter((s) => s.subject.endsWith('.stopped') && s.data.workerId === victim.env.INSTANCE_ID);
    expect(moved.every((m) => m.data.reason === 'handover')).toBe(true);

    await admin.config('SET', 'min-replicas-to-write', '0');
    await stack.addApp('stream-workers');
    await converged(stack, [stay, leaver, comer], [stay, comer], T.GATEWAY_TTL_MS + T.WORKER_TTL_MS + T.CLEANUP_TIMEOUT_MS + 5000);
    expect((await health(stack.presence)).status).toBe(200);
    expect(stack.observer.on(`presence.user.${leaver}.offline`)).toHaveLength(1);
    expect(stack.observer.on(`stream.manager.${comer}.started`).length).toBeGreaterThanOrEqual(1);
  });

  it('a failover demotes the primary the apps write to: health says READONLY, writes wait for a primary, nothing is lost', async () => {
    const replicaPort = await freePort();
    const replica: ChildProcess = startRedisServer(replicaPort);
    const other = new Redis(replicaPort, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 3 });
    try {
      expect(await waitForPort('127.0.0.1', replicaPort, 10_000)).toBe(true);
      await other.connect();
      await other.replicaof('127.0.0.1', stack.backends.redisPort);
      await until('the replica is in sync', async () => /master_link_status:up/.test(await other.info('replication')), 10_000, 100);
      const before = uniqueUser('before');
      const tab = await stack.tab(before);
      await converged(stack, [before], [before], 10_000);

      // The failover: the replica is promoted, the apps' server becomes its replica (read-only).
      await other.replicaof('NO', 'ONE');
      await admin.replicaof('127.0.0.1', replicaPort);
      await until('presence health says READONLY', async () => {
        const h = await health(stack.presence);
        return h.status === 503 && /READONLY/.test(h.body.problems?.redis ?? '') ? h : null;
      }, 10_000, 100);
      const during = uniqueUser('during');
      const duringTab = await stack.tab(during);
      tab.close();
      await sleep(3000);

      // Back: the apps' server is a primary again (the operator fixed REDIS_URL, or failed back).
      await admin.replicaof('NO', 'ONE');
      await converged(stack, [before, during], [during], T.GATEWAY_TTL_MS + T.WORKER_TTL_MS + T.CLEANUP_TIMEOUT_MS + 5000);
      expect(stack.observer.on(`presence.user.${before}.offline`)).toHaveLength(1);
      duringTab.close();
    } finally {
      other.disconnect();
      replica.kill('SIGKILL');
    }
  });
});
