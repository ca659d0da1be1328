import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Redis } from 'ioredis';
import { createRedis } from '../../libs/redis/redis.js';
import { freePort, until } from '../support/harness.js';
import { RedisSentinelSet } from '../support/redis-sentinel.js';

jest.setTimeout(60_000);

/**
 * A Sentinel that is hung (SIGSTOP here; a stuck or stopped process alike) still has its port
 * accepted by the kernel, so asking it for the primary is neither refused nor answered. A client
 * whose REDIS_URL lists it first must give up on it and ask the next Sentinel, not wait for good.
 */
describe('a Sentinel client whose first Sentinel accepts connections but never answers', () => {
  const set = new RedisSentinelSet(freePort);
  let client: Redis | undefined;
  beforeAll(() => set.start());
  afterAll(async () => {
    client?.disconnect();
    set.resumeSentinel(0);
    await set.stop();
  });

  it('connects through the next Sentinel and answers within seconds', async () => {
    set.pauseSentinel(0);
    // The URL lists the paused Sentinel first: a fresh client asks it first.
    expect(set.url).toContain(`//127.0.0.1:${set.sentinels[0].port},`);
    client = createRedis(set.url, 'sentinel-hung') as Redis;
    client.on('error', () => undefined);
    await until('the client to be ready', () => client!.status === 'ready', 10_000);
    await client.set('sentinel-hung', 'written');
    expect(await client.get('sentinel-hung')).toBe('written');
    expect(await set.ask(set.data[0].port, (r) => r.get('sentinel-hung'))).toBe('written');
  });
});
