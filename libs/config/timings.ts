/**
 * Timings derived from the configuration, in one place, each with its reason. The values a
 * newcomer may tune are the environment variables (CONFIGURATION.md); these follow from them.
 */

/**
 * How WORKER_TTL_MS is spent: a dead worker's lease lapses after `leaseMs` and a peer's reconcile,
 * running every `reconcileEveryMs`, takes the user at most that much later, so the manager is
 * back within WORKER_TTL_MS. Leases are renewed three times per lease period, so one slow renewal
 * loses nothing.
 */
export function leaseTimings(workerTtlMs: number) {
  const reconcileEveryMs = Math.max(50, Math.min(1000, Math.floor(workerTtlMs / 6)));
  const leaseMs = Math.max(100, workerTtlMs - Math.ceil(reconcileEveryMs * 1.5));
  const renewEveryMs = Math.max(30, Math.floor(leaseMs / 3));
  // The reconcile's sweeps read every manager's or every active user's state. What they catch on
  // their own, a lost online or offline event (stored in JetStream, so rare), has no deadline:
  // they run this often. Every second with 10,000 users they were most of Redis's idle CPU.
  const sweepEveryMs = Math.max(reconcileEveryMs, Math.min(5000, Math.floor(workerTtlMs / 3)));
  // What has one, a dead worker's users taken within WORKER_TTL_MS, is sensed first: a worker
  // that has not heartbeaten (with its renewal) for this long is quiet, its leases lapse soon, and
  // while one is, the look for users nobody runs is made at every reconcile.
  const quietAfterMs = 2 * renewEveryMs;
  return { leaseMs, renewEveryMs, reconcileEveryMs, sweepEveryMs, quietAfterMs };
}

/**
 * How often presence checks gateways' heartbeats, the dataset marker and overdue cleanups: four
 * times per GATEWAY_TTL_MS, so a dead gateway is noticed well within its TTL, but not more than
 * every 250 ms (each check reads Redis) nor less than every second (a lost dataset is noticed
 * within a second).
 */
export function presenceCheckEveryMs(gatewayTtlMs: number): number {
  return Math.max(250, Math.min(1000, Math.floor(gatewayTtlMs / 4)));
}
