import type { AppConfig } from '#libs/config/index.js';
import type { Redis } from 'ioredis';
import type { SharedTicker } from './shared-ticker.js';

/** What a component gets from its manager. */
export interface ComponentContext {
  readonly userId: string;
  /** The stream worker running this manager (its INSTANCE_ID). */
  readonly workerId: string;
  readonly config: AppConfig;
  readonly redis: Redis;
  /** Shared timers: one per period per process, not one per manager. */
  readonly ticker: SharedTicker;
  /** Survives restarts of the component (not of the manager): for what must outlive a crash. */
  readonly memory: Map<string, unknown>;
  /** Writes a line tagged [UserStreamManager:<userId>]; does nothing below LOG_LEVEL=info. */
  log(message: string): void;
  /** Core NATS publish (JSON, fire and forget): for live data that is fine to lose, never events. */
  publish(subject: string, payload: object): void;
  /** Reports a failure from async code; the manager restarts the component. */
  fail(error: unknown): void;
}

/**
 * A per-user component supervised by UserStreamManager. start() may throw or reject, and so may
 * anything it schedules through the context: the manager restarts the component (one_for_one).
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
