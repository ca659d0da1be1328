import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { BUCKETS } from './keys.js';
import type { RedisClient } from './redis.js';
import { RedisWriteProbe } from './write-probe.js';

/** Records the keys each round writes; `refuse` makes every write fail as a demoted primary's does. */
function fakeRedis(isCluster: boolean) {
  const written: string[] = [];
  const r = {
    isCluster,
    status: 'ready',
    refuse: false,
    set: (key: string) => {
      written.push(key);
      return r.refuse ? Promise.reject(new Error("READONLY You can't write against a read only replica.")) : Promise.resolve('OK');
    },
  };
  return { redis: r as unknown as RedisClient & { refuse: boolean }, written };
}

const KEYS = BUCKETS.map((b) => `{pl:b${b}}:probe`);

describe('RedisWriteProbe', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('on one server (alone or behind Sentinel) writes one key a round: that server holds every bucket', async () => {
    const { redis, written } = fakeRedis(false);
    const probe = new RedisWriteProbe(redis, KEYS).start();
    await jest.advanceTimersByTimeAsync(0);
    expect(written).toEqual([KEYS[0]]);
    expect(probe.problem()).toBeNull();
    probe.stop();
  });

  it('on a Cluster writes every bucket\'s key, one after another: any primary refusing writes fails it', async () => {
    const { redis, written } = fakeRedis(true);
    const probe = new RedisWriteProbe(redis, KEYS).start();
    await jest.advanceTimersByTimeAsync(0);
    expect(written).toEqual(KEYS);
    expect(probe.problem()).toBeNull();
    probe.stop();
  });

  it('wants one key per bucket', () => {
    expect(() => new RedisWriteProbe(fakeRedis(true).redis, KEYS.slice(0, 3))).toThrow(/one key per bucket/);
  });

  it('writes refused: health says why once the last success is stale', async () => {
    const { redis } = fakeRedis(false);
    const probe = new RedisWriteProbe(redis, KEYS).start();
    await jest.advanceTimersByTimeAsync(0);
    redis.refuse = true;
    await jest.advanceTimersByTimeAsync(5000);
    expect(probe.problem()).toMatch(/READONLY/);
    probe.stop();
  });
});
