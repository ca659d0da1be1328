import type { AppConfig } from '#libs/config/index.js';
import type { Emit } from '#libs/contracts/index.js';
import type { RedisClient } from '#libs/redis/redis.js';
import type { Tick } from './shared-ticker.js';

/** Periodic work on the worker's shared timer wheels: one timer per period, not one per manager. */
export interface ComponentTicker {
  /** Calls `fn` every `periodMs` until the returned function is called or the component stops. */
  every(periodMs: number, fn: (tick: Tick) => unknown): () => void;
}

/**
 * What a component gets from its manager. Everything a component schedules goes through it: the
 * manager then owns that work, so an error thrown or rejected there is this component's crash (it
 * is restarted; nothing else is touched), and a stopped or crashed instance leaves no timer behind.
 */
export interface ComponentContext {
  readonly userId: string;
  /** The stream worker running this manager (its INSTANCE_ID). */
  readonly workerId: string;
  /**
   * The fencing token of this manager: the generation of the user's lease, larger for every new
   * holder. Pass it along with writes to shared state so a store can refuse a stale holder's.
   */
  readonly generation: number;
  readonly config: AppConfig;
  readonly redis: RedisClient;
  readonly ticker: ComponentTicker;
  /** Survives restarts of the component and graceful moves of its manager to another worker (JSON values). */
  readonly memory: Map<string, unknown>;
  /** Writes a line tagged [UserStreamManager:<userId>]; does nothing below LOG_LEVEL=info. */
  log(message: string): void;
  /** Core NATS publish of one event of the contract (fire and forget): for live data that is fine to lose. */
  emit: Emit;
  /** A one-shot timer; answers its cancel function. */
  setTimeout(fn: () => unknown, ms: number): () => void;
  /** A repeating timer of its own (prefer `ticker` when many managers do the same). */
  setInterval(fn: () => unknown, ms: number): () => void;
  /** Runs async work the component does not await: a rejection is the component's crash. */
  spawn(task: () => Promise<unknown>): void;
  /** Reports a failure; the manager restarts the component. */
  fail(error: unknown): void;
}

/**
 * A per-user component supervised by UserStreamManager. start() may throw, reject or hang, and
 * stop() too: the manager restarts the component (one_for_one) or discards it.
 */
export interface Component {
  start(ctx: ComponentContext): void | Promise<void>;
  stop(): void | Promise<void>;
  /** Shown by stream.query.managers. */
  info?(): Record<string, unknown>;
}

export interface ComponentDefinition {
  readonly name: string;
  create(): Component;
}
