import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '#libs/config/index.js';
import { CoreModule } from '#libs/runtime/core.module.js';
import { Readiness } from '#libs/runtime/readiness.js';
import { ObservabilityController } from '#libs/runtime/observability.controller.js';
import { PresenceStateRepository } from './state/presence-state.repository.js';
import { CleanupQueueService } from './cleanup/cleanup-queue.service.js';
import { SessionEventsBarrier } from './cleanup/session-events-barrier.js';
import { Cleanups } from './cleanup/cleanups.service.js';
import { PresenceService } from './presence.service.js';
import { SessionEventsController } from './session-events.controller.js';
import { PresenceQueryService } from './presence-query.service.js';
import { GatewayLivenessService } from './gateway-liveness.service.js';
import { AdminService } from './admin.service.js';
import { PresenceLifecycleService } from './presence-lifecycle.service.js';

@Module({})
export class PresenceModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: PresenceModule,
      imports: [CoreModule.forApp('presence', config, { redis: true, manageStreams: true })],
      controllers: [ObservabilityController, SessionEventsController],
      providers: [
        Readiness,
        PresenceStateRepository,
        CleanupQueueService,
        SessionEventsBarrier,
        Cleanups,
        PresenceService,
        AdminService,
        PresenceQueryService,
        GatewayLivenessService,
        PresenceLifecycleService,
      ],
    };
  }
}
