import { Logger } from '@nestjs/common';
import type { RedisClient } from '#libs/redis/redis.js';
import type { AppConfig } from '#libs/config/index.js';
import type { NatsService } from '#libs/nats/nats.service.js';
import type { Metrics } from '#libs/observability/metrics.js';
import type { ManagerEnvironment } from '../manager/child-context.js';
import type { SharedTicker } from '../manager/shared-ticker.js';
import type { ManagerHooks } from '../manager/user-stream-manager.js';

export function errorMessage(err: unknown) {
  return err instanceof Error ? err.message : String(err);
}

/**
 * What a worker gives each of its managers (shared by all of them), and how their crashes are
 * reported: one tagged logger per running manager, dropped by `forget` when it stops, or every
 * user ever seen would stay.
 */
export function managerEnvironment(o: {
  workerId: string;
  config: AppConfig;
  redis: RedisClient;
  ticker: SharedTicker;
  nats: Pick<NatsService, 'emit'>;
  metrics: Metrics;
}): { env: ManagerEnvironment; hooks: ManagerHooks; forget: (userId: string) => void } {
  const loggers = new Map<string, Logger>();
  const loggerFor = (userId: string) => {
    let l = loggers.get(userId);
    if (!l) {
      l = new Logger(`UserStreamManager:${userId}`);
      loggers.set(userId, l);
    }
    return l;
  };
  const quiet = () => undefined;
  const env: ManagerEnvironment = {
    workerId: o.workerId,
    config: o.config,
    redis: o.redis,
    ticker: o.ticker,
    // Asked at each start, after bootstrap has set the level. Thousands of managers tick every
    // second: below info, a trip through Nest's logger only to drop each line is a visible share
    // of a tick's cost.
    log: (userId) => (Logger.isLevelEnabled('log') ? (m: string) => loggerFor(userId).log(m) : quiet),
    emit: (kind, payload) => o.nats.emit(kind, payload),
  };
  const hooks: ManagerHooks = {
    onComponentRestart: (userId, component, err) => {
      o.metrics.componentRestarts.inc({ component });
      loggerFor(userId).warn(`${component} crashed, restarting it: ${errorMessage(err)}`);
    },
    onManagerRestart: (userId, err) => loggerFor(userId).error(`components crash too often, restarting the manager: ${errorMessage(err)}`),
    onComponentFailed: (userId, component, err) =>
      loggerFor(userId).error(`${component} keeps crashing; left stopped until the manager restarts: ${errorMessage(err)}`),
  };
  return { env, hooks, forget: (userId) => loggers.delete(userId) };
}
