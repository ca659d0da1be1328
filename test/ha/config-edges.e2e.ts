import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { AppProcess, Backends, freePort } from '../support/harness.js';

jest.setTimeout(60_000);

/** An app given a URL it cannot use, or replicas its NATS cannot hold, says so in one line and exits 1. */
describe('HA settings an app cannot use', () => {
  const backends = new Backends();
  beforeAll(() => backends.start());
  afterAll(() => backends.stop());

  const run = async (env: Record<string, string>, app: 'stream-workers' | 'presence' = 'stream-workers') => {
    const p = new AppProcess(app, { NATS_URL: backends.natsUrl, REDIS_URL: backends.redisUrl, ...env }, await freePort());
    const code = await new Promise<number | null>((res) => {
      void p.start(false).then(() => p.child!.once('exit', (c) => res(c)));
    });
    return { code, lines: p.lines };
  };

  it.each([
    ['a list with a bad server', { NATS_URL: 'nats://127.0.0.1:4222,http://127.0.0.1:4223' }, /^\[stream-workers\] configuration error: NATS_URL /],
    ['Sentinels without a master name', { REDIS_URL: 'redis-sentinel://127.0.0.1:26379' }, /^\[stream-workers\] configuration error: REDIS_URL .*masterName/],
    ['a Redis Cluster URL with a database path', { REDIS_URL: 'redis-cluster://127.0.0.1:7000/1' }, /^\[stream-workers\] configuration error: REDIS_URL redis-cluster:\/\/ takes no path/],
    ['EVENTS_REPLICAS past JetStream s limit', { EVENTS_REPLICAS: '7' }, /^\[stream-workers\] configuration error: EVENTS_REPLICAS /],
  ])('%s: exit 1, one line naming the variable', async (_name, env, line) => {
    const r = await run(env);
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([expect.stringMatching(line)]);
  });

  it('EVENTS_REPLICAS=3 against a single NATS server: presence (the only maker of the stream) exits 1, saying it needs a cluster', async () => {
    const r = await run({ EVENTS_REPLICAS: '3' }, 'presence');
    expect(r.code).toBe(1);
    // Nest logs the failed provider, then bootstrap its one line: the last says why.
    expect(r.lines[r.lines.length - 1]).toMatch(/^\[presence\] failed to start: EVENTS_REPLICAS=3 needs a NATS cluster/);
  });
});
