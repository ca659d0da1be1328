/** How often a probe runs, how long one check may take, and how old the last success may be. */
export const PROBE_EVERY_MS = 1000;
export const PROBE_TIMEOUT_MS = 1500;
export const PROBE_FRESH_MS = 3000;

/**
 * A health check that acts instead of trusting a connection's state: `check()` runs every
 * PROBE_EVERY_MS (one at a time, never overlapping), and the probe is healthy while its last success
 * is at most PROBE_FRESH_MS old. A check that neither succeeds nor fails within PROBE_TIMEOUT_MS
 * counts as failed.
 */
export abstract class PeriodicProbe {
  protected lastOkAt = 0;
  protected lastError = 'not probed yet';
  private timer?: NodeJS.Timeout;
  private inFlight = false;

  /** Throws (or rejects) when the thing probed is not usable now. */
  protected abstract check(): Promise<void>;

  /** False skips this round (nothing to probe yet, or the link is closed). */
  protected canCheck(): boolean {
    return true;
  }

  start(): this {
    this.timer ??= setInterval(() => void this.probe(), PROBE_EVERY_MS);
    this.timer.unref();
    void this.probe();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Whether the last success is fresh. */
  protected fresh(): boolean {
    return Date.now() - this.lastOkAt <= PROBE_FRESH_MS;
  }

  private async probe(): Promise<void> {
    if (this.inFlight || !this.canCheck()) return;
    this.inFlight = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
      });
      await Promise.race([this.check(), late]);
      this.lastOkAt = Date.now();
    } catch (err) {
      this.lastError = (err as Error).message.split('\n')[0].slice(0, 200);
    } finally {
      clearTimeout(timer);
      this.inFlight = false;
    }
  }
}
