import { DynamicModule, Global, Logger, Module } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { NATS_CONNECTION, NatsService } from '#libs/nats/nats.service.js';
import { connectNats, redactUrl } from '#libs/nats/connection.js';
import { roleInbox } from '#libs/nats/permissions.js';
import { Metrics } from '#libs/observability/metrics.js';
import { createRedis, REDIS } from '#libs/redis/redis.js';
import { ensureStreams } from '#libs/nats/streams.js';
import { jetstreamManager } from '@nats-io/jetstream';

export const APP_NAME = Symbol('APP_NAME');

/** Waits for NATS at start (compose may start us first), with one clear line per attempt. */
async function connectWithRetry(config: AppConfig, app: string): Promise<NatsConnection> {
  const logger = new Logger('Nats');
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const nc = await connectNats(config.natsUrl, `${app}:${config.instanceId}`, 3000, config.natsCreds, roleInbox(app));
      logger.log(`connected to ${redactUrl(config.natsUrl)} as ${app}:${config.instanceId}`);
      return nc;
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(`cannot reach NATS at ${redactUrl(config.natsUrl)} (${(err as Error).message}); start it with: docker compose up -d nats`, { cause: err });
      }
      logger.warn(`NATS at ${redactUrl(config.natsUrl)} not reachable yet (${(err as Error).message}); retrying`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/**
 * Creates or reconciles the streams, retrying for a while: on a cluster an app may start while
 * JetStream elects a leader (a node just died or restarted) and its API answers nothing for
 * seconds; that is a wait, not a reason to exit.
 */
async function ensureStreamsWithRetry(nc: NatsConnection, config: AppConfig): Promise<void> {
  const logger = new Logger('Nats');
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5000 });
      await ensureStreams(jsm, config.eventsMaxAgeMs, config.eventsReplicas, { maxBytes: config.eventsMaxBytes, maxMsgsPerSubject: config.eventsMaxMsgsPerSubject });
      return;
    } catch (err) {
      // Not a wait: a single server cannot hold replicas, whatever time it is given.
      if (/replicas > 1 not supported/i.test(String(err))) {
        throw new Error(`EVENTS_REPLICAS=${config.eventsReplicas} needs a NATS cluster of at least that many JetStream servers: ${(err as Error).message}`, { cause: err });
      }
      if (Date.now() > deadline) throw err;
      logger.warn(`JetStream not ready to create or update the event stream (${(err as Error).message}); retrying`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Config, NATS, metrics and (optionally) Redis for one app. */
@Global()
@Module({})
export class CoreModule {
  /**
   * `manageStreams`: this app creates and reconciles the event stream and presence's consumer.
   * Presence only: the other apps' NATS users may not (least privilege, libs/nats/permissions.ts),
   * and a gateway's durable publishes simply wait until presence has made the stream.
   */
  static forApp(app: string, config: AppConfig, opts: { redis?: boolean; manageStreams?: boolean } = {}): DynamicModule {
    const providers: DynamicModule['providers'] = [
      { provide: APP_NAME, useValue: app },
      { provide: APP_CONFIG, useValue: config },
      Metrics,
      {
        provide: NATS_CONNECTION,
        useFactory: async () => {
          const nc = await connectWithRetry(config, app);
          if (opts.manageStreams) await ensureStreamsWithRetry(nc, config);
          return nc;
        },
      },
      NatsService,
    ];
    const exports: DynamicModule['exports'] = [APP_NAME, APP_CONFIG, Metrics, NATS_CONNECTION, NatsService];
    if (opts.redis) {
      // Commands issued in one turn of the event loop go out as one write: a burst of leaves (or of
      // manager stops) is thousands of small scripts, and a write per command was 15 to 22 % of
      // presence's CPU in profiles of one. Nothing here blocks (BullMQ's blocking reads have their own connection).
      providers.push({ provide: REDIS, useFactory: () => createRedis(config.redisUrl, `${app}:${config.instanceId}`, { enableAutoPipelining: true }) });
      exports.push(REDIS);
    }
    return { module: CoreModule, providers, exports };
  }
}
