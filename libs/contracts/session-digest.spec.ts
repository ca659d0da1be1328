import { describe, expect, it } from '@jest/globals';
import { sessionDigest, sessionIdHash, storedDigest, xorDigest } from './session-digest.js';

/**
 * Values computed in Redis 7 by SESSION_DIGEST_LUA (EVAL, signed as Lua's bit library answers),
 * so the gateway's digest and the state's cannot drift apart; test/state-scripts.e2e.ts checks the
 * same against the real scripts.
 */
const LUA = [
  ['abc', -1449574858],
  ['00000000-0000-4000-8000-000000000001', 849265908],
  ['s-é', -2121978157],
  ['2f1c6a0e-8b7d-4c3e-9a55-0d2b8f3e7c11', 1040966240],
] as const;
const LUA_ALL = 612972145;

describe('session digest', () => {
  it('hashes an id as the Lua step does (first 32 bits of SHA-1, unsigned)', () => {
    for (const [id, lua] of LUA) expect([id, sessionIdHash(id)]).toEqual([id, lua >>> 0]);
    expect(sessionIdHash('abc')).toBe(0xa9993e36);
  });

  it('is the XOR of the ids, in any order, each once, 0 for none', () => {
    const ids = LUA.map(([id]) => id);
    expect(sessionDigest(ids)).toBe(LUA_ALL);
    expect(sessionDigest([...ids].reverse())).toBe(LUA_ALL);
    expect(sessionDigest([...ids, ids[0]])).toBe(LUA_ALL);
    expect(sessionDigest([])).toBe(0);
  });

  it('adds and removes one id at a time, and combines the digests of disjoint parts', () => {
    const [a, b, c, d] = LUA.map(([id]) => id);
    let g = 0;
    for (const id of [a, b, c]) g = xorDigest(g, sessionIdHash(id));
    g = xorDigest(g, sessionIdHash(b));
    expect(g).toBe(sessionDigest([a, c]));
    expect(xorDigest(sessionDigest([a, b]), sessionDigest([c, d]))).toBe(LUA_ALL);
  });

  it('tells a lost join plus a lost leave from no loss, which a count cannot', () => {
    const [a, b, c] = LUA.map(([id]) => id);
    expect(sessionDigest([a, b])).not.toBe(sessionDigest([a, c]));
  });

  it('reads what Redis stored: signed or missing', () => {
    expect(storedDigest(String(LUA[0][1]))).toBe(0xa9993e36);
    expect(storedDigest(null)).toBe(0);
    expect(storedDigest('849265908')).toBe(849265908);
  });
});
