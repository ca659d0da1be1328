import { describe, expect, it } from '@jest/globals';
import { BUCKETS, REDIS_BUCKETS, bucketGroups, bucketOf, byBucket, redisKeys } from './keys.js';

/** The part of a key Redis Cluster hashes: between the first `{` and the next `}`, when not empty. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

describe('redisKeys: one slot per script on a Cluster', () => {
  const k = redisKeys('pl');

  it("a user's keys and their bucket's indexes share one hash tag", () => {
    for (const u of ['alice', 'bob', 'u-1', 'A_very-long_user-id-0123456789']) {
      const b = bucketOf(u);
      const keys = [
        k.sessions(u), k.state(u), k.sessionRecord(u, 's1'), k.block(u), k.lease(u), k.leaseGeneration(u), k.handoff(u),
        k.active(b), k.grace(b), k.online(b), k.stats(b), k.managers(b), k.gatewaySessions(b, 'gw-1'), k.gatewayDigest(b, 'gw-1'), k.marker(b), k.settling(b),
      ];
      expect(new Set(keys.map(hashTag))).toEqual(new Set([`pl:b${b}`]));
    }
  });

  it('the global keys share their own tag; BullMQ has its own; no key is untagged', () => {
    expect(new Set([k.gateways, k.gatewayBoots, k.workers, k.workerLoads].map(hashTag))).toEqual(new Set(['pl']));
    expect(hashTag(`${k.bullPrefix}:presence-cleanup:wait`)).toBe('pl:bull');
    expect(hashTag(k.probe(3, 'presence', 'i1'))).toBe('pl:b3');
  });

  it('a user id that looks like a bucket key part cannot collide with one', () => {
    expect(k.sessions('active')).not.toBe(k.active(bucketOf('active')));
    expect(k.sessionRecord('gw', 'sessions')).not.toBe(k.gatewaySessions(bucketOf('gw'), 's'));
    expect(k.sessionRecord('u', 'essions')).not.toBe(k.sessions('u'));
  });
});

describe('bucketOf', () => {
  it('is stable (FNV-1a of the id, modulo 16): a changed hash would orphan every key', () => {
    expect(REDIS_BUCKETS).toBe(16);
    // FNV-1a: alice 0x872213e7, bob 0x86c6a0d4, carol 0x67088f12, '' the offset basis 0x811c9dc5.
    expect(['alice', 'bob', 'carol', ''].map(bucketOf)).toEqual([7, 4, 2, 5]);
  });

  it('spreads users over every bucket', () => {
    const counts = new Array<number>(REDIS_BUCKETS).fill(0);
    for (let i = 0; i < 1600; i++) counts[bucketOf(`user-${i}`)]++;
    expect(BUCKETS).toEqual(counts.map((_, i) => i));
    for (const c of counts) expect(c).toBeGreaterThan(50);
  });

  it('byBucket groups by bucket and keeps the given order inside a bucket', () => {
    const users = Array.from({ length: 40 }, (_, i) => `u${i}`);
    const groups = byBucket(users, (u) => u);
    expect([...groups.values()].flat().sort()).toEqual([...users].sort());
    for (const [b, list] of groups) {
      expect(list.every((u) => bucketOf(u) === b)).toBe(true);
      expect(list).toEqual(users.filter((u) => bucketOf(u) === b));
    }
  });
});

describe('bucketGroups: the buckets one command may span', () => {
  it('on a Cluster, one bucket per group (one slot per command)', () => {
    expect(bucketGroups(true)).toEqual(BUCKETS.map((b) => [b]));
  });

  it('on one server, every bucket in one group', () => {
    expect(bucketGroups(false)).toEqual([BUCKETS]);
  });

  it('either way, every bucket once and in order (readers flatten the groups back to buckets)', () => {
    for (const cluster of [true, false]) expect(bucketGroups(cluster).flat()).toEqual(BUCKETS);
  });
});
