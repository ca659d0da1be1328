/**
 * A worker's periodic jobs. A job still in flight when its next turn comes is skipped, not
 * stacked: a slow Redis must not pile up renewals. Nothing runs while `canRun` says no (shutting
 * down, or Redis not connected: each job would only queue commands behind the reconnect).
 */
export class PeriodicJobs {
  private readonly inFlight = new Set<string>();
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly canRun: () => boolean,
    private readonly onError: (name: string, err: unknown) => void,
  ) {}

  every(name: string, periodMs: number, fn: () => Promise<unknown>): void {
    this.timers.push(setInterval(() => void this.now(name, fn), periodMs));
  }

  /** Runs the job now, unless it is in flight already or may not run. */
  async now(name: string, fn: () => Promise<unknown>): Promise<void> {
    if (this.inFlight.has(name) || !this.canRun()) return;
    this.inFlight.add(name);
    try {
      await fn();
    } catch (err) {
      this.onError(name, err);
    } finally {
      this.inFlight.delete(name);
    }
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
  }
}
