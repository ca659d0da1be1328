import type { RedisClient } from '#libs/redis/redis.js';
import type { AppConfig } from '#libs/config/index.js';
import type { Emit, EventKind, EventPayload } from '#libs/contracts/index.js';
import type { ComponentContext, ComponentTicker } from './component.js';
import { runInScope, type ComponentScope } from './component-scope.js';
import type { SharedTicker, Tick } from './shared-ticker.js';

/** What the worker gives every manager: shared by all of them, so nothing here is per user. */
export interface ManagerEnvironment {
  readonly workerId: string;
  readonly config: AppConfig;
  readonly redis: RedisClient;
  readonly ticker: SharedTicker;
  log(userId: string): (message: string) => void;
  emit: Emit;
}

/**
 * The lease a manager runs under. `valid()` is false once the worker cannot be sure it still holds
 * it (no renewal confirmed within the lease's length, by this process's clock): a worker that was
 * paused past its lease must not tick beside the worker that took the user over. Its periodic work
 * then waits; `doubt()` asks for a renewal now, which either confirms the lease or stops the manager.
 */
export interface LeaseHold {
  readonly generation: number;
  valid(): boolean;
  doubt(): void;
}

/** Shared by the contexts of one component across its restarts. */
export interface ChildCell {
  memory?: Map<string, unknown>;
}

const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as PromiseLike<unknown> | null)?.then === 'function';

/**
 * One component instance's context. Every callback it hands out runs in the component's scope and
 * inside its catch, and is cancelled when the instance is disposed (stopped or crashed), so a
 * replaced instance can neither tick on nor crash its successor.
 */
export class ChildContext implements ComponentContext {
  readonly workerId: string;
  readonly config: AppConfig;
  readonly redis: RedisClient;
  readonly log: (message: string) => void;
  readonly ticker: ComponentTicker;
  private readonly cancels = new Set<() => void>();
  private disposed = false;

  constructor(
    readonly userId: string,
    private readonly env: ManagerEnvironment,
    private readonly lease: LeaseHold,
    private readonly cell: ChildCell,
    private readonly scope: ComponentScope,
  ) {
    this.workerId = env.workerId;
    this.config = env.config;
    this.redis = env.redis;
    this.log = env.log(userId);
    this.ticker = { every: (periodMs, fn) => this.every(periodMs, fn) };
  }

  get generation(): number {
    return this.lease.generation;
  }

  get memory(): Map<string, unknown> {
    return (this.cell.memory ??= new Map());
  }

  emit<K extends EventKind>(kind: K, payload: EventPayload<K>): void {
    this.env.emit(kind, payload);
  }

  fail(error: unknown): void {
    if (!this.disposed) this.scope.crash(error);
  }

  setTimeout(fn: () => unknown, ms: number): () => void {
    const timer = runInScope(this.scope, () =>
      setTimeout(() => {
        this.cancels.delete(cancel);
        this.guarded(fn);
      }, ms),
    );
    const cancel = () => clearTimeout(timer);
    return this.own(cancel);
  }

  setInterval(fn: () => unknown, ms: number): () => void {
    const timer = runInScope(this.scope, () => setInterval(() => this.periodic(fn), ms));
    return this.own(() => clearInterval(timer));
  }

  spawn(task: () => Promise<unknown>): void {
    this.guarded(task);
  }

  /** Cancels everything this instance scheduled; later callbacks and failures are ignored. */
  dispose(): void {
    this.disposed = true;
    for (const cancel of this.cancels) cancel();
    this.cancels.clear();
  }

  private every(periodMs: number, fn: (tick: Tick) => unknown): () => void {
    return this.own(this.env.ticker.every(periodMs, (tick) => this.periodic(fn, tick)));
  }

  /** Periodic work only while the lease is known to be ours (see LeaseHold). */
  private periodic<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): void {
    if (this.disposed) return;
    if (!this.lease.valid()) return this.lease.doubt();
    this.guarded(fn, ...args);
  }

  private guarded<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): void {
    if (this.disposed) return;
    runInScope(this.scope, () => {
      try {
        const result = fn(...args);
        if (isThenable(result)) result.then(undefined, (err: unknown) => this.fail(err));
      } catch (err) {
        this.fail(err);
      }
    });
  }

  private own(cancel: () => void): () => void {
    if (this.disposed) {
      cancel();
      return () => undefined;
    }
    this.cancels.add(cancel);
    return () => {
      this.cancels.delete(cancel);
      cancel();
    };
  }
}
