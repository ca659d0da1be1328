import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import type { AppConfig } from '#libs/config/index.js';
import { printableMessage } from './printable.js';

const ORDER: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/**
 * JSON lines whose message still reads `[Context] text`: the contract's
 * `[UserStreamManager:<userId>] Console log #<n>` must be findable in production logs too.
 */
/** Every message through printableMessage: no terminal escape or stray control character from outside reaches the output. */
class SafeConsoleLogger extends ConsoleLogger {
  protected override stringifyMessage(message: unknown, logLevel: LogLevel): string {
    return printableMessage(super.stringifyMessage(message, logLevel));
  }
}

class JsonLinesLogger extends SafeConsoleLogger {
  protected override getJsonLogObject(message: unknown, options: Parameters<ConsoleLogger['getJsonLogObject']>[1]) {
    const record = super.getJsonLogObject(message, options);
    if (typeof record.message === 'string' && options.context) record.message = `[${options.context}] ${record.message}`;
    return record;
  }
}

/** Readable lines in development, JSON in production; `info` is Nest's `log`. */
export function createLogger(app: string, config: Pick<AppConfig, 'logLevel' | 'production'>): ConsoleLogger {
  const level = (config.logLevel === 'info' ? 'log' : config.logLevel) as LogLevel;
  const logLevels = ORDER.slice(0, ORDER.indexOf(level) + 1);
  const Logger = config.production ? JsonLinesLogger : SafeConsoleLogger;
  return new Logger({
    prefix: app,
    json: config.production,
    colors: !config.production && process.stdout.isTTY === true,
    logLevels,
    compact: true,
  });
}
