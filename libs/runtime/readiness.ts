import { Inject, Injectable, Optional } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS } from '#libs/redis/redis.js';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { healthReport } from '#libs/observability/health.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { APP_NAME } from './core.module.js';

/** What /health reports: named checks (NATS always, Redis where used) and readiness. */
@Injectable()
export class Readiness {
  private ready = false;
  private readonly checks = new Map<string, () => boolean>();

  constructor(
    @Inject(APP_NAME) private readonly app: string,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    nats: NatsService,
    @Optional() @Inject(REDIS) redis?: Redis,
  ) {
    this.checks.set('nats', () => nats.connected);
    if (redis) this.checks.set('redis', () => redis.status === 'ready');
  }

  register(name: string, check: () => boolean) {
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
}
