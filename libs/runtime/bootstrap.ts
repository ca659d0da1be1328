import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { ConfigError, loadConfig, type AppConfig } from '#libs/config/index.js';
import { createLogger } from '#libs/observability/logger.js';

export interface BootstrapOptions {
  app: string;
  module: (config: AppConfig) => DynamicModule | Type;
  port: (config: AppConfig) => number;
  /** Hook before listening: connect microservice transports, mount routers. */
  configure?: (app: INestApplication, config: AppConfig) => Promise<void> | void;
  /** Hook after listening. */
  started?: (app: INestApplication, config: AppConfig) => Promise<void> | void;
  /**
   * Claims an error that reached the process (uncaught exception, unhandled rejection): true when
   * it was handled (the stream workers make it the crash of the component whose code raised it).
   */
  claimEscapedError?: (error: unknown) => boolean;
}

/**
 * Starts one app as one process: validated config (one line and exit 1 when bad), Nest logger
 * with the app's prefix, graceful shutdown on SIGINT/SIGTERM, HTTP on its port.
 */
export async function bootstrap(opts: BootstrapOptions): Promise<INestApplication> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`[${opts.app}] configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(opts.app, config);
  const describe = (e: unknown) => (e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.on('unhandledRejection', (reason) => {
    if (opts.claimEscapedError?.(reason)) return;
    logger.error(`unhandled rejection: ${describe(reason)}`, 'Process');
  });
  // Node's default for an uncaught exception, with one line saying what it was: our own code's
  // state is unknown after it, so the process ends (and is restarted) rather than limp on.
  process.on('uncaughtException', (err) => {
    if (opts.claimEscapedError?.(err)) return;
    logger.fatal(`uncaught exception, exiting: ${describe(err)}`, 'Process');
    process.exit(1);
  });
  try {
    const app = await NestFactory.create(opts.module(config), { logger, abortOnError: false });
    app.enableShutdownHooks();
    await opts.configure?.(app, config);
    await app.startAllMicroservices();
    await app.listen(opts.port(config));
    await opts.started?.(app, config);
    logger.log(`${opts.app} ${config.instanceId} ready on port ${opts.port(config)}`, 'Bootstrap');
    return app;
  } catch (err) {
    process.stderr.write(`[${opts.app}] failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
