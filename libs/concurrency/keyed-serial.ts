interface Item {
  key: string;
  work: () => Promise<void>;
  done: () => void;
  ran: Promise<void>;
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
  /** Every item queued or running, for `idle`. */
  private readonly pending = new Set<Promise<void>>();

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
    let done!: () => void;
    const ran = new Promise<void>((r) => (done = r));
    const item = { key, work, done, ran };
    this.pending.add(ran);
    const waiting = this.waiting.get(key);
    if (waiting) waiting.push(item);
    else {
      this.waiting.set(key, []);
      this.ready.push(item);
      queueMicrotask(() => this.pump());
    }
    return ran;
  }

  /** Resolves once everything queued before the call has run (work queued later is not waited for). */
  async idle(): Promise<void> {
    await Promise.all([...this.pending]);
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
      try {
        this.onError(item.key, err);
      } catch {
        // A report that throws must not leave the key stuck.
      }
    }
    this.running--;
    this.pending.delete(item.ran);
    item.done();
    const waiting = this.waiting.get(item.key)!;
    const next = waiting.shift();
    if (next) this.ready.push(next);
    else this.waiting.delete(item.key);
    this.pump();
  }
}
