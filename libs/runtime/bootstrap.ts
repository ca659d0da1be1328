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
  process.on('unhandledRejection', (reason) => {
    logger.error(`unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`, 'Process');
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
