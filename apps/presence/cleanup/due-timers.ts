/**
 * The in-process timers of the cleanups this replica watches, by job id. An entry lasts from its
 * arming until its run has settled, so that adoption does not take a cleanup being run here for a
 * lost one. Whether a firing may run its cleanup (never before its time) is for Cleanups to decide.
 */
export class DueTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  /** Calls `run` at `at` (ms since the epoch), replacing any timer of the same id. */
  arm(id: string, at: number, run: () => Promise<unknown>): void {
    this.disarm(id);
    const timer = setTimeout(() => {
      // A run that arms its id again (or a cancel meanwhile) has replaced this entry: leave that one be.
      void run().finally(() => this.timers.get(id) === timer && this.timers.delete(id));
    }, Math.max(0, at - Date.now()));
    // A pending cleanup must not keep a stopping process alive: its BullMQ job covers it.
    timer.unref();
    this.timers.set(id, timer);
  }

  disarm(id: string): void {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
  }

  /** Armed, or fired and still running. */
  has(id: string): boolean {
    return this.timers.has(id);
  }

  clear(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
