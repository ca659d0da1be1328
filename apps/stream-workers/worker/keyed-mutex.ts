/**
 * One transition at a time per user (a start and a stop of one user's manager never interleave);
 * different users proceed in parallel. A failed transition is reported, and the next one runs.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  constructor(private readonly onError: (key: string, err: unknown) => void) {}

  run(key: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn).catch((err: unknown) => this.onError(key, err));
    this.tails.set(key, next);
    void next.then(() => {
      if (this.tails.get(key) === next) this.tails.delete(key);
    });
    return next;
  }

  /** Whether a transition of this key runs or waits. */
  busy(key: string): boolean {
    return this.tails.has(key);
  }

  /** Every transition started so far, settled. */
  async idle(): Promise<void> {
    await Promise.allSettled(this.tails.values());
  }
}
