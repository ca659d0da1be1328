import { describe, expect, it } from '@jest/globals';
import { leaseTimings } from '#libs/config/timings.js';

describe('leaseTimings', () => {
  it.each([1500, 2000, 3000, 15000, 60000])('a dead worker\'s users are taken within WORKER_TTL_MS=%i', (ttl) => {
    const t = leaseTimings(ttl);
    // The lease lapses at most leaseMs after the last renewal, a peer's reconcile runs within reconcileEveryMs.
    expect(t.leaseMs + t.reconcileEveryMs).toBeLessThanOrEqual(ttl);
    // Renewed three times per lease: one late renewal never loses it.
    expect(t.renewEveryMs * 3).toBeLessThanOrEqual(t.leaseMs);
    expect(t.reconcileEveryMs).toBeLessThanOrEqual(1000);
  });

  it.each([
    [1500, 250, 500],
    [3000, 500, 1000],
    [15000, 1000, 5000],
    [60000, 1000, 5000],
  ])('WORKER_TTL_MS=%i: the reconcile runs every %i ms, its sweeps every %i ms unless a worker is quiet', (ttl, reconcile, sweep) => {
    const t = leaseTimings(ttl);
    expect([t.reconcileEveryMs, t.sweepEveryMs]).toEqual([reconcile, sweep]);
  });

  it.each([1500, 2000, 3000, 15000, 60000])('WORKER_TTL_MS=%i: a dead worker counts as quiet before its leases lapse', (ttl) => {
    const t = leaseTimings(ttl);
    // Quiet from quietAfterMs after its last renewal; its leases lapse leaseMs after it. From then
    // on every reconcile looks, so its users are taken within leaseMs + reconcileEveryMs.
    expect(t.quietAfterMs).toBeLessThan(t.leaseMs);
    expect(t.quietAfterMs).toBeGreaterThan(t.renewEveryMs);
  });
});
