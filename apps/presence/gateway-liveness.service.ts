import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { REDIS } from '#libs/redis/index.js';
import {
  GatewayHeartbeat,
  InternalSubjects,
  SessionSubjects,
  nowIso,
  type SessionLeft,
} from '#libs/contracts/index.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { PresenceStateRepository } from './state/presence-state.repository.js';

/**
 * Gateways heartbeat; a gateway silent for GATEWAY_TTL_MS is dead and its sessions end with
 * reason `gateway_down` (published as ordinary leaves, so they take the same durable path).
 * When Redis comes back empty, every gateway is asked to announce its sessions again.
 */
@Injectable()
export class GatewayLivenessService implements OnApplicationBootstrap {
  private readonly logger = new Logger('GatewayLiveness');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly nats: NatsService,
    private readonly state: PresenceStateRepository,
  ) {}

  onApplicationBootstrap() {
    this.nats.subscribe(InternalSubjects.anyGatewayHeartbeat, GatewayHeartbeat, (hb) =>
      this.redis.zadd(this.state.keys.gateways, Date.now(), hb.gatewayId),
    );
    // After a NATS outage gateways may have missed our state: ask them to re-announce.
    this.nats.onReconnect(() => this.nats.publish(InternalSubjects.gatewayResync, { at: nowIso() }));
  }

  /** Redis lost its data (restart without persistence): rebuild from the gateways. */
  async checkDataLoss() {
    const created = await this.redis.set(this.state.keys.marker, nowIso(), 'NX');
    if (created === 'OK') {
      this.logger.warn('presence state is empty (first start or Redis lost its data): asking gateways to resync');
      this.nats.publish(InternalSubjects.gatewayResync, { at: nowIso() });
    }
  }

  async expireDeadGateways() {
    const deadline = Date.now() - this.config.gatewayTtlMs;
    const dead = await this.redis.zrangebyscore(this.state.keys.gateways, '-inf', deadline);
    for (const gatewayId of dead) {
      const n = await this.state.gatewaySessions(gatewayId).then((s) => s.length);
      this.logger.warn(`gateway ${gatewayId} silent for ${this.config.gatewayTtlMs} ms: ending its ${n} session(s)`);
      await this.endGatewaySessions(gatewayId);
    }
  }

  /** True when the gateway answers for itself: it holds its sessions, nobody else may end them. */
  async gatewayAnswers(gatewayId: string, timeoutMs = 1000): Promise<boolean> {
    try {
      await this.nats.nc.request(InternalSubjects.gatewaySessions(gatewayId), '', { timeout: timeoutMs });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Ends every session the state says a gateway holds, with reason `gateway_down`, published as
   * ordinary leaves so they take the same durable path. Returns the sessions ended.
   */
  async endGatewaySessions(gatewayId: string): Promise<Array<{ userId: string; sessionId: string }>> {
    const sessions = await this.state.gatewaySessions(gatewayId);
    const at = nowIso();
    await Promise.all(
      sessions.map(({ userId, sessionId }) => {
        const left: SessionLeft = { sessionId, userId, gatewayId, reason: 'gateway_down', at };
        return this.nats.publishDurable(SessionSubjects.left(userId), left, `${sessionId}-left`);
      }),
    );
    // Only forget the gateway once its leaves are stored; a crash before this repeats them.
    await this.redis.zrem(this.state.keys.gateways, gatewayId);
    return sessions;
  }
}
