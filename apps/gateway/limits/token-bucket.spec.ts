import { describe, expect, it } from '@jest/globals';
import { KeyedBuckets, TokenBucket } from './token-bucket.js';

describe('TokenBucket', () => {
  it('allows a burst, then one token per 1/rate seconds', () => {
    let t = 0;
    const b = new TokenBucket(10, 3, () => t);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
    expect(b.retryAfterMs).toBe(100);
    t += 99;
    expect(b.take()).toBe(false);
    t += 1;
    expect(b.take()).toBe(true);
    expect(b.take()).toBe(false);
  });

  it('never holds more than its burst after a long quiet time', () => {
    let t = 0;
    const b = new TokenBucket(10, 2, () => t);
    t += 60_000;
    expect(b.full).toBe(true);
    expect([b.take(), b.take(), b.take()]).toEqual([true, true, false]);
  });
});

describe('KeyedBuckets', () => {
  it('limits each key on its own and forgets keys whose bucket refilled', () => {
    let t = 0;
    const k = new KeyedBuckets(1, 2, () => t);
    expect([k.take('a').ok, k.take('a').ok, k.take('a').ok]).toEqual([true, true, false]);
    expect(k.take('a').retryAfterMs).toBe(1000);
    expect(k.take('b').ok).toBe(true);
    expect(k.size).toBe(2);
    t += 5000;
    k.sweep();
    expect(k.size).toBe(0);
    expect(k.take('a').ok).toBe(true);
  });
});
