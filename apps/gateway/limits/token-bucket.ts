/**
 * A token bucket: `burst` tokens, refilled at `ratePerSec`. Cheap enough to keep one per socket
 * and one per client address. `now` is injectable for tests.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one token; false when none is left. */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Full again: nothing to remember about this client. */
  get full(): boolean {
    this.refill();
    return this.tokens >= this.burst;
  }

  /** Milliseconds until one token is back. */
  get retryAfterMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.ratePerSec) * 1000);
  }

  private refill() {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerSec);
    this.last = t;
  }
}

/** One bucket per key (a client address); full buckets are forgotten, so memory follows the attackers. */
export class KeyedBuckets {
  private readonly buckets = new Map<string, TokenBucket>();
  private sweeps = 0;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string): { ok: boolean; retryAfterMs: number } {
    if (++this.sweeps % 1000 === 0) this.sweep();
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = new TokenBucket(this.ratePerSec, this.burst, this.now)));
    const ok = b.take();
    return { ok, retryAfterMs: ok ? 0 : b.retryAfterMs };
  }

  get size() {
    return this.buckets.size;
  }

  sweep() {
    for (const [k, b] of this.buckets) if (b.full) this.buckets.delete(k);
  }
}
