import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Service } from '@nats-io/services';
import type { z } from 'zod';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import {
  ADMIN_ACTIONS,
  AdminEndSessionsRequest,
  AdminPurgeGatewayRequest,
  AdminStopRequest,
  QuerySubjects,
  adminSubject,
  type AdminAction,
  type AdminResult,
  UserQuery,
  parseMessage,
  type PresenceDebug,
} from '#libs/contracts/index.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { BadRequest, registerService } from '#libs/nats/service-registry.js';
import { PresenceStateRepository } from './state/presence-state.repository.js';
import { AdminService } from './admin.service.js';
import { SessionEventsBarrier } from './cleanup/session-events-barrier.js';

/** Parses a request body or answers 400 naming what was expected. */
function body<S extends z.ZodType>(schema: S, raw: string, expected: string): z.infer<S> {
  const q = parseMessage(schema, raw || '{}');
  if (!q.ok) throw new BadRequest(`expected ${expected}: ${q.error}`);
  return q.value as z.infer<S>;
}

/** The `presence` service of the NATS services API: presence.query.* and the admin actions. */
@Injectable()
export class PresenceQueryService implements OnApplicationBootstrap, OnApplicationShutdown {
  private service?: Service;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly nats: NatsService,
    private readonly state: PresenceStateRepository,
    private readonly admin: AdminService,
    private readonly barrier: SessionEventsBarrier,
  ) {}

  async onApplicationBootstrap() {
    this.service = await registerService(this.nats.nc, {
      name: 'presence',
      version: '1.0.0',
      description: 'Dashboard presence: sessions per user, grace periods, cleanups',
      instanceId: this.config.instanceId,
      // Queries are read-only: every replica answers and the asker keeps the first answer, so a
      // paused replica cannot make a query time out. An admin action runs on one replica only.
      queue: '',
      endpoints: [
        {
          name: 'users',
          subject: QuerySubjects.users,
          // Read your writes: a join stored before the request is in the answer, even with presence behind.
          handler: async () => {
            await this.barrier.storedApplied();
            return { users: await this.state.all() };
          },
        },
        {
          name: 'user',
          subject: QuerySubjects.user,
          handler: (raw) => this.state.user(body(UserQuery, raw, '{"userId": "<id>"}').userId),
        },
        { name: 'stats', subject: QuerySubjects.stats, handler: () => this.state.stats() },
        { name: 'debug', subject: QuerySubjects.debug, handler: () => this.debug() },
        // `presence.admin.<action>.<operator>`: NATS lets each operator user publish only under its
        // own name (libs/nats/permissions.ts), so the name the audit records is the one NATS authenticated.
        ...ADMIN_ACTIONS.map((action) => ({
          name: `admin_${action}`,
          subject: `${adminSubject(action)}.*`,
          queue: 'presence',
          handler: (raw: string, subject: string) => this.adminActions[action](raw, subject.slice(subject.lastIndexOf('.') + 1)),
        })),
      ],
    });
  }

  /** One handler per admin action: the type makes a new action in ADMIN_ACTIONS need its own. */
  private readonly adminActions: Record<AdminAction, (raw: string, by: string) => Promise<AdminResult>> = {
    stop: (raw, by) => this.admin.stop(body(AdminStopRequest, raw, '{"userId": "<id>"}'), by),
    purge_gateway: (raw, by) => this.admin.purgeGateway(body(AdminPurgeGatewayRequest, raw, '{"gatewayId": "<id>", "force"?: true}'), by),
    end_sessions: (raw, by) => this.admin.endSessions(body(AdminEndSessionsRequest, raw, '{"userId": "<id>", "now"?: true, "reason"?: "<text>"}'), by),
  };

  async debug(): Promise<PresenceDebug> {
    const [stats, pendingCleanups, liveness] = await Promise.all([this.state.stats(), this.state.pendingCleanups(), this.state.liveness()]);
    return { stats, pendingCleanups, ...liveness };
  }

  async onApplicationShutdown() {
    await this.service?.stop().catch(() => undefined);
  }
}
