import type { Redis } from 'ioredis';
import { readOnlyAt } from './redis.js';

/** How often the probe writes, how long one may take, and how old the last success may be. */
const EVERY_MS = 1000;
const TIMEOUT_MS = 1500;
const FRESH_MS = 3000;

/**
 * Whether this app can write to Redis now: a connection can be up while every write fails (a
 * primary demoted to a read-only replica by a failover, a server out of memory or refusing writes).
 * A small write with a TTL, once a second; health is down when the last success is older than
 * FRESH_MS, and says why.
 */
export class RedisWriteProbe {
  private lastOkAt = 0;
  private lastError = 'not probed yet';
  private timer?: NodeJS.Timeout;
  private inFlight = false;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  start(): this {
    this.timer ??= setInterval(() => void this.probe(), EVERY_MS);
    this.timer.unref();
    void this.probe();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** null when writes work; otherwise why not. */
  problem(): string | null {
    const now = Date.now();
    if (now - this.lastOkAt <= FRESH_MS) return null;
    if (now - readOnlyAt(this.redis) <= FRESH_MS) return 'READONLY: the server is a read-only replica (demoted by a failover?); reconnecting';
    return this.redis.status === 'ready' ? this.lastError : `connection ${this.redis.status}`;
  }

  private async probe(): Promise<void> {
    if (this.inFlight) return;
    this.inFlight = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer to a write within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
      });
      await Promise.race([this.redis.set(this.key, String(Date.now()), 'PX', 10 * EVERY_MS), late]);
      this.lastOkAt = Date.now();
    } catch (err) {
      this.lastError = (err as Error).message.split('\n')[0].slice(0, 200);
    } finally {
      clearTimeout(timer);
      this.inFlight = false;
    }
  }
}
