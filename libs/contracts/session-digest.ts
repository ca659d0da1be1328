import { createHash } from 'node:crypto';

/**
 * The digest of a set of session ids, carried by a gateway's heartbeat and kept by the state for
 * each gateway: the XOR of the first 32 bits of SHA-1 of every id, as an unsigned 32-bit integer.
 * A count alone cannot tell a lost join plus a lost leave from no loss at all; the digest can
 * (unless two differing sets collide: about one chance in 2^32). XOR needs no order and is its own
 * inverse, so a session's arrival and departure both apply the same step, one id at a time, on
 * the gateway as in a Lua script, and the digests of disjoint parts (the buckets) combine by XOR.
 * The empty set's digest is 0.
 */

/** One id's part of a digest. */
export function sessionIdHash(sessionId: string): number {
  return createHash('sha1').update(sessionId, 'utf8').digest().readUInt32BE(0);
}

/** Two digests (of disjoint sets) combined; also adds or removes one id's hash. */
export function xorDigest(a: number, b: number): number {
  return (a ^ b) >>> 0;
}

/** The digest of these ids, each counted once however often it is given. */
export function sessionDigest(sessionIds: Iterable<string>): number {
  let d = 0;
  for (const id of new Set(sessionIds)) d = xorDigest(d, sessionIdHash(id));
  return d;
}

/**
 * The same step in Redis Lua (for the scripts that keep the state's digest): `sessionDigestStep(d,
 * sessionId)` answers d with the id's hash added or removed. Lua's `bit` library works on signed
 * 32-bit numbers, so the value stored may be negative: readers normalise it (`>>> 0`).
 */
export const SESSION_DIGEST_LUA = `
local function sessionDigestStep(d, sessionId)
  return bit.bxor(tonumber(d or '0'), tonumber(string.sub(redis.sha1hex(sessionId), 1, 8), 16))
end
`;

/** A digest as Redis stored it (missing: the empty set's, 0), unsigned. */
export function storedDigest(raw: string | null | undefined): number {
  return raw ? Number(raw) >>> 0 : 0;
}
