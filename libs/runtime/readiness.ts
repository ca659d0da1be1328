import { Inject, Injectable, OnApplicationShutdown, Optional } from '@nestjs/common';
import { REDIS, type RedisClient } from '#libs/redis/redis.js';
import { BUCKETS, redisKeys } from '#libs/redis/keys.js';
import { RedisWriteProbe } from '#libs/redis/write-probe.js';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { healthReport, type CheckResult } from '#libs/observability/health.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { StreamWriteProbe } from '#libs/nats/stream-probe.js';
import { APP_NAME } from './core.module.js';

/**
 * What /health reports: named checks (NATS always, and whether the event stream has a leader to
 * take writes; Redis where used, judged by whether a write succeeds, not by the connection alone)
 * and readiness.
 */
@Injectable()
export class Readiness implements OnApplicationShutdown {
  private ready = false;
  private readonly checks = new Map<string, () => CheckResult>();
  private readonly probe?: RedisWriteProbe;
  private readonly streamProbe: StreamWriteProbe;

  constructor(
    @Inject(APP_NAME) private readonly app: string,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    nats: NatsService,
    @Optional() @Inject(REDIS) redis?: RedisClient,
  ) {
    this.checks.set('nats', () => nats.connected);
    const streamProbe = new StreamWriteProbe(nats.nc, app !== 'stream-workers').start();
    this.streamProbe = streamProbe;
    this.checks.set('events', () => streamProbe.problem() ?? true);
    if (redis) {
      const probe = new RedisWriteProbe(redis, BUCKETS.map((b) => redisKeys(config.redisPrefix).probe(b, app, config.instanceId))).start();
      this.probe = probe;
      this.checks.set('redis', () => probe.problem() ?? true);
    }
  }

  register(name: string, check: () => CheckResult) {
    this.checks.set(name, check);
  }

  markReady() {
    this.ready = true;
  }

  markNotReady() {
    this.ready = false;
  }

  report() {
    const results = Object.fromEntries([...this.checks].map(([k, fn]) => [k, fn()]));
    return healthReport(this.app, this.config.instanceId, this.ready, results);
  }

  onApplicationShutdown() {
    this.probe?.stop();
    this.streamProbe.stop();
  }
}
