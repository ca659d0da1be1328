interface Item {
  key: string;
  work: () => Promise<void>;
  done: () => void;
}

/**
 * Runs work in order per key, different keys in parallel up to `concurrency`, oldest first: one
 * user's events apply one after the other, and an event waits only for its own user's earlier ones
 * and for a free slot. It replaced lanes hashed by user, where an event also waited behind every
 * other user that hashed to its lane. The bound matters: with the CPU saturated (a mass leave),
 * running every pulled event at once only shares the CPU among all of them, and each takes as long
 * as the slowest.
 */
export class KeyedSerialQueue {
  /** Keys with an item running, each with its items that wait for it, in order. */
  private readonly busy = new Map<string, Item[]>();
  /** Items free to run (no earlier item of their key is queued or running), oldest first. */
  private ready: Item[] = [];
  private readyHead = 0;
  private running = 0;
  private idle: Array<() => void> = [];

  constructor(
    private readonly concurrency: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Keys with work queued or running. */
  get size(): number {
    return this.busy.size;
  }

  /** Runs `work` after everything queued before it under `key`; resolves when it ran, never rejects. */
  push(key: string, work: () => Promise<void>): Promise<void> {
    return new Promise<void>((done) => {
      const item = { key, work, done };
      const waiting = this.busy.get(key);
      if (waiting) {
        waiting.push(item);
        return;
      }
      this.busy.set(key, []);
      this.ready.push(item);
      // A microtask later: the caller's loop (a pull of 2,000) is not run inside.
      queueMicrotask(() => this.pump());
    });
  }

  /** Resolves once everything queued so far has run. */
  drain(): Promise<void> {
    if (this.busy.size === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  private pump() {
    while (this.running < this.concurrency && this.readyHead < this.ready.length) {
      const item = this.ready[this.readyHead++];
      this.running++;
      void this.run(item);
    }
    // Drop what has been taken once it is most of the array, so the array does not grow for good.
    if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.readyHead);
      this.readyHead = 0;
    }
  }

  private async run(item: Item) {
    try {
      await item.work();
    } catch (err) {
      this.onError(err);
    }
    this.running--;
    item.done();
    const waiting = this.busy.get(item.key)!;
    const next = waiting.shift();
    if (next) this.ready.push(next);
    else this.busy.delete(item.key);
    if (this.busy.size === 0) for (const r of this.idle.splice(0)) r();
    this.pump();
  }
}
