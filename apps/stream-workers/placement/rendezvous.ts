/**
 * Rendezvous (highest random weight) hashing: every worker computes, for a user, the same order
 * of the live workers without asking anyone, and the first is the user's home. When a worker
 * joins or leaves, only the users whose first choice it is (or was) change home.
 */

/** 32-bit FNV-1a of the worker id, then of the user id, finished with a murmur3 mix. */
export function weight(workerId: string, userId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < workerId.length; i++) h = Math.imul(h ^ workerId.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ 0x2f, 0x01000193);
  for (let i = 0; i < userId.length; i++) h = Math.imul(h ^ userId.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The user's home among `workers` (ties, vanishingly rare, go to the smaller id); undefined for none. */
export function home(userId: string, workers: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const w of workers) {
    const x = weight(w, userId);
    if (x > bestWeight || (x === bestWeight && best !== undefined && w < best)) {
      best = w;
      bestWeight = x;
    }
  }
  return best;
}
