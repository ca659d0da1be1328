import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Service } from '@nats-io/services';
import { APP_CONFIG, type AppConfig } from '#libs/config/index.js';
import { QuerySubjects, UserQuery, parseMessage } from '#libs/contracts/index.js';
import { NatsService } from '#libs/nats/nats.service.js';
import { BadRequest, registerService } from '#libs/nats/service-registry.js';
import { PresenceStateRepository } from './state/presence-state.repository.js';

/** The `presence` service of the NATS services API: presence.query.{users,user,stats}. */
@Injectable()
export class PresenceQueryService implements OnApplicationBootstrap, OnApplicationShutdown {
  private service?: Service;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly nats: NatsService,
    private readonly state: PresenceStateRepository,
  ) {}

  async onApplicationBootstrap() {
    this.service = await registerService(this.nats.nc, {
      name: 'presence',
      version: '1.0.0',
      description: 'Dashboard presence: sessions per user, grace periods, cleanups',
      instanceId: this.config.instanceId,
      endpoints: [
        { name: 'users', subject: QuerySubjects.users, handler: async () => ({ users: await this.state.all() }) },
        {
          name: 'user',
          subject: QuerySubjects.user,
          handler: async (body) => {
            const q = parseMessage(UserQuery, body || '{}');
            if (!q.ok) throw new BadRequest(`expected {"userId": "<id>"}: ${q.error}`);
            return this.state.user(q.value.userId);
          },
        },
        { name: 'stats', subject: QuerySubjects.stats, handler: () => this.state.stats() },
      ],
    });
  }

  async onApplicationShutdown() {
    await this.service?.stop().catch(() => undefined);
  }
}
