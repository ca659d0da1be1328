interface Item {
  key: string;
  work: () => Promise<void>;
  done: () => void;
}

/**
 * One operation at a time per key inside one process: work under a key runs after the previous
 * work of that key finished; different keys run in parallel, up to `concurrency` at once, the
 * oldest waiting first. Presence applies one user's events with it, a stream worker one user's
 * manager transitions (a start and a stop of one user never interleave).
 *
 * The bound is for presence: with the CPU saturated (a mass leave), running every pulled event at
 * once only shares the CPU among all of them, and each takes as long as the slowest. A worker's
 * transitions are few and mostly wait on Redis and NATS, so it leaves them unbounded.
 */
export class KeyedSerial {
  /** Keys with work running, each with its work that waits for it, in order. */
  private readonly waiting = new Map<string, Item[]>();
  /** Work free to run (nothing earlier of its key is queued or running), oldest first. */
  private ready: Item[] = [];
  private readyHead = 0;
  private running = 0;
  private idlers: Array<() => void> = [];

  /**
   * @param onError told of work that threw or rejected, with its key; the key's next work runs.
   * @param concurrency how many keys' work may run at once (unbounded by default).
   */
  constructor(
    private readonly onError: (key: string, err: unknown) => void,
    private readonly concurrency = Infinity,
  ) {}

  /** Keys with work queued or running. */
  get size(): number {
    return this.waiting.size;
  }

  /** Whether work of this key runs or waits. */
  busy(key: string): boolean {
    return this.waiting.has(key);
  }

  /**
   * Runs `work` after everything queued before it under `key`; resolves when it ran, never rejects
   * (a failure goes to `onError`). It starts a microtask later at the soonest, so a caller's loop
   * (a pull of 2,000 messages) is not run inside.
   */
  run(key: string, work: () => Promise<void>): Promise<void> {
    return new Promise<void>((done) => {
      const item = { key, work, done };
      const waiting = this.waiting.get(key);
      if (waiting) {
        waiting.push(item);
        return;
      }
      this.waiting.set(key, []);
      this.ready.push(item);
      queueMicrotask(() => this.pump());
    });
  }

  /** Resolves once no key has work queued or running (work queued meanwhile is waited for too). */
  idle(): Promise<void> {
    if (this.waiting.size === 0) return Promise.resolve();
    return new Promise((r) => this.idlers.push(r));
  }

  private pump() {
    while (this.running < this.concurrency && this.readyHead < this.ready.length) {
      const item = this.ready[this.readyHead++];
      this.running++;
      void this.execute(item);
    }
    // Drop what has been taken once it is most of the array, so the array does not grow for good.
    if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.readyHead);
      this.readyHead = 0;
    }
  }

  private async execute(item: Item) {
    try {
      await item.work();
    } catch (err) {
      this.onError(item.key, err);
    }
    this.running--;
    item.done();
    const waiting = this.waiting.get(item.key)!;
    const next = waiting.shift();
    if (next) this.ready.push(next);
    else this.waiting.delete(item.key);
    if (this.waiting.size === 0) for (const r of this.idlers.splice(0)) r();
    this.pump();
  }
}
