import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import type { AppConfig } from '#libs/config/index.js';

const ORDER: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** Readable lines in development, JSON in production; `info` is Nest's `log`. */
export function createLogger(app: string, config: Pick<AppConfig, 'logLevel' | 'production'>): ConsoleLogger {
  const level = (config.logLevel === 'info' ? 'log' : config.logLevel) as LogLevel;
  const logLevels = ORDER.slice(0, ORDER.indexOf(level) + 1);
  return new ConsoleLogger({
    prefix: app,
    json: config.production,
    colors: !config.production && process.stdout.isTTY === true,
    logLevels,
    compact: true,
  });
}
