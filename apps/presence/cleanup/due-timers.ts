/**
 * The in-process timers of the cleanups this replica watches, by job id. A timer never fires before
 * its time: Node's timers may fire a millisecond before Date.now() reaches it, and guarantee 3 says
 * never earlier, so such a timer is armed again for the rest. A cleanup counts as watched from its
 * arming until its run has settled, so that a sweep does not take a cleanup being run for a lost one.
 */
export class DueTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Set<string>();

  /** Calls `run` at `runAt` (ms since the epoch), replacing any timer of the same id. */
  arm(id: string, runAt: number, run: () => Promise<unknown>): void {
    this.disarm(id);
    const timer = setTimeout(() => {
      if (Date.now() < runAt) return this.arm(id, runAt, run);
      this.timers.delete(id);
      this.running.add(id);
      void run().finally(() => this.running.delete(id));
    }, Math.max(0, runAt - Date.now()));
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
  isWatched(id: string): boolean {
    return this.timers.has(id) || this.running.has(id);
  }

  clear(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
